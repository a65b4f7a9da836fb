"""Commit-to-queryable latency of the binlog capture, with where the seconds go.

    python -m bench.cdc.latency [--shards 4 --low-rate 200 --high-rate 2000 --seconds 180]

Why: issue's targets, p95 <= 30 s at 200 changes/s and <= 2 min at 2,000/s. In a temp folder:
a private `mariadbd` per shard (binlog on) with a seeded `orders` table, `mode: cdc` in a
generated `sources.yaml` (`cdc: {batch_seconds: 1}`), one view over it; `etl-platform cdc run
--no-dagster` as a subprocess (a child per shard); a writer process per shard at a steady rate
(phase 1 the low rate, phase 2 the high rate); today's view day rebuilt back to back in this
process (`build_view_day`, the view asset's per-day function); a DuckDB poller of the view's
Parquet every 0.5 s. Then the refresh's cost through Dagster (`run_range`) against the bare
function, and one reader's events/s ceiling (N changes written with the capture stopped, then
the time it takes to catch up). Prints a table; writes `<dir>/report.{json,md}`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from etl_platform.runtime import configure_process

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "etl-platform")


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.cdc.latency", description=__doc__)
    p.add_argument("--shards", type=int, default=4)
    p.add_argument("--low-rate", type=float, default=200, help="phase 1, changes/s over all shards")
    p.add_argument("--high-rate", type=float, default=2000, help="phase 2, changes/s")
    p.add_argument("--seconds", type=float, default=180, help="length of each phase")
    p.add_argument("--seed-rows", type=int, default=20_000, help="orders per shard before")
    p.add_argument("--batch-seconds", type=float, default=1.0, help="cdc.batch_seconds")
    p.add_argument("--drain", type=float, default=300, help="wait at most this for the backlog")
    p.add_argument("--ceiling-changes", type=int, default=50_000, help="0: skip the ceiling")
    p.add_argument("--dir", type=Path, default=PROJECT_ROOT / ".local" / "bench-cdc")
    p.add_argument("--keep", action="store_true", help="keep the temp folder (servers, lake)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    configure_process()  # as the platform's entry points do, before polars and pyarrow load
    from bench.cdc import run_steps
    from bench.cdc.figures import markdown
    from bench.cdc.shards import start_shards, stop_shards

    args.dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="etl-cdc-bench-"))
    capture: subprocess.Popen | None = None
    writers: list[multiprocessing.Process] = []
    print(f"work folder: {work}", flush=True)
    try:
        shards = start_shards(work, args.shards)
        run = run_steps.Run(args, work, shards, writers)
        run.prepare()
        capture = run.start_capture()
        run.wait_handover()
        report = run.load_phases()
        report["refresh_cost"] = run.refresh_cost()
        _stop(capture)
        capture = None
        if args.ceiling_changes:
            report["ceiling"] = run.ceiling(args.ceiling_changes)
        report["command"] = "python -m bench.cdc.latency " + " ".join(argv or sys.argv[1:])
        table = markdown(report)
        (args.dir / "report.json").write_text(json.dumps(report, indent=2, default=str))
        (args.dir / "report.md").write_text(table + "\n")
        print(table)
        print(
            json.dumps({k: report[k] for k in ("refresh_cost", "ceiling") if k in report}, indent=2)
        )
        return 0
    finally:
        for writer in writers:
            if writer.is_alive():
                writer.terminate()
                writer.join(timeout=10)
        if capture is not None:
            _stop(capture)
        stop_shards(work, args.shards)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the capture's supervisor (it stops its children), then its group by force."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    for _ in range(50):  # the children share its process group (a new session)
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
