"""The new-data sensors against MariaDB: a first tick notes each table's newest cursor value;
rows on two days then request exactly those days of that table, with the views built from it,
and nothing for a table that did not change; a tick with no change requests nothing; the
cursor read back by a fresh context (a restarted daemon) goes on from it; a shard that is down
is named on its own tick, without its password, while the other shard's sensor requests."""

from __future__ import annotations

import datetime as dt
import json
import socket
import zoneinfo
from pathlib import Path

import dagster as dg
import pytest
import yaml

from etl_platform.asset_keys import raw_asset_key, rejects_asset_key, state_asset_key
from etl_platform.asset_keys import view_asset_key as view_key
from etl_platform.definitions import build_definitions
from etl_platform.env import Environment
from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.extract.newest_cursor import Mark, poll_newest_cursors
from etl_platform.extract.schema_snapshot import snapshot_schema
from etl_platform.layout import partition_key
from etl_platform.runner import run_range
from etl_platform.specs.loader import load_sources
from etl_platform.specs.source_schema import render_schema
from etl_platform.specs.view_loader import VIEW_COMPONENT_TYPE
from etl_platform_tests.conftest import TEST_MYSQL_URL, run_sql

pytestmark = pytest.mark.integration

SHARD, DOWN = "shard_a", "shard_down"
ZONE = "Europe/Paris"
PASSWORD = "Pw-n3w-data-sensor"
TODAY = dt.datetime.now(dt.UTC).date()
D = [TODAY - dt.timedelta(days=i) for i in range(8)]  # D[i]: i days ago

_TABLES = (
    """
    CREATE TABLE orders (
      id          INT         NOT NULL PRIMARY KEY,
      customer_id INT         NOT NULL,
      amount      INT         NOT NULL,
      updated_at  DATETIME(6) NOT NULL,
      KEY idx_orders_updated_at (updated_at)
    ) ENGINE=InnoDB
    """,
    """
    CREATE TABLE customers (
      id         INT         NOT NULL PRIMARY KEY,
      name       VARCHAR(40) NOT NULL,
      updated_at DATETIME(6) NOT NULL,
      KEY idx_customers_updated_at (updated_at)
    ) ENGINE=InnoDB
    """,
    "CREATE TABLE currencies (code CHAR(3) NOT NULL PRIMARY KEY, rate DECIMAL(10,4) NOT NULL)",
)

VIEW = {
    "name": "orders_v",
    "source": "orders",
    "lookups": [{"table": "customers", "on": {"customer_id": "id"}, "columns": {"name": "who"}}],
    "columns": {
        "order_id": {"from": "id", "type": "int64"},
        "amount": {"from": "amount", "type": "int64"},
    },
    "unique_key": ["order_id"],
}


def _local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    """A wall clock in the shard's zone, as a DATETIME column stores it."""
    return dt.datetime.combine(day, dt.time(hour, minute))


def _today_local(seconds: int) -> dt.datetime:
    """`seconds` after today's midnight UTC, as the shard's wall clock: in the past and in
    D[0]'s partition whatever the hour the test runs (a later hour of today could still be
    ahead of the clock, and the sensor leaves rows dated in the future out)."""
    at = dt.datetime.combine(D[0], dt.time(), tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)
    return at.astimezone(zoneinfo.ZoneInfo(ZONE)).replace(tzinfo=None)


def _utc(local: dt.datetime) -> dt.datetime:
    return local.replace(tzinfo=zoneinfo.ZoneInfo(ZONE)).astimezone(dt.UTC)


def _insert(db: MySqlEndpoint, table: str, rows: list[tuple]) -> None:
    marks = ", ".join(["%s"] * len(rows[0]))
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        conn.commit()
    finally:
        conn.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def shop(scratch_db: MySqlEndpoint) -> MySqlEndpoint:
    run_sql(scratch_db, *_TABLES)
    _insert(scratch_db, "orders", [(1, 1, 10, _local(D[5], 10)), (2, 1, 20, _local(D[5], 11))])
    _insert(scratch_db, "customers", [(1, "Ada", _local(D[6], 9))])
    _insert(scratch_db, "currencies", [("EUR", 1)])
    return scratch_db


@pytest.fixture
def defs(shop: MySqlEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dg.Definitions:
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        f"start: {D[7]}\n"
        "extract: {connect_timeout_seconds: 3, retry: {max_retries: 0, delay_seconds: 0}}\n"
        "shards:\n"
        f"  {SHARD}: {{url_env: ETL_TEST_SHARD_URL, database: {shop.database}, timezone: {ZONE}}}\n"
        f"  {DOWN}: {{url_env: ETL_TEST_DOWN_URL, database: {shop.database}}}\n"
        "tables:\n"
        "  orders: {primary_key: [id]}\n"
        "  customers: {primary_key: [id]}\n"
        "  currencies: {primary_key: [code], mode: snapshot}\n"
    )
    monkeypatch.setenv("ETL_TEST_SHARD_URL", TEST_MYSQL_URL)
    monkeypatch.setenv("ETL_TEST_DOWN_URL", f"mysql://etl:{PASSWORD}@127.0.0.1:{_closed_port()}/")
    monkeypatch.setenv("ETL_PLATFORM_SOURCES", str(sources))
    monkeypatch.setenv("ETL_PLATFORM_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("ETL_PLATFORM_VIEWS_DIR", str(tmp_path / "views"))
    schema = snapshot_schema(load_sources(sources), shard=SHARD)
    (tmp_path / "sources.schema.yaml").write_text(render_schema(schema))
    (tmp_path / "views" / "orders_v").mkdir(parents=True)
    (tmp_path / "views" / "orders_v" / "defs.yaml").write_text(
        yaml.safe_dump({"type": VIEW_COMPONENT_TYPE, "attributes": VIEW})
    )
    return build_definitions(Environment.TEST)


def _tick(
    defs: dg.Definitions, instance: dg.DagsterInstance, shard: str, cursor: str | None
) -> dg.SensorExecutionData:
    """One evaluation, as the daemon makes it: a fresh context holding only the stored cursor."""
    sensor = defs.resolve_sensor_def(f"new_data_{shard}")
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    return sensor.evaluate_tick(context)


def _requested(data: dg.SensorExecutionData) -> dict[str, set[dg.AssetKey]]:
    return {r.partition_key: set(r.asset_selection or ()) for r in data.run_requests}


def test_sensor_requests_the_changed_days_and_keeps_its_cursor_across_restarts(
    defs: dg.Definitions, shop: MySqlEndpoint
) -> None:
    with dg.instance_for_test() as instance:
        first = _tick(defs, instance, SHARD, None)
        assert first.run_requests == []
        assert "first look at customers, orders" in (first.skip_message or "")
        cursor = json.loads(first.cursor or "")
        assert set(cursor) == {"orders", "customers"}  # no snapshot table
        assert cursor["orders"] == _utc(_local(D[5], 11)).isoformat(timespec="microseconds")

        # 00:30 in Paris is the evening before in UTC: the row lands on D[2]'s partition
        _insert(shop, "orders", [(3, 1, 30, _local(D[3], 12)), (4, 1, 40, _local(D[1], 0, 30))])
        changed = _tick(defs, instance, SHARD, first.cursor)
        orders_run = {
            raw_asset_key(SHARD, "orders"),
            view_key("orders_v"),
            rejects_asset_key("orders_v"),
        }
        assert _requested(changed) == {
            partition_key(D[3]): orders_run,
            partition_key(D[2]): orders_run,
        }
        assert all(r.run_key and SHARD in r.run_key for r in changed.run_requests)
        assert json.loads(changed.cursor or "")["orders"] == _utc(_local(D[1], 0, 30)).isoformat(
            timespec="microseconds"
        )
        assert json.loads(changed.cursor or "")["customers"] == cursor["customers"]

        quiet = _tick(defs, instance, SHARD, changed.cursor)
        assert quiet.run_requests == []
        assert "no new rows in 2 table(s)" in (quiet.skip_message or "")
        assert quiet.cursor == changed.cursor

        # a restarted daemon: a new instance and context, only the stored cursor carried over
        _insert(shop, "customers", [(2, "Grace", _today_local(1))])
        with dg.instance_for_test() as restarted:
            again = _tick(defs, restarted, SHARD, quiet.cursor)
            assert _requested(again) == {
                partition_key(D[0]): {
                    raw_asset_key(SHARD, "customers"),
                    state_asset_key(SHARD, "customers"),
                    view_key("orders_v"),
                    rejects_asset_key("orders_v"),
                }
            }
            assert _tick(defs, restarted, SHARD, again.cursor).run_requests == []


def test_a_shard_that_is_down_is_named_on_its_tick_and_the_other_shard_still_requests(
    defs: dg.Definitions, shop: MySqlEndpoint
) -> None:
    with dg.instance_for_test() as instance:
        base = _tick(defs, instance, SHARD, None)
        stored = json.dumps({"orders": "2020-01-01T00:00:00.000000+00:00"})
        down = _tick(defs, instance, DOWN, stored)
        message = down.skip_message or ""
        assert down.run_requests == []
        assert f"shard {DOWN}" in message and "unavailable" in message
        assert PASSWORD not in message
        assert down.cursor == stored  # kept for when the shard is back

        _insert(shop, "orders", [(5, 1, 50, _today_local(3))])
        up = _tick(defs, instance, SHARD, base.cursor)
        assert list(_requested(up)) == [partition_key(D[0])]


def test_the_poll_is_answered_from_the_cursor_index(shop: MySqlEndpoint) -> None:
    """The statements the sensor sends touch no row: the server reads the index's ends."""
    for sql in (
        "EXPLAIN SELECT MAX(`updated_at`) FROM `orders` "
        "WHERE `updated_at` > '2030-01-01 00:00:00.000000'",
        "EXPLAIN SELECT MIN(`updated_at`), MAX(`updated_at`) FROM `orders` "
        "WHERE `updated_at` <= '2030-01-01 00:00:00.000000'",
        "EXPLAIN SELECT MIN(`updated_at`), MAX(`updated_at`) FROM `orders` "
        "WHERE `updated_at` <= '2030-01-01 00:00:00.000000' "
        "AND `updated_at` > '2024-01-01 00:00:00.000000'",
    ):
        (row,) = run_sql(shop, sql)
        # no row beyond the bound is answered from the index's end as well
        assert "optimized away" in str(row) or "No matching min/max row" in str(row), row


def test_a_requested_run_builds_the_raw_day_its_lookup_state_and_the_view_day(
    defs: dg.Definitions, shop: MySqlEndpoint
) -> None:
    """The run a request starts, as the daemon starts it: partitioned raw and view days with
    the unpartitioned lookup state in one run."""
    with dg.instance_for_test() as instance:
        raws = [raw_asset_key(SHARD, t) for t in ("orders", "customers")]
        history = run_range(
            defs, "extract_raw", D[7], D[0], instance=instance, asset_selection=raws
        )
        assert history.success, [o.error for o in history.outcomes if o.error]
        base = _tick(defs, instance, SHARD, None)
        _insert(shop, "customers", [(2, "Grace", _today_local(1))])
        _insert(shop, "orders", [(6, 2, 60, _today_local(2))])
        (request,) = _tick(defs, instance, SHARD, base.cursor).run_requests
        job = defs.resolve_job_def(request.job_name or "")  # the base asset job
        run = job.execute_in_process(
            instance=instance,
            partition_key=request.partition_key,
            asset_selection=list(request.asset_selection or ()),
            tags=request.tags,
            raise_on_error=False,
        )
        assert run.success
        built = {e.asset_key for e in run.get_asset_materialization_events()}
        assert built == set(request.asset_selection or ())


def test_a_table_that_cannot_be_polled_is_named_and_the_others_are_read(
    shop: MySqlEndpoint,
) -> None:
    run_sql(shop, "CREATE TABLE notes (id INT PRIMARY KEY, updated_at DATETIME NOT NULL)")
    tables = {"orders": "updated_at", "notes": "updated_at", "currencies": "code", "gone": "x"}
    poll = poll_newest_cursors(
        shop,
        tables,
        shard=SHARD,
        timezone=ZONE,
        after={},
        connect_timeout=3,
        read_timeout=5,
    )
    assert poll.tables["orders"].newest == _utc(_local(D[5], 11))
    assert set(poll.problems) == {"notes", "currencies", "gone"}
    assert "no index starts with cursor column `updated_at`" in poll.problems["notes"]
    assert "not DATETIME, TIMESTAMP or DATE" in poll.problems["currencies"]
    assert "does not exist" in poll.problems["gone"]


def test_a_row_dated_in_the_future_never_becomes_the_cursor_and_later_rows_are_seen(
    defs: dg.Definitions, shop: MySqlEndpoint
) -> None:
    """A row at 2030 (bad data, a skewed clock) is named once in the tick and left out of the
    cursor, so a real row after it is still requested; a cursor stored at 2030 by an unbounded
    poll is dropped for a new baseline."""
    with dg.instance_for_test() as instance:
        base = _tick(defs, instance, SHARD, None)
        _insert(shop, "orders", [(7, 1, 70, dt.datetime(2030, 1, 1))])
        ahead = _tick(defs, instance, SHARD, base.cursor)
        message = ahead.skip_message or ""
        assert ahead.run_requests == []
        assert message.count("in the future") == 1 and "orders (up to 2029-12-31T23" in message
        assert ahead.cursor == base.cursor

        _insert(shop, "orders", [(8, 1, 80, _today_local(4))])
        assert list(_requested(_tick(defs, instance, SHARD, ahead.cursor))) == [
            partition_key(_utc(_today_local(4)).date())
        ]

        stored = json.dumps(
            {**json.loads(base.cursor or ""), "orders": "2030-01-01T00:00:00+00:00"}
        )
        reset = _tick(defs, instance, SHARD, stored)
        assert reset.run_requests == []
        assert "stored cursor of orders was in the future" in (reset.skip_message or "")
        assert json.loads(reset.cursor or "")["orders"] == _utc(_today_local(4)).isoformat(
            timespec="microseconds"
        )


def test_a_date_cursor_sees_a_later_row_of_its_newest_day(shop: MySqlEndpoint) -> None:
    """`cursor > newest` would see a DATE cursor's day once: the poll counts the newest day's
    rows, so a second row of that day moves it, and the count is answered from the index."""
    run_sql(shop, "CREATE TABLE visits (id INT PRIMARY KEY, day DATE NOT NULL, KEY (day))")
    _insert(shop, "visits", [(1, D[3]), (2, D[1])])

    def poll(after: Mark | None) -> tuple:
        seen = poll_newest_cursors(
            shop,
            {"visits": "day"},
            shard=SHARD,
            timezone=ZONE,
            after={"visits": after},
            connect_timeout=3,
            read_timeout=5,
        ).tables["visits"]
        return seen.newest, seen.oldest, seen.rows

    assert poll(None) == (D[1], D[3], 1)
    assert poll(Mark(D[1], 1)) == (None, None, None)
    _insert(shop, "visits", [(3, D[1])])
    assert poll(Mark(D[1], 1)) == (D[1], D[1], 2)
    assert poll(Mark(D[1], 2)) == (None, None, None)
    _insert(shop, "visits", [(4, D[0]), (5, D[1])])
    assert poll(Mark(D[1], 2)) == (D[0], D[1], 1)
    (row,) = run_sql(
        shop,
        "EXPLAIN SELECT `day`, COUNT(*) FROM `visits` WHERE `day` >= '2024-01-01' "
        "AND `day` <= '2030-01-01' GROUP BY `day` ORDER BY `day`",
    )
    assert "Using index" in str(row), row
