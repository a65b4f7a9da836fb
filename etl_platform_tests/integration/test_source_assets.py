"""Source assets run through Dagster against the real MariaDB: ranges, re-runs, faults."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from etl_platform.definitions import build_definitions
from etl_platform.demo.mariadb_server import free_port
from etl_platform.env import Environment
from etl_platform.extract import backends
from etl_platform.load.lake import Lake
from etl_platform.runner import run_range
from etl_platform_tests.conftest import SEED_END, SEED_PREFIX, TEST_MYSQL_URL, run_sql

pytestmark = pytest.mark.integration

TABLES = ("customers", "products", "orders", "order_events")
FIRST = SEED_END - dt.timedelta(days=9)
SECRET = "hunter2-do-not-log"


def _sources_yaml(extra_shards: str = "", orders: str = "", start: str = "2024-01-01") -> str:
    return f"""
timezone: UTC
start: {start}
extract: {{batch_rows: 500, max_days_per_run: 5, retry: {{max_retries: 1, delay_seconds: 0}},
          connect_timeout_seconds: 2}}
shards:
  shard_00: {{url_env: ETL_TEST_SHARD_URL, database: {SEED_PREFIX}00}}
  shard_01: {{url_env: ETL_TEST_SHARD_URL, database: {SEED_PREFIX}01}}
{extra_shards}
tables:
  customers:    {{primary_key: [id], json: [profile]}}
  products:     {{primary_key: [id], json: [attributes]}}
  orders:       {{primary_key: [id], json: [payload]{orders}}}
  order_events: {{primary_key: [id], json: [event_data]}}
"""


@pytest.fixture
def platform(
    seeded_shards: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[dg.Definitions, Path]]:
    """Build the real Definitions over a sources.yaml written for the test."""

    def build(
        extra_shards: str = "", orders: str = "", start: str = "2024-01-01"
    ) -> tuple[dg.Definitions, Path]:
        path = tmp_path / "sources.yaml"
        path.write_text(_sources_yaml(extra_shards, orders, start))
        lake = tmp_path / "lake"
        monkeypatch.setenv("ETL_PLATFORM_SOURCES", str(path))
        monkeypatch.setenv("ETL_PLATFORM_LAKE", str(lake))
        monkeypatch.setenv("ETL_TEST_SHARD_URL", TEST_MYSQL_URL)
        monkeypatch.setenv("ETL_PLATFORM_VIEWS_DIR", str(tmp_path / "no_views"))  # raw only
        return build_definitions(Environment.TEST), lake

    return build


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture
def query_log(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[str, str]]]:
    """Record each window query the real reader of the default backend runs (table, bounds)."""
    calls: list[tuple[str, tuple[str, str]]] = []
    backend = backends.resolve_backend("auto")
    real = backends.get_batch_reader(backend)

    def recording_reader(endpoint, plan, query, **kw):
        calls.append((f"{endpoint.database}.{plan.table}", query.params))
        return real(endpoint, plan, query, **kw)

    monkeypatch.setitem(backends._REGISTRY, backend, lambda: recording_reader)
    return calls


def _sql_counts(database: str, table: str, first: dt.date, last: dt.date) -> dict[dt.date, int]:
    rows = run_sql(
        _server(database),
        f"SELECT DATE(updated_at), COUNT(*) FROM `{table}` "
        "WHERE updated_at >= %s AND updated_at < %s GROUP BY 1",
        params=(first.isoformat(), (last + dt.timedelta(days=1)).isoformat()),
    )
    return dict(rows)


def _server(database: str):
    from etl_platform.extract.connection import MySqlEndpoint

    return MySqlEndpoint.from_url(TEST_MYSQL_URL, database=database)


def _day_counts(lake: Path, shard: str, table: str) -> dict[dt.date, int]:
    """Every written day's rows; a day written with no rows has no folder, and 0."""
    dataset = Lake(lake).raw(shard, table)
    return {day: dataset.partition_rows(day) for day in sorted(dataset.written_days())}


def test_a_range_run_reads_each_table_once_and_writes_a_folder_per_day(
    platform, instance, query_log
) -> None:
    defs, lake = platform()
    run = run_range(defs, "extract_raw", FIRST, SEED_END, instance=instance)
    assert run.success, [o.error for o in run.outcomes if o.error]
    assert len(run.outcomes) == 8
    # One range query per shard x table, not one per day.
    assert len(query_log) == 8
    assert all(
        bounds == ("2024-03-01 00:00:00.000000", "2024-03-11 00:00:00.000000")
        for _, bounds in query_log
    )
    for shard, database in (("shard_00", f"{SEED_PREFIX}00"), ("shard_01", f"{SEED_PREFIX}01")):
        for table in TABLES:
            expected = _sql_counts(database, table, FIRST, SEED_END)
            got = _day_counts(lake, shard, table)
            assert set(got) == {FIRST + dt.timedelta(days=i) for i in range(10)}
            assert {d: n for d, n in got.items() if n} == expected, (shard, table)
    # The primary keys of one day match the server's, row for row.
    day = SEED_END - dt.timedelta(days=3)
    server_ids = {
        r[0]
        for r in run_sql(
            _server(f"{SEED_PREFIX}01"),
            "SELECT id FROM orders WHERE updated_at >= %s AND updated_at < %s",
            params=(day.isoformat(), (day + dt.timedelta(days=1)).isoformat()),
        )
    }
    folder = lake / "raw" / "shard_01" / "orders" / f"updated_at={day}"
    assert set(pq.read_table(folder).column("id").to_pylist()) == server_ids


def test_a_table_with_its_own_start_runs_in_every_job_and_reads_from_its_start(
    platform, instance, query_log
) -> None:
    """Every asset shares the platform's partitions (a table's own `start` once made every
    job fail to load); the table's days before its start are written empty, unread."""
    start = FIRST + dt.timedelta(days=4)
    defs, lake = platform(orders=f", start: {start}")
    for job in ("extract_raw", "build_views", "etl_all"):
        defs.resolve_job_def(job)
    graph = defs.resolve_asset_graph()
    starts = {graph.get(k).partitions_def.start.date() for k in graph.get_all_asset_keys()}
    assert starts == {dt.date(2024, 1, 1)}

    run = run_range(defs, "extract_raw", FIRST, FIRST + dt.timedelta(days=1), instance=instance)
    assert run.success, [o.error for o in run.outcomes if o.error]
    assert not [q for q in query_log if q[0].endswith(".orders")]  # before its start: unread
    assert _day_counts(lake, "shard_00", "orders") == {FIRST: 0, FIRST + dt.timedelta(days=1): 0}

    query_log.clear()
    run = run_range(defs, "extract_raw", FIRST, SEED_END, instance=instance)
    assert run.success, [o.error for o in run.outcomes if o.error]
    orders_reads = [bounds for table, bounds in query_log if table.endswith(".orders")]
    assert orders_reads and all(b[0] == f"{start} 00:00:00.000000" for b in orders_reads)
    got = _day_counts(lake, "shard_01", "orders")
    assert set(got) == {FIRST + dt.timedelta(days=i) for i in range(10)}
    assert all(n == 0 for d, n in got.items() if d < start)
    expected = _sql_counts(f"{SEED_PREFIX}01", "orders", start, SEED_END)
    assert {d: n for d, n in got.items() if n} == expected


def test_a_table_without_a_start_reads_from_the_top_start_when_another_starts_earlier(
    platform, instance, query_log
) -> None:
    """The partitions begin at the earliest start; a table without its own reads from the
    top-level `start`, as documented."""
    top = FIRST + dt.timedelta(days=4)
    defs, lake = platform(orders=", start: 2024-01-01", start=str(top))
    run = run_range(defs, "extract_raw", FIRST, SEED_END, instance=instance)
    assert run.success, [o.error for o in run.outcomes if o.error]
    starts = {table.rsplit(".", 1)[1]: bounds[0][:10] for table, bounds in query_log}
    assert starts["orders"] == str(FIRST)
    assert starts["customers"] == str(top)
    assert all(n == 0 for d, n in _day_counts(lake, "shard_00", "customers").items() if d < top)


def test_materialization_metadata_describes_the_read(platform, instance) -> None:
    defs, _ = platform()
    run = run_range(defs, "extract_raw", FIRST, SEED_END, instance=instance)
    key = dg.AssetKey(["raw", "shard_00", "orders"])
    orders = instance.get_latest_materialization_event(key)
    md = orders.asset_materialization.metadata
    # The driver that read the window, not "auto": connectorx pages a table scan, a window the
    # cursor's index serves goes to the streaming reader.
    auto = backends.resolve_backend("auto")
    scan = md["explain"].value.get("type") == "ALL"
    streaming = backends.streaming_backend()
    assert md["backend"].value == (auto if auto != "connectorx" or scan else streaming)
    # One event per day of the range, each with that day's own rows and bytes (a day without
    # rows: 0); the run's summary adds them up.
    expected = _sql_counts(f"{SEED_PREFIX}00", "orders", FIRST, SEED_END)
    days = [FIRST + dt.timedelta(days=i) for i in range((SEED_END - FIRST).days + 1)]
    events = {
        r.partition_key: r.asset_materialization.metadata
        for r in instance.fetch_materializations(key, limit=1000).records
        if r.run_id == run.run_id
    }
    assert set(events) == {d.isoformat() for d in days}
    for day in days:
        assert events[day.isoformat()]["dagster/row_count"].value == expected.get(day, 0), day
        if expected.get(day):
            assert events[day.isoformat()]["bytes"].value > 0, day
        # What the read shares is said once, on the range's last day (the latest event).
        assert ("query" in events[day.isoformat()]) == (day == SEED_END), day
    assert len({e["dagster/row_count"].value for e in events.values()}) > 1
    outcome = next(o for o in run.outcomes if o.key == key.to_user_string())
    assert outcome.rows == sum(expected.values())
    assert md["cursor_index"].value == "idx_orders_updated_at"
    assert md["explain"].value["type"] in ("range", "ALL")  # the optimiser may scan a tiny table
    assert "WHERE `updated_at` >= %s AND `updated_at` < %s" in md["query"].value
    assert {c.name for c in md["dagster/column_schema"].schema.columns} >= {"id", "payload"}
    assert md["window_min_cursor"].value.startswith(str(FIRST))
    # products has no index on its cursor: the run says so, in metadata and as a warning.
    products = instance.get_latest_materialization_event(
        dg.AssetKey(["raw", "shard_00", "products"])
    )
    assert products.asset_materialization.metadata["cursor_index"].value == "none"
    warnings = [
        r.user_message
        for r in instance.all_logs(orders.run_id)
        if r.level >= 30 and "no index starts with cursor column" in r.user_message
    ]
    assert len(warnings) == 2  # one per shard


def test_rerunning_a_day_replaces_it(platform, instance) -> None:
    defs, lake = platform()
    job = defs.resolve_job_def("extract_raw")
    day = str(SEED_END - dt.timedelta(days=2))
    assert job.execute_in_process(instance=instance, partition_key=day).success
    folder = lake / "raw" / "shard_00" / "orders" / f"updated_at={day}"
    first = pq.read_table(folder).sort_by("id")
    assert job.execute_in_process(instance=instance, partition_key=day).success
    second = pq.read_table(folder).sort_by("id")
    assert first.equals(second)
    assert len(set(second.column("id").to_pylist())) == second.num_rows
    assert len(list(folder.iterdir())) == 1
    # A row updated since moves to a later day: the day no longer holds it.
    moved = first.column("id")[0].as_py()
    database = f"{SEED_PREFIX}00"
    old = run_sql(_server(database), "SELECT updated_at FROM orders WHERE id = %s", params=(moved,))
    try:
        run_sql(
            _server(database),
            "UPDATE orders SET updated_at = '2024-03-10 12:00:00' WHERE id = %s",
            params=(moved,),
        )
        assert job.execute_in_process(instance=instance, partition_key=day).success
        third = pq.read_table(folder)
        assert moved not in third.column("id").to_pylist()
        assert third.num_rows == first.num_rows - 1
    finally:
        run_sql(
            _server(database),
            "UPDATE orders SET updated_at = %s WHERE id = %s",
            params=(old[0][0], moved),
        )


def test_a_down_shard_fails_only_its_own_assets(platform, instance) -> None:
    port = free_port()
    defs, lake = platform(
        f"  shard_down: {{host: 127.0.0.1, port: {port}, user: reader, password_env: DOWN_PW, "
        "database: shop}\n"
        f"  shard_denied: {{host: 127.0.0.1, port: 3306, user: root, password_env: DENIED_PW, "
        f"database: {SEED_PREFIX}00}}\n"
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DOWN_PW", SECRET)
        mp.setenv("DENIED_PW", SECRET)
        run = run_range(defs, "extract_raw", SEED_END, SEED_END, instance=instance)
    failed = {o.key: o.error for o in run.outcomes if o.error}
    ok = {o.key for o in run.outcomes if not o.error}
    assert set(failed) == {
        f"raw__{shard}__{t}" for shard in ("shard_down", "shard_denied") for t in TABLES
    }
    assert len(ok) == 8  # every table of the two healthy shards
    down = failed["raw__shard_down__orders"]
    assert f"shard shard_down (127.0.0.1:{port}" in down and "unavailable" in down
    assert "shard shard_denied (127.0.0.1:3306" in failed["raw__shard_denied__orders"]
    logs = "\n".join(str(r.dagster_event or r.user_message) for r in instance.all_logs(run.run_id))
    assert SECRET not in logs and all(SECRET not in e for e in failed.values())
    # Each failed step was retried once with backoff before it failed.
    retries = [
        r for r in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY)
    ]
    assert len(retries) == 8
    assert (lake / "raw" / "shard_01" / "orders" / f"updated_at={SEED_END}").is_dir()
    assert not (lake / "raw" / "shard_down").exists()


def test_hive_layout_reads_back_as_one_dataset(platform, instance) -> None:
    defs, lake = platform()
    run_range(defs, "extract_raw", FIRST, SEED_END, instance=instance)
    dataset = ds.dataset(lake / "raw" / "shard_00" / "orders", format="parquet")
    expected = sum(_sql_counts(f"{SEED_PREFIX}00", "orders", FIRST, SEED_END).values())
    assert dataset.count_rows() == expected
