"""What every extract backend must do beyond typing values (test_extract_types.py does that):
UTC whatever the server's zone, batches, bounded reading, errors without the password."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pymysql
import pytest

from etl_platform.demo.mariadb_server import free_port
from etl_platform.extract import backends
from etl_platform.extract.connection import MySqlEndpoint, ShardUnavailableError
from etl_platform.extract.extractor import ExtractRequest, extract_window
from etl_platform.extract.introspect import plan_table
from etl_platform.extract.query import build_window_query, cursor_bounds
from etl_platform.extract.types import ConversionStats
from etl_platform.load.lake import Lake
from etl_platform_tests.conftest import run_sql

pytestmark = pytest.mark.integration

#: URL-special characters on purpose: the connectorx URL must quote them, errors must hide them.
SECRET = "Wr0ng:p@ss/w%rd?#&="
DAY = dt.date(2024, 3, 10)


def _binary(name: str) -> str:
    found = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()), None
    )
    assert found, f"{name} not found: install mariadb-server"
    return found


@pytest.fixture(scope="module")
def plus5_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MySqlEndpoint]:
    """A private MariaDB whose own time zone is UTC+5, so a reader that forgot to put its
    session in UTC reads TIMESTAMP values and bounds 5 hours off. Private, because changing the
    shared server's global zone would change what every other test sees."""
    base = tmp_path_factory.mktemp("plus5")
    data = base / "data"
    subprocess.run(
        [
            _binary("mariadb-install-db"),
            "--no-defaults",
            f"--datadir={data}",
            "--user=root",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    server = subprocess.Popen(
        [
            _binary("mariadbd"),
            "--no-defaults",
            f"--datadir={data}",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            f"--socket={base / 'mariadbd.sock'}",
            f"--pid-file={base / 'mariadbd.pid'}",
            "--user=root",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=16M",
            "--default-time-zone=+05:00",
            "--character-set-server=utf8mb4",
            f"--log-error={base / 'mariadbd.err'}",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = MySqlEndpoint(host="127.0.0.1", port=port)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                endpoint.connect(connect_timeout=1).close()
                break
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        yield endpoint
    finally:
        server.terminate()
        server.wait(30)


def test_timestamps_are_utc_whatever_the_servers_time_zone(
    plus5_server: MySqlEndpoint, tmp_path: Path, extract_backend: str
) -> None:
    assert run_sql(plus5_server, "SELECT @@global.time_zone")[0][0] == "+05:00"
    db = plus5_server.with_database("tz")
    run_sql(
        plus5_server,
        "DROP DATABASE IF EXISTS tz",
        "CREATE DATABASE tz",
        "CREATE TABLE tz.events (id INT PRIMARY KEY, happened TIMESTAMP(6) NULL, "
        "changed_at TIMESTAMP(6) NOT NULL, KEY (changed_at))",
        # run_sql's session is UTC: these are UTC instants.
        "INSERT INTO tz.events VALUES "
        "(1, '2024-03-10 00:30:00', '2024-03-10 00:30:00'), "
        "(2, '2024-03-10 23:30:00.5', '2024-03-10 23:30:00.5'), "
        "(3, '2024-03-09 21:00:00', '2024-03-09 21:00:00'), "  # 03-10 02:00 at +05:00
        "(4, '2024-03-10 20:00:00', '2024-03-11 02:00:00')",  # 03-11 07:00 at +05:00
    )
    # A session left in the server's zone sees other values: the test can tell.
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT CAST(happened AS CHAR) FROM events WHERE id = 1")
            assert cur.fetchone()[0] == "2024-03-10 05:30:00.000000"
    finally:
        conn.close()

    request = ExtractRequest(
        shard="s0",
        table="events",
        endpoint=db,
        days=[DAY],
        cursor="changed_at",
        primary_key=["id"],
        timezone="Asia/Kolkata",  # the shard's zone is for DATETIME; TIMESTAMP ignores it
        backend=extract_backend,
    )
    result = extract_window(request, Lake(tmp_path))
    table = pq.read_table(Lake(tmp_path).raw("s0", "events").partition_dir(DAY)).sort_by("id")
    assert table.column("id").to_pylist() == [1, 2]
    assert table.column("happened").to_pylist() == [
        dt.datetime(2024, 3, 10, 0, 30, tzinfo=dt.UTC),
        dt.datetime(2024, 3, 10, 23, 30, 0, 500000, tzinfo=dt.UTC),
    ]
    assert result.rows == 2
    assert str(result.max_cursor) == "2024-03-10 23:30:00.500000+00:00"


@pytest.fixture
def many_rows(scratch_db: MySqlEndpoint) -> MySqlEndpoint:
    """30,000 rows of ~1 KB in one day: more than the socket buffers hold."""
    run_sql(
        scratch_db,
        "CREATE TABLE big (id INT PRIMARY KEY, pad LONGTEXT, updated_at DATETIME(6) NOT NULL, "
        "KEY (updated_at))",
        "INSERT INTO big SELECT seq, REPEAT('x', 1000), "
        "TIMESTAMPADD(SECOND, seq, '2024-03-10') FROM seq_1_to_30000",
    )
    return scratch_db


def _read(
    endpoint: MySqlEndpoint,
    backend: str,
    batch_rows: int,
    table: str = "big",
    access: str | None = None,
):
    conn = endpoint.connect()
    try:
        plan = plan_table(conn, table, cursor="updated_at", primary_key=["id"])
    finally:
        conn.close()
    start = dt.datetime.combine(DAY, dt.time(), tzinfo=dt.UTC)
    bounds = cursor_bounds(
        start, start + dt.timedelta(days=1), cursor_kind="datetime", timezone="UTC"
    )
    query = build_window_query(table, plan.plans, "updated_at", bounds)
    # connectorx reads what it can page; see the `extract_backend` fixture.
    query = dataclasses.replace(
        query, access=access or ("ALL" if backend == "connectorx" else None)
    )
    reader = backends.get_batch_reader(backend)
    return reader(
        endpoint,
        plan,
        query,
        timezone="UTC",
        batch_rows=batch_rows,
        stats=ConversionStats(),
        connect_timeout=5,
        read_timeout=60,
    )


def test_the_window_comes_in_batches_of_at_most_batch_rows(
    many_rows: MySqlEndpoint, extract_backend: str
) -> None:
    sizes = [b.num_rows for b in _read(many_rows, extract_backend, batch_rows=7_000)]
    assert sum(sizes) == 30_000
    assert max(sizes) <= 7_000 and len(sizes) >= 5


#: The readers that pull rows from the socket only as batches are consumed.
STREAMING = [b for b in backends.STREAMING if backends.is_installed(b)]
#: CI installs every backend (.ci/run): there a missing connectorx fails, it does not skip.
NEEDS_CONNECTORX = pytest.mark.skipif(
    not backends.is_installed("connectorx") and os.environ.get("CI") != "true",
    reason="needs the `fast` extra",
)


@pytest.mark.parametrize("backend", STREAMING)
def test_a_streaming_backend_does_not_read_ahead_of_its_consumer(
    many_rows: MySqlEndpoint, backend: str
) -> None:
    """Kill the reading connection after the first batch: a reader that pulls rows from the
    socket as batches are consumed has most of the window still to read, and fails; one that
    buffered the window in memory would not notice."""
    batches = _read(many_rows, backend, batch_rows=500)
    first = next(batches)
    assert first.num_rows == 500
    _kill_reader(many_rows)
    read = first.num_rows
    with pytest.raises(pymysql.err.OperationalError):
        for batch in batches:
            read += batch.num_rows
    assert read < 30_000


@NEEDS_CONNECTORX
def test_connectorx_reads_a_table_scan_a_page_at_a_time(
    many_rows: MySqlEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    """connectorx reads a statement ahead of its consumer without a limit, so a window the
    server scans whole is read in primary-key pages: at most a page can pile up in memory.
    The pages cover the window once, in key order, with nothing lost or read twice."""
    from etl_platform.extract import connectorx_reader

    statements: list[str] = []
    real = connectorx_reader._read_statement

    def recording(endpoint, plan, sql, **kw):
        statements.append(sql)
        yield from real(endpoint, plan, sql, **kw)

    monkeypatch.setattr(connectorx_reader, "PAGE_ROWS", 4_000)
    monkeypatch.setattr(connectorx_reader, "_read_statement", recording)
    batches = list(_read(many_rows, "connectorx", batch_rows=1_000, access="ALL"))
    ids = [i for b in batches for i in b.column("id").to_pylist()]
    assert ids == list(range(1, 30_001))
    assert max(b.num_rows for b in batches) <= 1_000
    assert len(statements) == 8  # 7 full pages of 4,000 and one of 2,000
    assert all(
        "FORCE INDEX (PRIMARY)" in s and s.endswith("ORDER BY `id` LIMIT 4000") for s in statements
    )
    assert "`id` > 4000 ORDER BY" in statements[1] and "`id` >" not in statements[0]
    # A window the cursor's index serves (a day of changes) is not paged by key: the streaming
    # reader takes it, so no connectorx statement can read ahead of the consumer.
    statements.clear()
    assert sum(b.num_rows for b in _read(many_rows, "connectorx", 1_000, access="range")) == 30_000
    assert statements == []


def _with_reader_password(monkeypatch: pytest.MonkeyPatch, backend: str, password: str) -> None:
    """The shard's planning connection logs in; the backend's own connection gets `password`."""
    real = backends.get_batch_reader(backend)

    def reader(endpoint, plan, query, **kw):
        return real(dataclasses.replace(endpoint, password=password), plan, query, **kw)

    monkeypatch.setitem(backends._REGISTRY, backend, lambda: reader)


def test_a_refused_login_is_shard_unavailable_and_never_shows_the_password(
    scratch_db: MySqlEndpoint,
    tmp_path: Path,
    extract_backend: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    run_sql(scratch_db, "CREATE TABLE t (id INT PRIMARY KEY, updated_at DATETIME)")
    _with_reader_password(monkeypatch, extract_backend, SECRET)
    request = ExtractRequest(
        shard="s3",
        table="t",
        endpoint=scratch_db,
        days=[DAY],
        cursor="updated_at",
        primary_key=["id"],
        backend=extract_backend,
        connect_timeout=2,
    )
    with pytest.raises(ShardUnavailableError) as caught:
        extract_window(request, Lake(tmp_path))
    message = str(caught.value)
    assert f"shard s3 ({scratch_db.host}:{scratch_db.port}, database {scratch_db.database})" in (
        message
    )
    assert "1045" in message and "Access denied" in message
    captured = capfd.readouterr()
    for text in (message, repr(caught.value), captured.out, captured.err):
        assert SECRET not in text
        assert SECRET.replace("%", "%25").replace("@", "%40") not in text


def test_a_down_shard_is_unavailable_from_the_planning_connection_on(tmp_path: Path) -> None:
    port = free_port()
    endpoint = MySqlEndpoint(host="127.0.0.1", port=port, password=SECRET, database="shop")
    request = ExtractRequest(
        shard="s9",
        table="t",
        endpoint=endpoint,
        days=[DAY],
        cursor="updated_at",
        primary_key=["id"],
        connect_timeout=1,
    )
    with pytest.raises(ShardUnavailableError, match=rf"shard s9 \(127.0.0.1:{port}") as caught:
        extract_window(request, Lake(tmp_path))
    assert SECRET not in str(caught.value)


@pytest.fixture
def url_password_user(scratch_db: MySqlEndpoint, extract_backend: str) -> Iterator[MySqlEndpoint]:
    """An account whose password needs URL quoting, allowed on the scratch database only."""
    user = f"etl_pw_{extract_backend}"[:32]
    host = scratch_db.host
    run_sql(
        scratch_db,
        f"DROP USER IF EXISTS '{user}'@'{host}'",
        f"CREATE USER '{user}'@'{host}' IDENTIFIED BY %s",
        params=(SECRET,),
    )
    try:
        run_sql(scratch_db, f"GRANT SELECT ON `{scratch_db.database}`.* TO '{user}'@'{host}'")
        yield dataclasses.replace(scratch_db, user=user, password=SECRET)
    finally:
        run_sql(scratch_db, f"DROP USER IF EXISTS '{user}'@'{host}'")


def test_a_password_with_url_characters_logs_in(
    scratch_db: MySqlEndpoint,
    url_password_user: MySqlEndpoint,
    tmp_path: Path,
    extract_backend: str,
) -> None:
    run_sql(
        scratch_db,
        "CREATE TABLE t (id INT PRIMARY KEY, updated_at DATETIME)",
        "INSERT INTO t VALUES (1, '2024-03-10 12:00:00')",
    )
    request = ExtractRequest(
        shard="s0",
        table="t",
        endpoint=url_password_user,
        days=[DAY],
        cursor="updated_at",
        primary_key=["id"],
        backend=extract_backend,
    )
    assert extract_window(request, Lake(tmp_path)).rows == 1


def test_the_bounds_are_checked_before_a_driver_that_cannot_bind_sees_them(
    scratch_db: MySqlEndpoint,
) -> None:
    """connectorx renders the two bounds into the SQL: anything but a bound is refused, before
    the driver is even imported."""
    from etl_platform.extract.connectorx_reader import read_batches

    run_sql(scratch_db, "CREATE TABLE t (id INT PRIMARY KEY, updated_at DATETIME)")
    conn = scratch_db.connect()
    try:
        plan = plan_table(conn, "t", cursor="updated_at", primary_key=["id"])
    finally:
        conn.close()
    evil = build_window_query("t", plan.plans, "updated_at", ("2024-03-10' OR '1'='1", "x"))
    evil = dataclasses.replace(evil, access="ALL")  # a table scan: connectorx reads it in pages
    with pytest.raises(ValueError, match="refusing to render"):
        next(
            read_batches(
                scratch_db,
                plan,
                evil,
                timezone="UTC",
                batch_rows=10,
                stats=ConversionStats(),
                connect_timeout=2,
                read_timeout=None,
            )
        )


def test_a_lost_connection_mid_read_is_shard_unavailable(
    many_rows: MySqlEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The extractor's path for a connection lost while reading: the reading connection is
    killed after the first batch, before the rest of the window is read (a streaming reader
    does not read ahead: test above), so the loss always happens mid-read. (connectorx may
    have its page read already; its errors are mapped the same way, `_driver_error`.)"""
    backend = STREAMING[0]
    real = backends.get_batch_reader(backend)

    def reader(endpoint, plan, query, **kw):
        batches = real(endpoint, plan, query, **kw)
        yield next(batches)
        _kill_reader(many_rows)
        yield from batches

    monkeypatch.setitem(backends._REGISTRY, backend, lambda: reader)
    request = ExtractRequest(
        shard="s1",
        table="big",
        endpoint=many_rows,
        days=[DAY],
        cursor="updated_at",
        primary_key=["id"],
        batch_rows=500,
        backend=backend,
    )
    with pytest.raises(ShardUnavailableError, match=r"shard s1 \(127.0.0.1:"):
        extract_window(request, Lake(tmp_path))


def _kill_reader(endpoint: MySqlEndpoint) -> None:
    ids = run_sql(
        endpoint,
        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() "
        "AND INFO LIKE 'SELECT %%FROM `big`%%WHERE%%' AND ID <> CONNECTION_ID()",
    )
    assert len(ids) == 1, ids
    run_sql(endpoint, f"KILL CONNECTION {int(ids[0][0])}")


@NEEDS_CONNECTORX
def test_a_connectorx_page_past_read_timeout_is_a_lost_connection(many_rows: MySqlEndpoint) -> None:
    """The Rust driver has no read timeout: the server limits each page's statement instead,
    and a page that runs past it fails like a read timeout (so the shard is unavailable)."""
    from etl_platform.extract.connectorx_reader import read_batches

    conn = many_rows.connect()
    try:
        plan = plan_table(conn, "big", cursor="updated_at", primary_key=["id"])
    finally:
        conn.close()
    start = dt.datetime.combine(DAY, dt.time(), tzinfo=dt.UTC)
    bounds = cursor_bounds(
        start, start + dt.timedelta(days=1), cursor_kind="datetime", timezone="UTC"
    )
    query = dataclasses.replace(
        build_window_query("big", plan.plans, "updated_at", bounds), access="ALL"
    )
    with pytest.raises(pymysql.err.OperationalError, match="read_timeout") as raised:
        for _ in read_batches(
            many_rows,
            plan,
            query,
            timezone="UTC",
            batch_rows=500,
            stats=ConversionStats(),
            connect_timeout=5,
            read_timeout=0.001,
        ):
            pass
    assert raised.value.args[0] == 2013  # CR_SERVER_LOST: ShardUnavailableError in the extractor
