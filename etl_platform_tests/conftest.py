"""Shared fixtures: the real MariaDB on loopback, never mocked, never skipped."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import polars as pl
import pymysql
import pytest

if TYPE_CHECKING:
    from pathlib import Path

    import dagster as dg

from etl_platform.extract.backends import installed_backends
from etl_platform.extract.connection import MySqlEndpoint

TEST_MYSQL_URL = os.environ.get("ETL_PLATFORM_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/")
TEST_POSTGRES_URL = os.environ.get(
    "ETL_PLATFORM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL the tests talk to; unreachable is a failure, not a skip."""
    from urllib.parse import urlsplit

    import psycopg

    try:
        psycopg.connect(TEST_POSTGRES_URL, connect_timeout=5).close()
    except psycopg.Error as e:
        where = urlsplit(TEST_POSTGRES_URL)
        pytest.fail(
            f"PostgreSQL at {where.hostname}:{where.port} is not reachable ({e}); start it "
            "or set ETL_PLATFORM_TEST_POSTGRES_URL"
        )
    return TEST_POSTGRES_URL


@contextlib.contextmanager
def loopback_http(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """An HTTP server on a free loopback port for the block, answering with `handler`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def mysql_server() -> MySqlEndpoint:
    """The MariaDB server the tests talk to; unreachable is a failure, not a skip."""
    endpoint = MySqlEndpoint.from_url(TEST_MYSQL_URL)
    try:
        endpoint.connect(connect_timeout=5).close()
    except pymysql.err.Error as e:
        pytest.fail(
            f"MariaDB at {endpoint.describe()} is not reachable ({e}); start it with "
            "`start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd` "
            "or set ETL_PLATFORM_TEST_MYSQL_URL"
        )
    return endpoint


def text_bytes_held(texts: pl.Series) -> int:
    """Bytes of the text buffers `texts` points into (polars' string views, shared on export):
    what keeping these rows keeps alive, not what they hold."""
    chunks = texts.to_arrow(compat_level=pl.CompatLevel.newest())
    chunks = getattr(chunks, "chunks", [chunks])
    return sum(b.size for c in chunks for b in c.buffers()[2:] if b is not None)


def run_sql(endpoint: MySqlEndpoint, *statements: str, params: tuple = ()) -> list[tuple]:
    """Run statements on the server; returns the last one's rows (the tests' source of truth).

    `params` bind to the last statement only (which then needs `%%` for a literal `%`).
    """
    conn = endpoint.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION time_zone = '+00:00'")
            rows: list[tuple] = []
            for i, statement in enumerate(statements):
                cur.execute(statement, (params or None) if i == len(statements) - 1 else None)
                rows = list(cur.fetchall())
            return rows
    finally:
        conn.close()


@pytest.fixture(params=installed_backends())
def extract_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each extract backend installed here (CI installs them all: see test_backends.py).

    connectorx only reads the windows it can page (a table scan: EXPLAIN `ALL`) and hands the
    others to the streaming reader; the test tables are small enough for the server to use the
    cursor's index. So the extractor's EXPLAIN reports a scan, and connectorx's own reading is
    what these tests run.
    """
    if request.param == "connectorx":
        from etl_platform.extract import extractor

        real = extractor.explain
        monkeypatch.setattr(extractor, "explain", lambda *a: {**real(*a), "type": "ALL"})
    return request.param


@pytest.fixture
def scratch_db(
    mysql_server: MySqlEndpoint, request: pytest.FixtureRequest
) -> Iterator[MySqlEndpoint]:
    """A fresh database named after the test, dropped afterwards."""
    name = "etl_test_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:50]
    run_sql(mysql_server, f"DROP DATABASE IF EXISTS `{name}`", f"CREATE DATABASE `{name}`")
    yield mysql_server.with_database(name)
    run_sql(mysql_server, f"DROP DATABASE IF EXISTS `{name}`")


SEED_END = __import__("datetime").date(2024, 3, 10)
SEED_DAYS = 10
#: Per process, so concurrent test sessions (xdist workers, two checkouts) never share shards.
SEED_PREFIX = f"etl_test_shop_{os.getpid()}_"


@pytest.fixture(scope="session")
def seeded_shards(mysql_server: MySqlEndpoint) -> Iterator[list[str]]:
    """Two small demo shards on the test server, seeded once per session."""
    from etl_platform.demo.seed import seed_shards

    report = seed_shards(
        mysql_server,
        shards=2,
        orders_per_shard=400,
        days=SEED_DAYS,
        end=SEED_END,
        db_prefix=SEED_PREFIX,
        processes=1,
    )
    yield list(report.databases)
    for database in report.databases:
        run_sql(mysql_server, f"DROP DATABASE IF EXISTS `{database}`")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """S3 and Glue over real HTTP: moto in server mode on a loopback port."""
    from moto.server import ThreadedMotoServer

    from etl_platform.demo.mariadb_server import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    mp = pytest.MonkeyPatch()
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ):
        mp.setenv(name, value)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        mp.undo()


@pytest.fixture(scope="session")
def binlog_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MySqlEndpoint]:
    """A private MariaDB with the binlog as change data capture needs it (ROW, FULL image,
    FULL metadata) on a free loopback port: the shared server's binlog is off, and turning it
    on would change what every other test sees."""
    from etl_platform.demo.mariadb_server import start_server, stop_server

    base = tmp_path_factory.mktemp("binlog_server")
    server = start_server(base, binlog=True)
    yield server.endpoint
    stop_server(base)


def project_definitions(
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    sources_yaml: str,
    views: Mapping[str, dict],
) -> dg.Definitions:
    """The definitions of a project written under `root`: `sources_yaml` (its shards' URL in
    ETL_TEST_SHARD_URL: the test server), its schema snapshot read from the server, one folder
    per view of `views` (name -> attributes) and a lake of its own."""
    import yaml

    from etl_platform.definitions import build_definitions
    from etl_platform.env import Environment
    from etl_platform.extract.schema_snapshot import snapshot_schema
    from etl_platform.specs.loader import load_sources
    from etl_platform.specs.source_schema import render_schema
    from etl_platform.specs.view_loader import VIEW_COMPONENT_TYPE

    sources = root / "sources.yaml"
    sources.write_text(sources_yaml)
    monkeypatch.setenv("ETL_TEST_SHARD_URL", TEST_MYSQL_URL)
    (root / "sources.schema.yaml").write_text(render_schema(snapshot_schema(load_sources(sources))))
    for name, attributes in views.items():
        view = root / "views" / name / "defs.yaml"
        view.parent.mkdir(parents=True)
        view.write_text(yaml.safe_dump({"type": VIEW_COMPONENT_TYPE, "attributes": attributes}))
    monkeypatch.setenv("ETL_PLATFORM_SOURCES", str(sources))
    monkeypatch.setenv("ETL_PLATFORM_LAKE", str(root / "lake"))
    monkeypatch.setenv("ETL_PLATFORM_VIEWS_DIR", str(root / "views"))
    return build_definitions(Environment.TEST)
