"""A late commit end to end against MariaDB: a row whose `updated_at` is yesterday 23:59:59,
committed only after yesterday and today were read (a long transaction), lands in yesterday's
raw partition on the first automation tick after midnight, once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from etl_platform.asset_keys import raw_asset_key
from etl_platform.automation.selections import RAW_ASSETS
from etl_platform.definitions import build_definitions
from etl_platform.env import Environment
from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.extract.schema_snapshot import snapshot_schema
from etl_platform.runner import run_range
from etl_platform.specs.loader import load_sources
from etl_platform.specs.source_schema import render_schema
from etl_platform_tests.conftest import TEST_MYSQL_URL, run_sql

pytestmark = pytest.mark.integration

#: The day the automation is evaluated on (its evaluation time is frozen), and the one before.
TODAY = dt.date(2024, 3, 6)
YESTERDAY = TODAY - dt.timedelta(days=1)
LATE = dt.datetime(2024, 3, 5, 23, 59, 59)
KEY = raw_asset_key("shard_00", "orders")

_TABLE = """
CREATE TABLE orders (
  id         INT         NOT NULL PRIMARY KEY,
  amount     INT         NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  KEY idx_orders_updated_at (updated_at)
) ENGINE=InnoDB
"""
ROWS = [
    (1, 10, dt.datetime(2024, 3, 5, 8, 0)),
    (2, 20, dt.datetime(2024, 3, 5, 23, 30)),
    (3, 30, dt.datetime(2024, 3, 6, 0, 1)),
]


@pytest.fixture
def orders(scratch_db: MySqlEndpoint) -> MySqlEndpoint:
    run_sql(scratch_db, _TABLE)
    conn = scratch_db.connect()
    try:
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO orders (id, amount, updated_at) VALUES (%s, %s, %s)", ROWS)
        conn.commit()
    finally:
        conn.close()
    return scratch_db


@pytest.fixture
def defs(orders: MySqlEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dg.Definitions:
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "start: 2024-03-01\n"
        "extract: {late_commit_grace: 2h, retry: {max_retries: 0, delay_seconds: 0}}\n"
        f"shards:\n  shard_00: {{url_env: ETL_TEST_SHARD_URL, database: {orders.database}}}\n"
        "tables:\n"
        "  orders: {primary_key: [id]}\n"
    )
    monkeypatch.setenv("ETL_TEST_SHARD_URL", TEST_MYSQL_URL)
    (tmp_path / "sources.schema.yaml").write_text(
        render_schema(snapshot_schema(load_sources(sources)))
    )
    (tmp_path / "views").mkdir()
    monkeypatch.setenv("ETL_PLATFORM_SOURCES", str(sources))
    monkeypatch.setenv("ETL_PLATFORM_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("ETL_PLATFORM_VIEWS_DIR", str(tmp_path / "views"))
    return build_definitions(Environment.TEST)


def _raw_ids(lake: Path, day: dt.date) -> list[int]:
    folder = lake / "raw" / "shard_00" / "orders" / f"updated_at={day}"
    return sorted(pl.read_parquet(folder / "*.parquet")["id"].to_list())


def _extract(defs: dg.Definitions, instance: dg.DagsterInstance, days: list[str]) -> None:
    first, last = dt.date.fromisoformat(min(days)), dt.date.fromisoformat(max(days))
    assert (last - first).days + 1 == len(days)  # one contiguous range
    run = run_range(defs, "extract_raw", first, last, instance=instance, asset_selection=[KEY])
    assert run.success, [o.error for o in run.outcomes if o.error]


def test_a_row_committed_after_its_day_was_read_lands_on_the_next_tick(
    defs: dg.Definitions, orders: MySqlEndpoint, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    late = orders.connect()  # a long transaction: its row is written now, committed later
    try:
        with late.cursor() as cur:
            cur.execute("START TRANSACTION")
            cur.execute(
                "INSERT INTO orders (id, amount, updated_at) VALUES (%s, %s, %s)", (4, 40, LATE)
            )
        with dg.instance_for_test() as instance:
            # yesterday's and today's reads run while the transaction is open
            _extract(defs, instance, [str(YESTERDAY), str(TODAY)])
            assert _raw_ids(lake, YESTERDAY) == [1, 2]
            assert _raw_ids(lake, TODAY) == [3]
            late.commit()  # after its day was read

            def evaluate(
                when: dt.datetime, cursor: object
            ) -> dg.EvaluateAutomationConditionsResult:
                return dg.evaluate_automation_conditions(
                    defs,
                    instance,
                    asset_selection=RAW_ASSETS,
                    evaluation_time=when,
                    cursor=cursor,
                )

            before = evaluate(dt.datetime(2024, 3, 5, 23, 59, 30, tzinfo=dt.UTC), None)
            assert before.total_requested == 0
            tick = evaluate(dt.datetime(2024, 3, 6, 0, 5, tzinfo=dt.UTC), before.cursor)
            requested = sorted(tick.get_requested_partitions(KEY))
            assert requested == [str(YESTERDAY), str(TODAY)]
            assert tick.total_requested == 2
            _extract(defs, instance, requested)
            # the same tick again: nothing more
            again = evaluate(dt.datetime(2024, 3, 6, 0, 6, tzinfo=dt.UTC), tick.cursor)
            assert again.total_requested == 0
    finally:
        late.close()

    assert _raw_ids(lake, YESTERDAY) == [1, 2, 4]  # the late row, exactly once
    assert _raw_ids(lake, TODAY) == [3]
