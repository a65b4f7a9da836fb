"""The capture against a real binlog: inserts, updates, moves and deletes land as change files,
and the lake read as the views read it equals the source table, row for row."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import dagster as dg
import pytest
from polars.testing import assert_frame_equal

from etl_platform.automation.alerts import check_failures
from etl_platform.cdc.capture import FlushReport, ShardCapture
from etl_platform.cdc.checkpoint import read_checkpoint
from etl_platform.cdc.dagster_events import DagsterReporter
from etl_platform.cdc.handover import extract_history
from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.load.lake import Lake
from etl_platform_tests.cdc.harness import (
    Writer,
    create_database,
    lake_rows,
    source_rows,
    sources_for,
    wait_caught_up,
    write_sources,
)
from etl_platform_tests.conftest import run_sql

pytestmark = pytest.mark.integration


def test_capture_lands_every_change(
    binlog_server: MySqlEndpoint, tmp_path: Path, monkeypatch
) -> None:
    started = dt.datetime.now(dt.UTC)
    db = create_database(binlog_server, "cdc_capture")
    history = Writer(db, seed=7)
    history.run(transactions=40)  # rows that exist before the capture starts
    today = dt.datetime.now(dt.UTC).date()
    sources = sources_for(
        write_sources(
            tmp_path, ["cdc_capture"], start=today - dt.timedelta(days=5), batch_seconds=0.2
        ),
        binlog_server,
        monkeypatch,
    )
    lake = Lake(tmp_path / "lake")
    reports: list[FlushReport] = []
    during = Writer(db, seed=8, next_id=history.next_id, touch_from=1)
    endpoint = db

    def handover(table: str, position) -> None:
        # Writes running while the history is read: both in the day files and the stream.
        thread = threading.Thread(target=during.run, kwargs={"transactions": 30})
        thread.start()
        extract_history(lake, sources, "s0", table, endpoint, position)
        thread.join()

    capture = ShardCapture(
        sources, "s0", lake, endpoint, on_flush=reports.append, on_handover=handover
    )
    stop = threading.Event()
    runner = threading.Thread(target=capture.run, args=(stop,))
    runner.start()
    try:
        after = Writer(
            db, seed=9, next_id=100_000, touch_from=1
        )  # writes while the handover still runs
        after.run(transactions=60)
        wait_caught_up(lake, "s0", db)
    finally:
        stop.set()
        runner.join(timeout=30)
    assert not runner.is_alive()
    expected = source_rows(db)
    assert expected.height > 20
    # Each key once, on the day of its latest version, deletes applied: the table itself.
    assert_frame_equal(lake_rows(lake, sources, "s0", history=False), expected)
    assert sum(r.rows for r in reports) > 0
    assert all(r.lag_seconds is not None and r.lag_seconds < 60 for r in reports)
    changed_days = lake.changes("s0", "orders").days()
    # The writers date rows up to two days and an hour back (`Writer._when`), from today's
    # date at the start to the date at the end (a run across midnight UTC spans one more).
    earliest = (started - dt.timedelta(days=2, hours=1)).date()
    latest = dt.datetime.now(dt.UTC).date()
    assert changed_days and all(earliest <= d <= latest for d in changed_days)


def test_ddl_stops_a_truncated_table_and_alter_keeps_columns(
    binlog_server: MySqlEndpoint, tmp_path: Path, monkeypatch
) -> None:
    db = create_database(binlog_server, "cdc_ddl")
    today = dt.datetime.now(dt.UTC).date()
    sources = sources_for(
        write_sources(tmp_path, ["cdc_ddl"], start=today - dt.timedelta(days=5), batch_seconds=0.2),
        binlog_server,
        monkeypatch,
    )
    lake = Lake(tmp_path / "lake")
    instance = dg.DagsterInstance.ephemeral()
    reporter = DagsterReporter(instance)
    capture = ShardCapture(sources, "s0", lake, db, on_stop=reporter.stopped)
    stop = threading.Event()
    runner = threading.Thread(target=capture.run, args=(stop,))
    runner.start()
    while read_checkpoint(lake.root, "s0") is None:  # no handover here: start, then write
        time.sleep(0.05)
    try:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
        run_sql(db, "INSERT INTO orders VALUES (1, 'new', 1.00, NULL, %s)", params=(now,))
        run_sql(db, "ALTER TABLE orders ADD COLUMN channel VARCHAR(10) AFTER status")
        run_sql(
            db,
            "INSERT INTO orders (id, status, channel, amount, updated_at) "
            "VALUES (2, 'new', 'web', 2.00, %s)",
            params=(now,),
        )
        wait_caught_up(lake, "s0", db)
        rows = lake.changes("s0", "orders").read(today, ["id", "status", "channel", "amount"])
        got = {r["id"]: r for r in rows.to_dicts()}
        # After the ALTER, `channel` is its own column: `amount` is not shifted into it.
        assert str(got[2]["amount"]) == "2.00" and got[2]["channel"] == "web"
        assert got[1]["channel"] is None and got[1]["status"] == "new"
        run_sql(db, "TRUNCATE TABLE orders")
        runner.join(timeout=30)  # its only table stopped: the capture ends
    finally:
        stop.set()
        runner.join(timeout=30)
    cp = read_checkpoint(lake.root, "s0")
    assert cp is not None and "TRUNCATE" in cp.stopped["orders"]
    # The shard's blocking check failed once, which the alert sensor posts.
    alerts = [p.alert for p in check_failures(instance, None, 0, None) if p.alert is not None]
    assert len(alerts) == 1 and "tables_captured" in alerts[0].title
    assert "cdc resume --shard s0 --table orders" in (alerts[0].detail or "")
    # The truncate was not applied: the lake still has both rows.
    assert set(lake_rows(lake, sources, "s0", history=False)["id"].to_list()) == {"1", "2"}
