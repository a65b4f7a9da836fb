"""The steps of one latency run, in the order `bench.cdc.latency` calls them."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import subprocess
import time
import warnings
from pathlib import Path

import polars as pl

from bench.cdc.figures import change_times, phase_figures
from bench.cdc.load import WriterJob, run_writer
from bench.cdc.observe import ChangeScanner, CpuSampler, ViewPoller, ViewRefresher, process_tree
from bench.cdc.shards import DATABASE, VIEW, Shard, seed, write_project
from etl_platform.cdc.checkpoint import read_checkpoint
from etl_platform.extract.binlog_stream import current_position
from etl_platform.load.lake import Lake
from etl_platform.specs.loader import load_sources
from etl_platform.specs.views import ViewSpec
from etl_platform.steps.view_days import ViewInputs, build_view_day

SPAWN = multiprocessing.get_context("spawn")


class Run:
    def __init__(
        self,
        args: argparse.Namespace,
        work: Path,
        shards: list[Shard],
        writers: list[multiprocessing.Process],
    ) -> None:
        self.args, self.work, self.shards, self.writers = args, work, shards, writers
        self.lake = Lake(work / "lake")
        self.env: dict[str, str] = {}
        self.capture: subprocess.Popen | None = None

    # -- setup ---------------------------------------------------------------------------

    def prepare(self) -> None:
        for i, shard in enumerate(self.shards):
            seed(shard, self.args.seed_rows, seed_value=i)
        self.env = write_project(self.work, self.shards, batch_seconds=self.args.batch_seconds)
        self.sources = load_sources(self.work / "sources.yaml")
        from bench.cdc.shards import VIEW_ATTRIBUTES

        self.spec = ViewSpec.model_validate(VIEW_ATTRIBUTES)

    def start_capture(self, *shards: str) -> subprocess.Popen:
        """`etl-platform cdc run --no-dagster` (a child per shard), its log in the work folder."""
        from bench.cdc.latency import CLI

        argv = [CLI, "cdc", "run", "--no-dagster", *(a for s in shards for a in ("--shard", s))]
        log = open(self.work / f"capture{'-' + '-'.join(shards) if shards else ''}.log", "ab")  # noqa: SIM115
        env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
        proc = subprocess.Popen(
            argv, env={**env, **self.env}, stdout=log, stderr=log, start_new_session=True
        )
        if not shards:
            self.capture = proc
        return proc

    def wait_handover(self, timeout: float = 180) -> None:
        """Until every shard's capture stored its position and extracted its history."""
        today = dt.datetime.now(dt.UTC).date()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            cps = [read_checkpoint(self.lake.root, s.name) for s in self.shards]
            raw = [self.lake.raw(s.name, "orders").is_written(today) for s in self.shards]
            if all(cp is not None and "orders" in cp.handed_over for cp in cps) and all(raw):
                return
            time.sleep(0.5)
        raise TimeoutError(f"the capture's handover did not finish in {timeout} s; see {self.work}")

    def build_today(self, day: dt.date, run_id: str) -> int:
        result = build_view_day(ViewInputs(self.spec, self.sources, self.lake, run_id), day)
        return sum(s.rows_out for s in result.stats.values())

    # -- the two phases ------------------------------------------------------------------

    def load_phases(self) -> dict:
        args = self.args
        first = time.perf_counter()
        self.build_today(dt.datetime.now(dt.UTC).date(), "bench-first")
        first_build = time.perf_counter() - first
        poller = ViewPoller(self.lake.root, VIEW)
        scanner = ChangeScanner(self.lake.root, "orders")
        refresher = ViewRefresher(self.build_today)
        capture_pid = self.capture.pid
        cpu = CpuSampler(
            {
                "capture": process_tree(capture_pid),
                "servers": lambda: [_server_pid(s) for s in self.shards],
                "writers": lambda: [w.pid for w in self.writers if w.pid],
                "bench": lambda: [os.getpid()],
            }
        )
        threads = [poller, scanner, refresher, cpu]
        for t in threads:
            t.start()
        start_at = time.time() + 3.0
        phases = ((args.low_rate, args.seconds), (args.high_rate, args.seconds))
        n = len(self.shards)
        for i, shard in enumerate(self.shards):
            job = WriterJob(
                shard=shard.name,
                host="127.0.0.1",
                port=shard.server.port,
                database=DATABASE,
                next_id=args.seed_rows + 1,
                out=str(self.work / f"writer-{shard.name}"),
                seed=100 + i,
                phases=tuple((rate / n, seconds) for rate, seconds in phases),
                start_at=start_at,
            )
            self.writers.append(SPAWN.Process(target=run_writer, args=(job,)))
            self.writers[-1].start()
        bounds = [start_at, start_at + args.seconds, start_at + 2 * args.seconds]
        for name, at in zip(("start", "low_end", "high_end"), bounds, strict=True):
            time.sleep(max(0.0, at - time.time()))
            cpu.mark(name)
            print(f"{time.strftime('%H:%M:%S')} {name}", flush=True)
        for writer in self.writers:
            writer.join()
        drained = self._drain(poller, args.drain)
        cpu.mark("drained")
        for t in threads:
            t.stop()
        changes, done = self._writer_logs()
        times = change_times(changes, poller.visible(), scanner.landed(), refresher.cycles)
        report_phases = []
        for phase, (rate, seconds) in enumerate(phases):
            window = (bounds[phase], bounds[phase + 1])
            achieved = sum(d[phase]["done"] for d in done) / seconds
            report_phases.append(
                {
                    "name": ["low", "high"][phase],
                    "target_rate": rate,
                    "achieved_rate": achieved,
                    "writers": [d[phase] for d in done],
                    "figures": phase_figures(times, phase, refresher.cycles, window),
                    "cpu": cpu.share(["start", "low_end"][phase], ["low_end", "high_end"][phase]),
                }
            )
        return {
            "settings": {**vars(args), "dir": str(args.dir), "cores": os.cpu_count()},
            "first_build_seconds": first_build,
            "phases": report_phases,
            "drain": {**drained, "cpu": cpu.share("high_end", "drained")},
            "poller": {
                "polls": poller.polls,
                "reads": poller.reads,
                "read_seconds": poller.read_seconds,
            },
            "scanner_missed_files": scanner.missed,
            "thread_errors": {type(t).__name__: t.errors[:5] for t in threads if t.errors},
            "cycle_errors": sorted({c.error for c in refresher.cycles if c.error})[:5],
        }

    def _drain(self, poller: ViewPoller, timeout: float) -> dict:
        """Until the view holds every shard's rows as the server has them now."""
        want = {}
        for shard in self.shards:
            conn = shard.endpoint.connect()
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT COUNT(*), MAX(updated_at) FROM orders")
                    count, newest = cur.fetchone()
            finally:
                conn.close()
            epoch = dt.datetime(1970, 1, 1)
            want[shard.name] = (count, (newest - epoch) // dt.timedelta(microseconds=1))
        started = time.time()
        while time.time() - started < timeout:
            latest = poller.latest
            if latest.height:
                have = {
                    r["shard"]: (r["n"], r["newest"])
                    for r in latest.group_by("shard")
                    .agg(pl.len().alias("n"), pl.col("written_us").max().alias("newest"))
                    .to_dicts()
                }
                if all(have.get(s) == w for s, w in want.items()):
                    return {"seconds": time.time() - started, "complete": True}
            time.sleep(1.0)
        return {"seconds": time.time() - started, "complete": False}

    def _writer_logs(self) -> tuple[pl.DataFrame, list[list[dict]]]:
        frames, done = [], []
        for shard in self.shards:
            base = self.work / f"writer-{shard.name}"
            frames.append(pl.read_parquet(f"{base}.parquet"))
            done.append(json.loads(Path(f"{base}.json").read_text()))
        return pl.concat(frames), done

    # -- afterwards ----------------------------------------------------------------------

    def refresh_cost(self, rounds: int = 3) -> dict:
        """Today's view day through `build_view_day` and through Dagster's `build_views` job
        (`run_range`, one run, the view and its rejects), same data, capture idle."""
        import dagster as dg

        # As the platform's CLI: Dagster's own beta/preview notices, which nothing here acts on.
        for category in (dg.BetaWarning, dg.PreviewWarning):
            warnings.filterwarnings("ignore", category=category)
        from etl_platform.asset_keys import rejects_asset_key, view_asset_key
        from etl_platform.definitions import build_definitions
        from etl_platform.env import Environment
        from etl_platform.runner import run_range

        today = dt.datetime.now(dt.UTC).date()
        bare = []
        for i in range(rounds):
            started = time.perf_counter()
            self.build_today(today, f"bench-cost-{i}")
            bare.append(time.perf_counter() - started)
        started = time.perf_counter()
        defs = build_definitions(Environment.TEST)
        load_seconds = time.perf_counter() - started
        dagster = []
        (self.work / "dagster").mkdir()
        with dg.DagsterInstance.local_temp(tempdir=str(self.work / "dagster")) as instance:
            for _ in range(rounds):
                started = time.perf_counter()
                run = run_range(
                    defs,
                    "build_views",
                    today,
                    today,
                    instance=instance,
                    asset_selection=[view_asset_key(VIEW), rejects_asset_key(VIEW)],
                )
                dagster.append(time.perf_counter() - started)
                if not run.success:
                    return {"bare_seconds": bare, "run_range_error": str(run.outcomes)}
        return {
            "bare_seconds": bare,
            "build_definitions_seconds": load_seconds,
            "run_range_seconds": dagster,
        }

    def ceiling(self, count: int) -> dict:
        """One reader's events/s: `count` changes written to the first shard with the capture
        stopped, then `cdc run --shard` timed from its start until its checkpoint reaches the
        binlog's end."""
        import psutil

        shard = self.shards[0]
        conn = shard.endpoint.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT MAX(id) FROM orders")
                next_id = int(cur.fetchone()[0]) + 1
        finally:
            conn.close()
        job = WriterJob(
            shard=shard.name,
            host="127.0.0.1",
            port=shard.server.port,
            database=DATABASE,
            next_id=next_id,
            out=str(self.work / "writer-ceiling"),
            seed=999,
            count=count,
        )
        writer = SPAWN.Process(target=run_writer, args=(job,))
        self.writers.append(writer)
        writer.start()
        writer.join()
        wrote = json.loads(Path(f"{job.out}.json").read_text())[0]["seconds"]
        conn = shard.endpoint.connect()
        try:
            target = current_position(conn)
        finally:
            conn.close()
        scanner = ChangeScanner(self.lake.root, "orders", every=0.2)
        scanner.done.update(self.lake.root.glob("changes/*/orders/*/c-*.parquet"))
        scanner.start()
        started = time.time()
        proc = self.start_capture(shard.name)
        try:
            while True:
                cp = read_checkpoint(self.lake.root, shard.name)
                if cp.position >= target:
                    break
                if proc.poll() is not None or time.time() - started > 900:
                    raise RuntimeError(
                        f"{shard.name}: the capture did not catch up ({cp.position})"
                    )
                time.sleep(0.1)
            caught = time.time()
            times = psutil.Process(proc.pid).cpu_times()
        finally:
            from bench.cdc.latency import _stop

            _stop(proc)
            scanner.stop()
        total = caught - started
        files = scanner.landed().group_by("landed").agg(pl.len().alias("rows")).sort("landed")
        first_file = files["landed"][0] if files.height else caught
        steady = files["rows"][1:].sum() / max(files["landed"][-1] - first_file, 1e-3)
        return {
            "changes": count,
            "write_seconds": wrote,
            "catch_up_seconds": total,
            "events_per_second": count / total,
            "start_to_first_file_seconds": first_file - started,
            "change_files": files.height,
            "events_per_second_between_files": steady if files.height > 1 else None,
            "capture_cores": (times.user + times.system) / total,
        }


def _server_pid(shard: Shard) -> int:
    return int((shard.server.datadir / "mariadbd.pid").read_text().strip())
