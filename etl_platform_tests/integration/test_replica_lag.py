"""Replica protection against a real replica: a private `mariadbd` replicating from another,
its SQL thread stopped to make it fall behind (its lag is then unknown, as the server says)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from etl_platform.definitions import build_definitions
from etl_platform.demo.mariadb_server import PrivateServer, start_server, stop_server
from etl_platform.env import Environment
from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.extract.replica_lag import (
    PRIMARY,
    PROMOTED,
    ReplicaLagError,
    check_replica,
    guard_replica,
    read_replica_status,
)
from etl_platform.runner import run_range
from etl_platform.specs.sources import ReplicaLagSettings
from etl_platform_tests.conftest import run_sql

pytestmark = pytest.mark.integration

DATABASE = "etl_test_lag"
DAY = dt.date(2024, 3, 10)


def _wait_until(what: str, done, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not within {timeout}s")
        time.sleep(0.2)


def _replicated(primary: MySqlEndpoint, replica: MySqlEndpoint) -> bool:
    """Whether the replica has applied all the primary has written so far."""
    position = run_sql(primary, "SELECT @@gtid_binlog_pos")[0][0]
    return run_sql(replica, "SELECT @@gtid_slave_pos")[0][0] == position


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrivateServer, ...]]:
    """A private primary with a table per mode, and a second private server replicating it."""
    base = tmp_path_factory.mktemp("replica_lag")
    try:
        primary = start_server(base / "primary", binlog=True)
        replica = start_server(base / "replica", binlog=False, server_id=2)
        run_sql(
            replica.endpoint,
            "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%s, MASTER_USER='root', "
            "MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos",
            params=(primary.port,),
        )
        run_sql(replica.endpoint, "START SLAVE")
        run_sql(
            primary.endpoint,
            f"CREATE DATABASE {DATABASE}",
            f"CREATE TABLE {DATABASE}.orders (id INT PRIMARY KEY, updated_at DATETIME NOT NULL,"
            " KEY (updated_at))",
            f"CREATE TABLE {DATABASE}.departments (dept_no CHAR(4) PRIMARY KEY, name TEXT)",
            f"INSERT INTO {DATABASE}.orders VALUES (1, '{DAY} 08:00:00'), (2, '{DAY} 09:00:00')",
            f"INSERT INTO {DATABASE}.departments VALUES ('d001', 'Sales')",
        )
        _wait_until("replication", lambda: _replicated(primary.endpoint, replica.endpoint))
        yield primary, replica
    finally:
        stop_server(base / "replica")
        stop_server(base / "primary")


@pytest.fixture
def sql_stopped(servers: tuple[PrivateServer, ...]) -> Iterator[None]:
    """The replica's SQL thread stopped and a write on the primary it has not applied."""
    primary, replica = servers
    run_sql(replica.endpoint, "STOP SLAVE SQL_THREAD")
    run_sql(
        primary.endpoint,
        f"INSERT INTO {DATABASE}.orders SELECT MAX(id) + 1, '{DAY} 10:00:00' FROM "
        f"{DATABASE}.orders",
    )
    try:
        yield
    finally:
        run_sql(replica.endpoint, "START SLAVE SQL_THREAD")
        _wait_until("catching up", lambda: _replicated(primary.endpoint, replica.endpoint))


def test_a_replica_in_step_and_a_primary_are_read_at_once(servers) -> None:
    primary, replica = servers
    slept: list[str] = []
    settings = ReplicaLagSettings(max_lag_seconds=0, wait_seconds=0.1, max_wait_seconds=0)
    status = guard_replica(
        replica.endpoint, settings, shard="r", table="orders", connect_timeout=5, warn=slept.append
    )
    assert (status.role, status.lag_seconds, status.io_running, status.sql_running) == (
        "replica",
        0,
        True,
        True,
    )
    assert f"0s behind its primary 127.0.0.1:{primary.port}" in status.reason
    on_primary = guard_replica(
        primary.endpoint, settings, shard="p", table="orders", connect_timeout=5, warn=slept.append
    )
    assert on_primary == PRIMARY and slept == []


def test_the_guard_waits_while_the_sql_thread_is_stopped_then_reads(servers, sql_stopped) -> None:
    _, replica = servers
    status = check_replica(replica.endpoint, shard="r", table="orders", connect_timeout=5)
    assert (status.lag_seconds, status.io_running, status.sql_running) == (None, True, False)
    assert "bytes of binlog.000001 read but not applied" in status.reason
    restart = threading.Timer(3, run_sql, (replica.endpoint, "START SLAVE SQL_THREAD"))
    warnings: list[str] = []
    infos: list[str] = []
    started = time.monotonic()
    restart.start()
    try:
        status = guard_replica(
            replica.endpoint,
            ReplicaLagSettings(max_lag_seconds=60, wait_seconds=0.5, max_wait_seconds=30),
            shard="shard_r",
            table="orders",
            connect_timeout=5,
            warn=warnings.append,
            info=infos.append,
        )
    finally:
        restart.join()
    assert time.monotonic() - started >= 2.5
    assert status.sql_running and status.lag_seconds is not None and status.lag_seconds <= 60
    assert len(warnings) >= 2
    assert all(w.startswith("shard shard_r: replica lag unknown is above") for w in warnings)
    assert "SQL thread is stopped" in warnings[0]
    assert len(infos) == 1 and "reading `orders`" in infos[0]


def test_the_guard_gives_up_after_max_wait(servers, sql_stopped) -> None:
    _, replica = servers
    started = time.monotonic()
    with pytest.raises(ReplicaLagError, match="shard shard_r: replica lag unknown is above"):
        guard_replica(
            replica.endpoint,
            ReplicaLagSettings(max_lag_seconds=60, wait_seconds=0.3, max_wait_seconds=1),
            shard="shard_r",
            table="orders",
            connect_timeout=5,
        )
    assert 0.9 <= time.monotonic() - started < 10


SHORT = ReplicaLagSettings(max_lag_seconds=60, wait_seconds=0.3, max_wait_seconds=1)


def test_a_promoted_primary_is_read_with_a_warning_and_a_read_only_one_is_waited_for(
    servers,
) -> None:
    """A failover that ran STOP REPLICA without RESET REPLICA ALL: both threads stopped and
    the server writable is a primary (read at once, with a warning to reset it); read-only,
    it is a stopped replica still."""
    primary, replica = servers
    run_sql(replica.endpoint, "STOP SLAVE")
    try:
        warnings: list[str] = []
        status = guard_replica(
            replica.endpoint,
            SHORT,
            shard="shard_r",
            table="orders",
            connect_timeout=5,
            warn=warnings.append,
        )
        assert status == PROMOTED
        assert len(warnings) == 1 and warnings[0].startswith("shard shard_r: ")
        assert "RESET REPLICA ALL" in warnings[0]
        run_sql(replica.endpoint, "SET GLOBAL read_only = 1")
        with pytest.raises(ReplicaLagError, match="shard shard_r: replica lag unknown"):
            guard_replica(
                replica.endpoint, SHORT, shard="shard_r", table="orders", connect_timeout=5
            )
    finally:
        run_sql(replica.endpoint, "SET GLOBAL read_only = 0", "START SLAVE")
        _wait_until("catching up", lambda: _replicated(primary.endpoint, replica.endpoint))


def test_a_replication_error_shows_its_number_not_the_row_it_quotes(servers) -> None:
    """A duplicate key stops the SQL thread with `Duplicate entry '<value>'`: the failure
    names errno 1062 and where to look, never the value."""
    primary, replica = servers
    run_sql(replica.endpoint, f"INSERT INTO {DATABASE}.orders VALUES (424242, '2020-01-01')")
    run_sql(primary.endpoint, f"INSERT INTO {DATABASE}.orders VALUES (424242, '2020-01-02')")
    try:
        _wait_until(
            "the SQL thread to stop",
            lambda: (
                not check_replica(
                    replica.endpoint, shard="r", table="orders", connect_timeout=5
                ).sql_running
            ),
        )
        with pytest.raises(ReplicaLagError) as e:
            guard_replica(
                replica.endpoint, SHORT, shard="shard_r", table="orders", connect_timeout=5
            )
        assert "Last_SQL_Errno 1062; see SHOW REPLICA STATUS on the shard" in str(e.value)
        assert "424242" not in str(e.value) and "Duplicate entry" not in str(e.value)
    finally:
        run_sql(replica.endpoint, f"DELETE FROM {DATABASE}.orders WHERE id = 424242")
        run_sql(replica.endpoint, "START SLAVE SQL_THREAD")
        run_sql(primary.endpoint, f"DELETE FROM {DATABASE}.orders WHERE id = 424242")
        _wait_until("catching up", lambda: _replicated(primary.endpoint, replica.endpoint))


def test_a_user_who_may_not_read_the_status_is_not_checked(servers) -> None:
    _, replica = servers
    run_sql(
        replica.endpoint,
        "CREATE USER IF NOT EXISTS 'etl_plain'@'127.0.0.1' IDENTIFIED BY 'plain-pw'",
    )
    plain = MySqlEndpoint("127.0.0.1", replica.port, "etl_plain", "plain-pw")
    conn = plain.connect()
    try:
        status = read_replica_status(conn)
    finally:
        conn.close()
    assert status.role == "unknown" and "REPLICA MONITOR" in status.reason


def _sources_yaml() -> str:
    return f"""
start: 2024-01-01
extract: {{retry: {{max_retries: 0, delay_seconds: 0}}, connect_timeout_seconds: 5,
          replica: {{max_lag_seconds: 60, wait_seconds: 0.3, max_wait_seconds: 1}}}}
shards:
  primary: {{url_env: ETL_TEST_PRIMARY_URL, database: {DATABASE}}}
  replica: {{url_env: ETL_TEST_REPLICA_URL, database: {DATABASE}}}
tables:
  orders: {{primary_key: [id]}}
  departments: {{primary_key: [dept_no], mode: snapshot}}
"""


def _keys(*shards: str) -> list[dg.AssetKey]:
    return [dg.AssetKey(["raw", s, t]) for s in shards for t in ("orders", "departments")]


@pytest.fixture
def platform(
    servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[dg.Definitions, dg.DagsterInstance]]:
    primary, replica = servers
    (tmp_path / "sources.yaml").write_text(_sources_yaml())
    monkeypatch.setenv("ETL_PLATFORM_SOURCES", str(tmp_path / "sources.yaml"))
    monkeypatch.setenv("ETL_PLATFORM_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("ETL_PLATFORM_VIEWS_DIR", str(tmp_path / "no_views"))
    monkeypatch.setenv("ETL_TEST_PRIMARY_URL", primary.endpoint.url())
    monkeypatch.setenv("ETL_TEST_REPLICA_URL", replica.endpoint.url())
    with dg.instance_for_test() as instance:
        yield build_definitions(Environment.TEST), instance


def test_raw_assets_on_a_stopped_replica_fail_naming_the_shard_and_the_lag(
    platform, sql_stopped
) -> None:
    defs, instance = platform
    started = time.monotonic()
    run = run_range(
        defs,
        "extract_raw",
        DAY,
        DAY,
        instance=instance,
        asset_selection=_keys("primary", "replica"),
    )
    failed = {o.key: o.error for o in run.outcomes if o.error}
    assert set(failed) == {"raw__replica__orders", "raw__replica__departments"}
    for table in ("orders", "departments"):
        error = failed[f"raw__replica__{table}"]
        assert "shard replica: replica lag unknown is above the 60s limit" in error
        assert f"`{table}` was not read" in error and "SQL thread is stopped" in error
    # The primary was read at once: only the two replica assets waited (1 s each).
    assert time.monotonic() - started < 30
    for key in _keys("primary"):
        metadata = instance.get_latest_materialization_event(key).asset_materialization.metadata
        assert "replica_lag_seconds" not in metadata
    warnings = [
        r.user_message
        for r in instance.all_logs(run.run_id)
        if r.level >= 30 and "replica lag unknown" in r.user_message
    ]
    assert len(warnings) >= 2


def test_raw_assets_on_a_replica_in_step_record_its_lag(platform) -> None:
    defs, instance = platform
    run = run_range(
        defs, "extract_raw", DAY, DAY, instance=instance, asset_selection=_keys("replica")
    )
    assert run.success, [o.error for o in run.outcomes if o.error]
    for key in _keys("replica"):
        metadata = instance.get_latest_materialization_event(key).asset_materialization.metadata
        assert metadata["replica_lag_seconds"].value == 0
