"""The cases binlog readers get wrong, each against the real server: a transaction over two
tables, a row moving to another day, an idle shard, a row that cannot be typed, a binlog purged
before it was read, the server restarting under the capture, and the preflight."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from etl_platform.asset_keys import capture_asset_key
from etl_platform.cdc.capture import ShardCapture
from etl_platform.cdc.checkpoint import Checkpoint, read_checkpoint
from etl_platform.cdc.dagster_events import DagsterReporter
from etl_platform.cdc.handover import extract_days, extract_history
from etl_platform.cli import main as cli_main
from etl_platform.demo.mariadb_server import start_server, stop_server
from etl_platform.extract.binlog_stream import BinlogPosition
from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.load.lake import Lake
from etl_platform_tests.cdc.harness import (
    URL_ENV,
    RunningCapture,
    Writer,
    binlog_end,
    create_database,
    lake_rows,
    source_rows,
    sources_for,
    wait_caught_up,
    write_sources,
)
from etl_platform_tests.conftest import run_sql

pytestmark = pytest.mark.integration

TODAY = dt.datetime.now(dt.UTC).date()


def _stamp(day: dt.date, hour: int = 12) -> str:
    return f"{day.isoformat()} {hour:02d}:00:00"


def _setup(endpoint, tmp_path, monkeypatch, database, **kwargs):
    db = create_database(endpoint, database)
    path = write_sources(
        tmp_path, [database], start=TODAY - dt.timedelta(days=5), batch_seconds=0.1, **kwargs
    )
    return db, sources_for(path, endpoint, monkeypatch), Lake(tmp_path / "lake"), path


def test_a_transaction_over_two_tables(binlog_server, tmp_path, monkeypatch) -> None:
    db, sources, lake, _ = _setup(
        binlog_server,
        tmp_path,
        monkeypatch,
        "cdc_two_tables",
        extra_tables={"payments": "{primary_key: [id], cursor: updated_at, mode: cdc}"},
    )
    run_sql(
        db,
        "CREATE TABLE payments (id INT PRIMARY KEY, order_id INT, paid DECIMAL(8,2), "
        "updated_at DATETIME(6) NOT NULL)",
    )
    with RunningCapture(ShardCapture(sources, "s0", lake, db)):
        conn = db.connect(autocommit=False)
        with conn.cursor() as cur:
            now = _stamp(TODAY)
            cur.execute("INSERT INTO orders VALUES (1, 'new', 5.00, NULL, %s)", (now,))
            cur.execute("INSERT INTO payments VALUES (10, 1, 5.00, %s)", (now,))
            cur.execute("UPDATE orders SET status = 'paid' WHERE id = 1")
        conn.commit()
        conn.close()
        wait_caught_up(lake, "s0", db)
    orders = lake.changes("s0", "orders").read(TODAY, ["id", "_op", "_log_pos"])
    payments = lake.changes("s0", "payments").read(TODAY, ["id", "_op", "_log_pos"])
    positions = sorted([*orders["_log_pos"].to_list(), *payments["_log_pos"].to_list()])
    # One commit: the same binlog position, the statement order in the last part.
    assert len({p.rsplit("-", 1)[0] for p in positions}) == 1
    assert [int(p.rsplit("-", 1)[1]) for p in positions] == [0, 1, 2]
    assert sorted(orders["_op"].to_list()) == ["insert", "update"]
    assert lake_rows(lake, sources, "s0", history=False)["status"].to_list() == ["paid"]


def test_an_update_that_moves_a_row_to_another_day(binlog_server, tmp_path, monkeypatch) -> None:
    db, sources, lake, _ = _setup(binlog_server, tmp_path, monkeypatch, "cdc_move")
    two_days_ago = TODAY - dt.timedelta(days=2)
    with RunningCapture(ShardCapture(sources, "s0", lake, db)):
        run_sql(
            db,
            "INSERT INTO orders VALUES (1, 'new', 1.00, NULL, %s)",
            params=(_stamp(two_days_ago),),
        )
        run_sql(
            db,
            "INSERT INTO orders VALUES (2, 'new', 2.00, NULL, %s)",
            params=(_stamp(two_days_ago),),
        )
        run_sql(
            db,
            "UPDATE orders SET status = 'paid', updated_at = %s WHERE id = 1",
            params=(_stamp(TODAY),),
        )
        run_sql(db, "DELETE FROM orders WHERE id = 2")
        wait_caught_up(lake, "s0", db)
    history = lake_rows(lake, sources, "s0", history=True)
    # With history, the old day keeps the version that stood on it until the move.
    assert history.select("id", "status").rows() == [("1", "new"), ("1", "paid")]
    latest = lake_rows(lake, sources, "s0", history=False)
    assert latest.select("id", "status").rows() == [("1", "paid")]
    assert_frame_equal(latest, source_rows(db))


def test_an_idle_shard_keeps_its_lag_true(binlog_server, tmp_path, monkeypatch) -> None:
    db, sources, lake, _ = _setup(
        binlog_server, tmp_path, monkeypatch, "cdc_idle", heartbeat_seconds=0.2
    )
    instance = dg.DagsterInstance.ephemeral()
    reporter = DagsterReporter(instance, idle_every=0)
    capture = ShardCapture(sources, "s0", lake, db, on_confirm=reporter.confirmed)
    with RunningCapture(capture):
        deadline = time.monotonic() + 30
        first = None
        while time.monotonic() < deadline:
            cp = read_checkpoint(lake.root, "s0")
            if cp is not None and cp.confirmed_at is not None:
                first = first or cp.confirmed_at
                if cp.confirmed_at - first >= dt.timedelta(seconds=2):
                    break
            time.sleep(0.2)
        else:
            pytest.fail("the checkpoint of an idle shard was not confirmed again")
    assert dt.datetime.now(dt.UTC) - cp.confirmed_at < dt.timedelta(seconds=10)
    # ... and Dagster hears it: `cdc/s0` stays fresh while nothing happens on the shard.
    event = instance.get_latest_materialization_event(capture_asset_key("s0"))
    assert event is not None and event.asset_materialization.description == "caught up (idle)"
    assert event.asset_materialization.metadata["lag_seconds"].value < 10


def test_a_row_that_cannot_be_typed_is_quarantined(binlog_server, tmp_path, monkeypatch) -> None:
    db, sources, lake, _ = _setup(binlog_server, tmp_path, monkeypatch, "cdc_quarantine")
    # TINYINT(1) is read as a boolean; 7 has no faithful boolean (the batch extract refuses it
    # too). The capture sets that row aside and goes on with the rest.
    run_sql(db, "ALTER TABLE orders ADD COLUMN flag TINYINT(1)")
    with RunningCapture(ShardCapture(sources, "s0", lake, db)):
        now = _stamp(TODAY)
        run_sql(
            db,
            "INSERT INTO orders VALUES "
            "(1, 'new', 1.00, NULL, %s, 1), (2, 'new', 2.00, NULL, %s, 7)",
            params=(now, now),
        )
        run_sql(db, "INSERT INTO orders VALUES (3, 'new', 3.00, NULL, %s, 0)", params=(now,))
        wait_caught_up(lake, "s0", db)
    ids = sorted(lake_rows(lake, sources, "s0", history=False)["id"].to_list())
    assert ids == ["1", "3"]
    files = list((lake.root / "changes" / "s0" / "_quarantine").glob("*.parquet"))
    rows = [r for f in files for r in pq.read_table(f).to_pylist()]
    assert len(rows) == 1
    assert rows[0]["table"] == "orders" and '"id": 2' in rows[0]["row"]
    assert "flag" in rows[0]["reason"] and rows[0]["position"].count("-") == 2


def test_a_purged_binlog_is_re_read_by_batch(binlog_server, tmp_path, monkeypatch) -> None:
    db, sources, lake, _ = _setup(binlog_server, tmp_path, monkeypatch, "cdc_purged")
    on_resync = []

    def capture() -> ShardCapture:
        return ShardCapture(
            sources,
            "s0",
            lake,
            db,
            on_handover=lambda t, at: extract_history(lake, sources, "s0", t, db, at),
            on_resync=lambda t, days, at: (
                on_resync.append(days),
                extract_days(lake, sources, "s0", t, db, days, at),
            ),
        )

    Writer(db, seed=11).run(transactions=20)
    with RunningCapture(capture()):
        Writer(db, seed=12, next_id=1_000, touch_from=1).run(transactions=20)
        wait_caught_up(lake, "s0", db)
    # Stopped: the shard goes on, and its binlog is purged before the capture reads it. The
    # re-read covers the days from the day before the last change landed (a late commit's),
    # as the batch extract would: the changes of the gap stamp their rows now.
    Writer(db, seed=13, next_id=2_000, spread=False).run(transactions=30)
    run_sql(binlog_server, "FLUSH BINARY LOGS")
    newest = run_sql(binlog_server, "SHOW BINARY LOGS")[-1][0]
    deadline = time.monotonic() + 30
    # The server keeps a file a replica's dump thread still reads: the stopped capture's
    # thread ends at its next heartbeat.
    while [r[0] for r in run_sql(binlog_server, "SHOW BINARY LOGS")] != [newest]:
        assert time.monotonic() < deadline, "the server did not purge the binlog"
        run_sql(binlog_server, f"PURGE BINARY LOGS TO '{newest}'")
        time.sleep(0.5)
    with RunningCapture(capture()):
        Writer(db, seed=14, next_id=3_000, spread=False).run(transactions=10)
        wait_caught_up(lake, "s0", db)
    assert on_resync and on_resync[0][-1] == TODAY
    assert read_checkpoint(lake.root, "s0").resync_from is None
    assert_frame_equal(lake_rows(lake, sources, "s0", history=False), source_rows(db))


def test_the_server_restarting_under_the_capture(tmp_path: Path, monkeypatch) -> None:
    server = start_server(tmp_path / "server", binlog=True)
    try:
        db, sources, lake, path = _setup(server.endpoint, tmp_path, monkeypatch, "cdc_restart")
        env = {
            **os.environ,
            "ETL_PLATFORM_SOURCES": str(path),
            "ETL_PLATFORM_LAKE": str(lake.root),
        }
        child = subprocess.Popen(
            [sys.executable, "-m", "etl_platform.cli", "cdc", "run", "--no-dagster"],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            Writer(db, seed=21).run(transactions=20)
            wait_caught_up(lake, "s0", db)
            stop_server(tmp_path / "server")
            start_server(tmp_path / "server", binlog=True, port=server.port)
            Writer(db, seed=22, next_id=500, touch_from=1).run(transactions=20)
            wait_caught_up(lake, "s0", db)
        finally:
            child.send_signal(signal.SIGTERM)
            assert child.wait(timeout=60) == 0, child.stderr.read()[-3000:]
        assert binlog_end(db).file_number >= 2  # the restart began a new binlog file
        assert_frame_equal(lake_rows(lake, sources, "s0", history=False), source_rows(db))
    finally:
        stop_server(tmp_path / "server")


def test_preflight_names_the_setting_to_change(
    binlog_server: MySqlEndpoint, mysql_server: MySqlEndpoint, tmp_path, monkeypatch, capsys
) -> None:
    _, _, _, path = _setup(binlog_server, tmp_path, monkeypatch, "cdc_preflight")
    monkeypatch.setenv("ETL_PLATFORM_SOURCES", str(path))
    monkeypatch.setenv("ETL_PLATFORM_LAKE", str(tmp_path / "lake"))
    assert cli_main(["cdc", "check"]) == 0
    out = capsys.readouterr().out
    assert "ok    binlog_format: ROW" in out and "ok    binlog_row_metadata: FULL" in out
    # The shared test server has no binlog: refused, with the setting to change.
    run_sql(mysql_server, "CREATE DATABASE IF NOT EXISTS cdc_preflight")
    monkeypatch.setenv(URL_ENV, mysql_server.with_database(None).url())
    assert cli_main(["cdc", "check"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  log_bin: OFF  -> log_bin = ON" in out
    assert cli_main(["cdc", "run", "--seconds", "5", "--no-dagster"]) == 2
    run_sql(mysql_server, "DROP DATABASE IF EXISTS cdc_preflight")


def test_an_event_that_cannot_be_decoded_is_set_aside(binlog_server, tmp_path, monkeypatch) -> None:
    from pymysqlreplication.row_event import WriteRowsEvent

    real = WriteRowsEvent._fetch_one_row

    def poisoned(self):
        row = real(self)
        if row["values"].get("status") == "poison":
            raise ValueError("bad packet")
        return row

    monkeypatch.setattr(WriteRowsEvent, "_fetch_one_row", poisoned)
    db, sources, lake, _ = _setup(binlog_server, tmp_path, monkeypatch, "cdc_undecodable")
    with RunningCapture(ShardCapture(sources, "s0", lake, db)):
        now = _stamp(TODAY)
        run_sql(db, "INSERT INTO orders VALUES (1, 'new', 1.00, NULL, %s)", params=(now,))
        run_sql(db, "INSERT INTO orders VALUES (2, 'poison', 2.00, NULL, %s)", params=(now,))
        run_sql(db, "INSERT INTO orders VALUES (3, 'new', 3.00, NULL, %s)", params=(now,))
        wait_caught_up(lake, "s0", db)
    assert sorted(lake_rows(lake, sources, "s0", history=False)["id"].to_list()) == ["1", "3"]
    files = list((lake.root / "changes" / "s0" / "_quarantine").glob("*.parquet"))
    rows = [r for f in files for r in pq.read_table(f).to_pylist()]
    assert [r["reason"] for r in rows] == ["table orders: ValueError: bad packet"]


def test_savepoints_rekeyed_rows_and_statement_changes(
    binlog_server, tmp_path, monkeypatch
) -> None:
    db, sources, lake, _ = _setup(binlog_server, tmp_path, monkeypatch, "cdc_savepoints")
    with RunningCapture(ShardCapture(sources, "s0", lake, db)):
        now = _stamp(TODAY)
        conn = db.connect(autocommit=False)
        with conn.cursor() as cur:
            # An ORM's savepoints inside a transaction: the rows before them still land.
            cur.execute("INSERT INTO orders VALUES (1, 'new', 1.00, NULL, %s)", (now,))
            cur.execute("SAVEPOINT a")
            cur.execute("INSERT INTO orders VALUES (2, 'new', 2.00, NULL, %s)", (now,))
            cur.execute("ROLLBACK TO SAVEPOINT a")
            cur.execute("INSERT INTO orders VALUES (3, 'new', 3.00, NULL, %s)", (now,))
            cur.execute("RELEASE SAVEPOINT a")
        conn.commit()
        # A new key on the same day: the old key's row is gone.
        run_sql(db, "UPDATE orders SET id = 30 WHERE id = 3")
        wait_caught_up(lake, "s0", db)
        assert_frame_equal(lake_rows(lake, sources, "s0", history=False), source_rows(db))
        # Rows changed by a statement logged as text cannot be captured: the table stops.
        run_sql(
            db,
            "SET SESSION binlog_format = 'STATEMENT'",
            "UPDATE orders SET status = 'paid' WHERE id = 1",
        )
        deadline = time.monotonic() + 30
        while "orders" not in read_checkpoint(lake.root, "s0").stopped:
            assert time.monotonic() < deadline, "the statement did not stop the table"
            time.sleep(0.2)
    reason = read_checkpoint(lake.root, "s0").stopped["orders"]
    assert reason.startswith("STATEMENT at ") and "status = 'paid'" in reason


def test_a_table_dropped_while_the_capture_was_down(binlog_server, tmp_path, monkeypatch) -> None:
    db, sources, lake, _ = _setup(binlog_server, tmp_path, monkeypatch, "cdc_dropped")
    with RunningCapture(ShardCapture(sources, "s0", lake, db)):
        wait_caught_up(lake, "s0", db)
    run_sql(db, "DROP TABLE orders")
    # The next start stops the table (it cannot read its columns) instead of failing for ever.
    capture = ShardCapture(sources, "s0", lake, db)
    checkpoint = capture.run()
    assert "does not exist" in checkpoint.stopped["orders"]


def test_days_the_capture_read_through_count_as_written(
    binlog_server, tmp_path, monkeypatch
) -> None:
    db, sources, lake, _ = _setup(binlog_server, tmp_path, monkeypatch, "cdc_quiet_days")
    capture = ShardCapture(sources, "s0", lake, db)
    capture.plans = {"orders": None}  # only the names are read
    since = TODAY - dt.timedelta(days=4)
    checkpoint = Checkpoint(
        BinlogPosition("binlog.000001", 4),
        confirmed_at=dt.datetime.now(dt.UTC),
        captured_since={"orders": since},
    )
    capture._mark_read_days(checkpoint)
    written = lake.raw("s0", "orders").written_days()
    # Quiet days after the handover's day through yesterday: written, with no rows.
    assert {since + dt.timedelta(days=i) for i in range(1, 4)} <= written
    assert TODAY not in written and since not in written


def test_a_batch_re_read_outranks_older_changes(binlog_server, tmp_path, monkeypatch) -> None:
    db, sources, lake, _ = _setup(binlog_server, tmp_path, monkeypatch, "cdc_reread")
    now = _stamp(TODAY)
    with RunningCapture(ShardCapture(sources, "s0", lake, db)):
        run_sql(db, "INSERT INTO orders VALUES (1, 'new', 1.00, NULL, %s)", params=(now,))
        wait_caught_up(lake, "s0", db)
    # Changed while nothing captures, then the day is read again by batch: the re-read's rows
    # carry the position taken before it, above the day's older change.
    run_sql(db, "UPDATE orders SET status = 'late' WHERE id = 1")
    extract_days(lake, sources, "s0", "orders", db, [TODAY], binlog_end(db))
    assert lake_rows(lake, sources, "s0", history=False)["status"].to_list() == ["late"]
    # The capture then reads the same update (below the re-read's position): no change.
    with RunningCapture(ShardCapture(sources, "s0", lake, db)):
        run_sql(db, "UPDATE orders SET status = 'done' WHERE id = 1")
        wait_caught_up(lake, "s0", db)
    assert_frame_equal(lake_rows(lake, sources, "s0", history=False), source_rows(db))
