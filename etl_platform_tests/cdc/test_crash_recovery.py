"""Exactly-once across crashes: `etl-platform cdc run` killed with SIGKILL while a file is half
written, after a change file and before the checkpoint, after the checkpoint, and at random
moments (a reader mid-transaction among them), restarted each time while the shard keeps
writing; the lake then equals the source table row for row: nothing lost, nothing doubled."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from etl_platform.cdc.capture import CRASH_ENV
from etl_platform.cdc.checkpoint import read_checkpoint
from etl_platform.extract.binlog_stream import current_position
from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.load.lake import Lake
from etl_platform_tests.cdc.harness import (
    URL_ENV,
    Writer,
    create_database,
    lake_rows,
    source_rows,
    sources_for,
    write_sources,
)
from etl_platform_tests.conftest import run_sql

pytestmark = pytest.mark.integration


def _capture(env: dict[str, str], crash: str | None = None) -> subprocess.Popen:
    child_env = {k: v for k, v in env.items() if k != CRASH_ENV}
    if crash:
        child_env[CRASH_ENV] = crash
    return subprocess.Popen(
        [sys.executable, "-m", "etl_platform.cli", "cdc", "run", "--shard", "s0", "--no-dagster"],
        env=child_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _position(endpoint: MySqlEndpoint):
    conn = endpoint.connect()
    try:
        return current_position(conn)
    finally:
        conn.close()


def test_sigkill_anywhere_loses_and_doubles_nothing(
    binlog_server: MySqlEndpoint, tmp_path: Path, monkeypatch
) -> None:
    db = create_database(binlog_server, "cdc_crash")
    Writer(db, seed=3).run(transactions=30)
    today = dt.datetime.now(dt.UTC).date()
    sources_file = write_sources(
        tmp_path,
        ["cdc_crash"],
        start=today - dt.timedelta(days=5),
        batch_seconds=0.1,
        compact_files=3,  # compaction runs between the crashes too
    )
    sources = sources_for(sources_file, binlog_server, monkeypatch)
    lake = Lake(tmp_path / "lake")
    env = {
        **os.environ,
        "ETL_PLATFORM_SOURCES": str(sources_file),
        "ETL_PLATFORM_LAKE": str(lake.root),
        URL_ENV: os.environ[URL_ENV],
    }
    writer = Writer(db, seed=4, next_id=10_000, touch_from=1)
    writing = threading.Thread(target=writer.run, kwargs={"pause": 0.005})
    writing.start()
    kills = []
    try:
        for crash in ("mid_file:2", "after_file:3", "after_checkpoint:2", "mid_file:1"):
            child = _capture(env, crash)
            code = child.wait(timeout=120)
            assert code == -signal.SIGKILL, f"{crash}: exited {code}: {child.stderr.read()[-2000:]}"
            kills.append(crash)
        rng = random.Random(5)
        for _ in range(3):
            child = _capture(env)
            time.sleep(rng.uniform(1.0, 3.0))
            # A large transaction in flight makes a kill mid-transaction likely.
            run_sql(
                db,
                "UPDATE orders SET amount = amount + 1, updated_at = updated_at WHERE id % 3 = 0",
            )
            time.sleep(rng.uniform(0.0, 0.3))
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
            kills.append("random")
    finally:
        writer.stop.set()
        writing.join(timeout=60)
    assert writer.committed > 50
    child = _capture(env)
    # A write after the start: only this capture can reach it, so it is running (its SIGTERM
    # handler installed) when the stop below is sent.
    run_sql(db, "UPDATE orders SET amount = amount + 1, updated_at = updated_at WHERE id % 3 = 0")
    target = _position(db)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            cp = read_checkpoint(lake.root, "s0")
            if cp is not None and cp.position >= target:
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"the capture did not catch up with {target}")
    finally:
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=60) == 0, child.stderr.read()[-2000:]
    assert len(kills) == 7
    # A crash's half-written file was left behind and is not read.
    leftovers = list((lake.root / "changes").rglob("*.tmp"))
    assert leftovers
    # Compaction ran: some days' changes were merged into their day files.
    merged = [
        f
        for f in lake.raw("s0", "orders").dir.rglob("*.parquet")
        if "_op" in pq.read_schema(f).names
    ]
    assert merged
    expected = source_rows(db)
    assert_frame_equal(lake_rows(lake, sources, "s0", history=False), expected)
