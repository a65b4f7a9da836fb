"""`etl-platform cdc`: check the shards, run the capture, show where it stands."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from etl_platform.env import lake_root, sources_path

log = logging.getLogger("etl_platform.cdc")

#: Waits between restarts of a capture that failed (the shard down, a lost connection).
BACKOFF_SECONDS = (1, 2, 5, 10, 30)


def _sources():
    from etl_platform.specs.loader import load_checked_sources

    return load_checked_sources(sources_path())


def _captured_shards(sources, wanted: list[str] | None) -> list[str]:
    shards = [s for s in sources.shards if sources.cdc_tables(s)]
    if wanted:
        unknown = [s for s in wanted if s not in shards]
        if unknown:
            raise SystemExit(
                f"etl-platform cdc: {', '.join(unknown)}: not a shard with `mode: cdc` tables "
                f"(those are: {', '.join(shards) or 'none'})"
            )
        return wanted
    return shards


def cmd_cdc_check(args: argparse.Namespace) -> int:
    """Per shard, what the capture needs from the server; exit 1 when one fails."""
    from etl_platform.cdc.checkpoint import read_checkpoint
    from etl_platform.cdc.preflight import check_shard, failures
    from etl_platform.extract.connection import endpoint_for

    sources = _sources()
    shards = _captured_shards(sources, args.shard)
    if not shards:
        print("no table has `mode: cdc` in sources.yaml: nothing to check")
        return 0
    bad = 0
    for shard in shards:
        endpoint = endpoint_for(shard, sources.shards[shard])
        print(f"{shard} ({endpoint.describe()}): {', '.join(sources.cdc_tables(shard))}")
        try:
            conn = endpoint.connect(connect_timeout=sources.extract.connect_timeout_seconds)
        except Exception as e:  # a shard that is down is reported, the others go on
            print(f"  FAIL  connect: {e}")
            bad += 1
            continue
        try:
            found = check_shard(conn, read_checkpoint(Path(lake_root()), shard))
        finally:
            conn.close()
        for f in found:
            mark = "ok  " if f.ok else ("warn" if f.warning else "FAIL")
            fix = f"  -> {f.fix}" if not f.ok and f.fix else ""
            print(f"  {mark}  {f.name}: {f.value}{fix}")
        bad += bool(failures(found))
    return 1 if bad else 0


def cmd_cdc_status(args: argparse.Namespace) -> int:
    """Each captured shard's checkpoint and how far behind it is."""
    from etl_platform.cdc.checkpoint import read_checkpoint

    sources = _sources()
    now = dt.datetime.now(dt.UTC)
    for shard in _captured_shards(sources, args.shard):
        cp = read_checkpoint(Path(lake_root()), shard)
        if cp is None:
            print(f"{shard}: not started")
            continue
        seen = cp.confirmed_at or cp.last_commit
        behind = f"{(now - seen).total_seconds():.1f} s ago" if seen else "never"
        print(f"{shard}: at {cp.position} (gtid {cp.gtid or '-'}), caught up {behind}")
        for table, reason in cp.stopped.items():
            print(f"  STOPPED {table}: {reason}")
    return 0


def cmd_cdc_resume(args: argparse.Namespace) -> int:
    """Capture a table again after a TRUNCATE or DROP stopped it; its days since are re-read
    by the batch extract first (the table is handed over again)."""
    import dataclasses

    from etl_platform.cdc.checkpoint import read_checkpoint, write_checkpoint

    root = Path(lake_root())
    cp = read_checkpoint(root, args.shard)
    if cp is None or args.table not in cp.stopped:
        print(f"etl-platform cdc: {args.shard}.{args.table} is not stopped", file=sys.stderr)
        return 1
    stopped = {t: r for t, r in cp.stopped.items() if t != args.table}
    handed = tuple(t for t in cp.handed_over if t != args.table)
    write_checkpoint(root, args.shard, dataclasses.replace(cp, stopped=stopped, handed_over=handed))
    print(f"{args.shard}.{args.table}: resumes at the next `cdc run`, after a re-read of its days")
    return 0


def cmd_cdc_run(args: argparse.Namespace) -> int:
    """The capture of each shard with `mode: cdc` tables until stopped (SIGTERM, Ctrl-C, or
    `--seconds`): in this process for one shard, a child process per shard for several."""
    sources = _sources()
    shards = _captured_shards(sources, args.shard)
    if not shards:
        print("no table has `mode: cdc` in sources.yaml: nothing to capture", file=sys.stderr)
        return 1
    if len(shards) == 1:
        return _run_one(sources, shards[0], args)
    return _supervise(shards, args)


def _stop_event(seconds: float | None) -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if seconds:
        timer = threading.Timer(seconds, stop.set)
        timer.daemon = True
        timer.start()
    return stop


def _run_one(sources, shard: str, args: argparse.Namespace) -> int:
    import pymysql

    from etl_platform.cdc.capture import ShardCapture
    from etl_platform.cdc.checkpoint import read_checkpoint
    from etl_platform.cdc.handover import extract_days, extract_history
    from etl_platform.cdc.preflight import check_shard, failures
    from etl_platform.extract.connection import ShardUnavailableError, endpoint_for
    from etl_platform.load.lake import Lake

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    lake = Lake(Path(lake_root()))
    endpoint = endpoint_for(shard, sources.shards[shard])
    stop = _stop_event(args.seconds)
    reporter = None if args.no_dagster else _reporter()
    capture = ShardCapture(
        sources,
        shard,
        lake,
        endpoint,
        on_flush=reporter,
        on_handover=lambda table, at: extract_history(lake, sources, shard, table, endpoint, at),
        on_resync=lambda table, days, at: extract_days(
            lake, sources, shard, table, endpoint, days, at
        ),
        on_stop=None if reporter is None else reporter.stopped,
        on_confirm=None if reporter is None else reporter.confirmed,
    )
    attempt = 0
    while not stop.is_set():
        try:
            conn = endpoint.connect(connect_timeout=sources.extract.connect_timeout_seconds)
            try:
                problems = failures(check_shard(conn, read_checkpoint(lake.root, shard)))
            finally:
                conn.close()
            if problems:
                for f in problems:
                    log.error("shard %s: %s is %s; set %s", shard, f.name, f.value, f.fix)
                return 2
            checkpoint = capture.run(stop)
            attempt = 0
            if not stop.is_set() and set(capture.rules) <= set(checkpoint.stopped):
                log.error(
                    "shard %s: every captured table is stopped (%s); waiting for "
                    "`etl-platform cdc resume`, then a restart",
                    shard,
                    "; ".join(f"{t}: {r}" for t, r in checkpoint.stopped.items()),
                )
                stop.wait()
        except (pymysql.err.Error, ShardUnavailableError, OSError) as e:
            wait = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)]
            log.warning("shard %s: capture stopped (%s); again in %s s", shard, e, wait)
            attempt += 1
            stop.wait(wait)
        finally:
            if reporter is not None:
                reporter.flush()
    return 0


def _reporter():
    """Runless events into the Dagster instance of DAGSTER_HOME, when there is one."""
    if not os.environ.get("DAGSTER_HOME"):
        log.warning("DAGSTER_HOME is not set: the capture's progress is not reported to Dagster")
        return None
    import dagster as dg

    from etl_platform.cdc.dagster_events import DagsterReporter

    return DagsterReporter(dg.DagsterInstance.get())


def _supervise(shards: list[str], args: argparse.Namespace) -> int:
    """A child process per shard, restarted when it dies: one shard's failure (or GIL) does
    not hold the others."""
    stop = _stop_event(args.seconds)

    def command(shard: str) -> list[str]:
        cmd = [sys.executable, "-m", "etl_platform.cli", "cdc", "run", "--shard", shard]
        return [*cmd, "--no-dagster"] if args.no_dagster else cmd

    children = {s: subprocess.Popen(command(s)) for s in shards}
    restarts = dict.fromkeys(shards, 0)
    while not stop.is_set():
        for shard, child in list(children.items()):
            if child.poll() is not None and not stop.is_set():
                wait = BACKOFF_SECONDS[min(restarts[shard], len(BACKOFF_SECONDS) - 1)]
                log.warning(
                    "shard %s: capture exited (%s); restarting in %s s",
                    shard,
                    child.returncode,
                    wait,
                )
                time.sleep(wait)
                restarts[shard] += 1
                children[shard] = subprocess.Popen(command(shard))
        stop.wait(1)
    for child in children.values():
        child.send_signal(signal.SIGTERM)
    for child in children.values():
        child.wait(timeout=60)
    return 0


def add_cdc_parser(sub: argparse._SubParsersAction) -> None:
    cdc = sub.add_parser("cdc", help="binlog change data capture").add_subparsers(
        dest="cdc", required=True
    )
    p = cdc.add_parser(
        "check", help="what each captured shard's server offers (exit 1 on a failure)"
    )
    p.add_argument("--shard", action="append")
    p.set_defaults(func=cmd_cdc_check)
    p = cdc.add_parser("run", help="capture the binlog of the shards with `mode: cdc` tables")
    p.add_argument("--shard", action="append", help="this shard only (repeatable)")
    p.add_argument("--seconds", type=float, help="stop after this long (default: until stopped)")
    p.add_argument("--no-dagster", action="store_true", help="do not report to Dagster")
    p.set_defaults(func=cmd_cdc_run)
    p = cdc.add_parser("status", help="each captured shard's checkpoint and lag")
    p.add_argument("--shard", action="append")
    p.set_defaults(func=cmd_cdc_status)
    p = cdc.add_parser("resume", help="capture a table a TRUNCATE or DROP stopped")
    p.add_argument("--shard", required=True)
    p.add_argument("--table", required=True)
    p.set_defaults(func=cmd_cdc_resume)
