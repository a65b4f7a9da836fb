"""A view's second partitioning end to end against MariaDB: events land in the view by the day
they were updated; `views/events__by_event_day` lays the current rows out by the day they
occurred. A row updated today whose event is last month moves into last month's folder, once,
and only the two event days it touched are rewritten."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.load.current_rows import DAY_COLUMN
from etl_platform.runner import run_range
from etl_platform.specs.views import ViewSpec
from etl_platform_tests.conftest import project_definitions, run_sql

pytestmark = pytest.mark.integration

D, T = dt.date, dt.datetime
TODAY = dt.datetime.now(dt.UTC).date()
FIRST, LAST = TODAY - dt.timedelta(days=3), TODAY - dt.timedelta(days=1)
#: The 15th of the month before today's: last month's event day.
LAST_MONTH = (TODAY.replace(day=1) - dt.timedelta(days=1)).replace(day=15)
MOVED_FROM = TODAY - dt.timedelta(days=2)
LONG_AGO = D(2020, 1, 7)


def _at(day: D, hour: int, minute: int = 0) -> T:
    return T.combine(day, dt.time(hour, minute))


_TABLE = """
    CREATE TABLE events (
      id          INT         NOT NULL PRIMARY KEY,
      amount      INT         NOT NULL,
      occurred_at DATETIME(6) NULL,
      updated_at  DATETIME(6) NOT NULL,
      KEY idx_events_updated_at (updated_at)
    ) ENGINE=InnoDB
"""

#: (id, amount, occurred_at, updated_at): updated over three days, occurred on others.
EVENTS = [
    (1, 10, _at(FIRST, 9), _at(FIRST, 10)),
    (2, 20, _at(MOVED_FROM, 8), _at(MOVED_FROM, 10)),
    (3, 30, _at(MOVED_FROM, 23, 59), _at(MOVED_FROM, 11)),
    (4, 40, _at(LONG_AGO, 7), _at(LAST, 10)),
    (5, 50, None, _at(LAST, 12)),
    (6, 60, _at(LAST, 1), _at(LAST, 13)),
]

VIEW = {
    "name": "events",
    "source": "events",
    "columns": {
        "event_id": {"from": "id", "type": "int64"},
        "amount": {"from": "amount", "type": "int64"},
        "occurred_at": {"from": "occurred_at", "type": "timestamp"},
        "event_day": {"expr": "DATE(occurred_at)", "type": "date"},
    },
    "unique_key": ["event_id"],
    "partition_by": "event_day",
}
SPEC = ViewSpec.model_validate(VIEW)
LAYOUT_KEY = dg.AssetKey(["views", "events__by_event_day"])


@pytest.fixture
def events(scratch_db: MySqlEndpoint) -> MySqlEndpoint:
    run_sql(scratch_db, _TABLE)
    conn = scratch_db.connect()
    try:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO events (id, amount, occurred_at, updated_at) VALUES (%s, %s, %s, %s)",
                EVENTS,
            )
        conn.commit()
    finally:
        conn.close()
    return scratch_db


@pytest.fixture
def defs(events: MySqlEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dg.Definitions:
    return project_definitions(
        tmp_path,
        monkeypatch,
        f"start: {FIRST - dt.timedelta(days=2)}\n"
        "extract: {batch_rows: 100, retry: {max_retries: 0, delay_seconds: 0}}\n"
        f"shards:\n  shard_00: {{url_env: ETL_TEST_SHARD_URL, database: {events.database}}}\n"
        "tables:\n"
        "  events: {primary_key: [id]}\n",
        {"events": VIEW},
    )


def _build_days(
    defs: dg.Definitions, instance: dg.DagsterInstance, first: D, last: D
) -> dict[str, object]:
    """Extract and build the days; `build_views` also brings the view's current rows and its
    layout by event day up to date. Returns the layout's materialization metadata."""
    for job in ("extract_raw", "build_views"):
        run = run_range(defs, job, first, last, instance=instance)
        assert run.success, [o.error for o in run.outcomes if o.error]
    event = instance.get_latest_materialization_event(LAYOUT_KEY)
    assert event is not None and event.run_id == run.run_id
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def _files(folder: Path) -> dict[str, int]:
    return {f.parent.name: f.stat().st_ino for f in folder.glob("event_day=*/*.parquet")}


def test_a_row_updated_today_moves_to_last_months_event_day_once(
    defs: dg.Definitions, events: MySqlEndpoint, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    folder = lake / "views" / "events__by_event_day"
    with dg.instance_for_test() as instance:
        first = _build_days(defs, instance, FIRST, LAST)
        assert first["dagster/row_count"] == len(EVENTS)
        assert sorted(first["days_rewritten"]) == sorted(
            [str(FIRST), str(MOVED_FROM), str(LONG_AGO), str(LAST), "__HIVE_DEFAULT_PARTITION__"]
        )
        before = _files(folder)

        run_sql(
            events,
            "UPDATE events SET amount = 21, occurred_at = %s, updated_at = %s WHERE id = 2",
            params=(_at(LAST_MONTH, 18), _at(TODAY, 0, 30)),
        )
        second = _build_days(defs, instance, TODAY, TODAY)

    assert second["days_rewritten"] == [str(LAST_MONTH), str(MOVED_FROM)]
    assert second["days_removed"] == []
    after = _files(folder)
    untouched = set(before) - {f"event_day={MOVED_FROM}"}
    assert {f: after[f] for f in untouched} == {f: before[f] for f in untouched}
    assert after[f"event_day={MOVED_FROM}"] != before[f"event_day={MOVED_FROM}"]

    everywhere = pl.read_parquet(folder / "event_day=*" / "*.parquet", hive_partitioning=True)
    moved = everywhere.filter(pl.col("event_id") == 2)
    assert moved.select("event_day", "amount", DAY_COLUMN).rows() == [(LAST_MONTH, 21, TODAY)]
    assert everywhere.height == len(EVENTS)
    assert set(everywhere.get_column("event_id")) == {e[0] for e in EVENTS}
    # The view itself keeps both versions of event 2, one per day it was updated.
    view_days = pl.read_parquet(lake / "views" / "events" / "*" / "*.parquet")
    assert view_days.filter(pl.col("event_id") == 2).height == 2

    with duckdb.connect(str(lake / "lake.duckdb"), read_only=True) as conn:
        on_day = f"SELECT event_id FROM events__by_event_day WHERE event_day = DATE '{LAST_MONTH}'"
        assert conn.sql(on_day).fetchall() == [(2,)]
        plan = "\n".join(row[1] for row in conn.sql(f"EXPLAIN ANALYZE {on_day}").fetchall())
        assert re.search(rf"Scanning Files: 1/{len(after)}\b", plan), plan
        assert re.search(r"Total Files Read: 1\b", plan), plan
        nulls = conn.sql("SELECT event_id FROM events__by_event_day WHERE event_day IS NULL")
        assert nulls.fetchall() == [(5,)]
