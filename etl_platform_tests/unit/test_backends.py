"""Choosing the extract backend: `auto`, explicit names, and what CI must have installed."""

from __future__ import annotations

import os

import pytest

from etl_platform.extract import backends
from etl_platform.resources import MySqlShardsResource


def test_auto_is_the_fastest_installed_backend() -> None:
    installed = backends.installed_backends()
    assert "pymysql" in installed  # the portable fallback is always there
    assert backends.resolve_backend("auto") == installed[0]
    # connectorx reads ahead of its consumer: only by pages of a table scan (see
    # test_connectorx_reads_a_table_scan_a_page_at_a_time), which bounds it.
    assert backends.AUTO_ORDER == backends.KNOWN


def test_ci_has_every_backend_installed() -> None:
    """CI installs the extras and libmariadb-dev (.ci/run), so every backend is tested there."""
    if os.environ.get("CI") == "true":
        assert set(backends.installed_backends()) == set(backends.KNOWN)
    assert set(backends.installed_backends()) <= set(backends.KNOWN)


def test_an_unknown_backend_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown extract backend 'odbc'; valid: auto, "):
        backends.resolve_backend("odbc")


def test_explicit_names_resolve_to_themselves() -> None:
    for name in backends.installed_backends():
        assert backends.resolve_backend(name) == name
        assert callable(backends.get_batch_reader(name))


def test_the_resource_holds_the_resolved_name(monkeypatch: pytest.MonkeyPatch) -> None:
    assert MySqlShardsResource().backend == backends.resolve_backend("auto")
    assert MySqlShardsResource(backend="pymysql").backend == "pymysql"
    from etl_platform.env import Environment
    from etl_platform.resources import build_resources

    monkeypatch.delenv("ETL_PLATFORM_EXTRACT_BACKEND", raising=False)
    monkeypatch.setenv("ETL_PLATFORM_LAKE", "/tmp/unused-lake")
    shards = build_resources(Environment.TEST)["mysql_shards"]
    assert shards.backend == backends.resolve_backend("auto")
    monkeypatch.setenv("ETL_PLATFORM_EXTRACT_BACKEND", "pymysql")
    assert build_resources(Environment.TEST)["mysql_shards"].backend == "pymysql"


def test_mysqlclient_refuses_local_infile(monkeypatch) -> None:
    """A rogue server must not be able to read the worker's files (LOAD DATA LOCAL)."""
    import types

    if os.environ.get("CI"):  # CI installs every backend: a missing driver is a failure there
        from MySQLdb import _mysql
    else:
        _mysql = pytest.importorskip("MySQLdb._mysql")
    from etl_platform.extract import mysqlclient_reader

    seen: dict = {}

    def fake_connect(**kwargs: object) -> None:
        seen.update(kwargs)
        raise _mysql.OperationalError(2003, "stop here")

    monkeypatch.setattr(_mysql, "connect", fake_connect)
    reader = mysqlclient_reader.read_batches(
        mysqlclient_reader.MySqlEndpoint("127.0.0.1", 9, "u", "p", "db"),
        types.SimpleNamespace(plans=[], table="t"),  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        timezone="UTC",
        batch_rows=10,
        stats=None,  # type: ignore[arg-type]
    )
    with pytest.raises(Exception, match="stop here"):
        next(reader)
    assert seen["local_infile"] == 0
