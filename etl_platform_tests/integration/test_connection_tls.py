"""Connections share pymysql's default ("preferred") TLS context instead of building one each
(loading the CA store was nearly all of a local connect), and explicit TLS options still get
their own context."""

from __future__ import annotations

import ssl

import pytest

from etl_platform.extract.connection import MySqlEndpoint, _Connection

pytestmark = pytest.mark.integration


def test_connections_share_the_preferred_tls_context(mysql_server: MySqlEndpoint) -> None:
    first, second = mysql_server.connect(), mysql_server.connect()
    try:
        assert first.ctx is second.ctx
        # What pymysql itself would have built: TLS if offered, nothing verified (no CA given).
        assert first.ctx.verify_mode == ssl.CERT_NONE and not first.ctx.check_hostname
        with second.cursor() as cursor:
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)
    finally:
        first.close()
        second.close()


def test_explicit_tls_options_get_their_own_context(mysql_server: MySqlEndpoint) -> None:
    shared = mysql_server.connect()
    shared.close()
    # The options a verified-TLS connect passes (`ssl_verify_cert`, `ssl_verify_identity`):
    # built from them, not the shared context (this server has no TLS to connect with).
    connection = _Connection.__new__(_Connection)
    own = connection._create_ssl_ctx({"ca": None, "check_hostname": True, "verify_mode": True})
    assert own is not shared.ctx
    assert own.verify_mode == ssl.CERT_REQUIRED
