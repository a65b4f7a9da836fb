"""What the bench watches while the load runs, each on a thread of the bench process: the
view's Parquet through DuckDB (when a change became queryable), the change files as they land
(when a change left the capture), the view refresh loop, and the CPU of each process group."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path

import duckdb
import polars as pl
import psutil
import pyarrow.parquet as pq

KEY = ["shard", "id", "written_us"]


class _Loop(threading.Thread):
    """Calls `tick` every `every` seconds until stopped."""

    def __init__(self, every: float) -> None:
        super().__init__(daemon=True)
        self.every = every
        self.halt = threading.Event()
        self.errors: list[str] = []

    def tick(self) -> None:
        raise NotImplementedError

    def run(self) -> None:
        while not self.halt.is_set():
            started = time.monotonic()
            try:
                self.tick()
            except Exception as e:  # a bench thread records its failures and goes on
                self.errors.append(f"{type(e).__name__}: {e}")
            self.halt.wait(max(0.0, self.every - (time.monotonic() - started)))

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=120)


class ViewPoller(_Loop):
    """Every `every` s, the view's rows through DuckDB; each (shard, id, written_at) not seen
    before is recorded with the poll's start time (when it was queryable)."""

    def __init__(self, lake: Path, view: str, every: float = 0.5) -> None:
        super().__init__(every)
        self.folder = lake / "views" / view
        self.conn = duckdb.connect()
        self.found: list[pl.DataFrame] = []
        self.seen = pl.DataFrame(
            schema={"shard": pl.String, "id": pl.Int64, "written_us": pl.Int64}
        )
        self.signature: tuple = ()
        self.polls = self.reads = 0
        self.read_seconds = 0.0
        self.latest = pl.DataFrame()

    def tick(self) -> None:
        self.polls += 1
        now = time.time()
        files = sorted(self.folder.glob("*/*.parquet"))
        signature = tuple((str(f), _mtime(f)) for f in files)
        if not files or signature == self.signature:
            return
        listed = ", ".join(f"'{f}'" for f in files)
        started = time.perf_counter()
        try:
            arrow = self.conn.sql(
                f"SELECT _shard AS shard, CAST(order_id AS BIGINT) AS id, "
                f"epoch_us(written_at) AS written_us FROM read_parquet([{listed}])"
            ).to_arrow_table()
        except duckdb.IOException:  # a day swapped in between the listing and the read
            return
        self.read_seconds += time.perf_counter() - started
        frame = pl.DataFrame(pl.from_arrow(arrow))
        self.reads += 1
        self.signature = signature
        self.latest = frame
        new = frame.join(self.seen, on=KEY, how="anti")
        if new.height:
            self.seen = pl.concat([self.seen, new]).rechunk()
            self.found.append(new.with_columns(pl.lit(now).alias("visible")))

    def visible(self) -> pl.DataFrame:
        schema = {**self.seen.schema, "visible": pl.Float64}
        return pl.concat(self.found) if self.found else pl.DataFrame(schema=schema)


class ChangeScanner(_Loop):
    """Every `every` s, the change files not seen before: their rows' stamps and the file's
    mtime (when the change landed). Files live until a compaction (dozens of flushes)."""

    def __init__(self, lake: Path, table: str, every: float = 0.5) -> None:
        super().__init__(every)
        self.pattern = f"*/{table}/*/c-*.parquet"
        self.root = lake / "changes"
        self.done: set[Path] = set()
        self.found: list[pl.DataFrame] = []
        self.missed = 0

    def tick(self) -> None:
        for path in sorted(self.root.glob(self.pattern)):
            if path in self.done:
                continue
            self.done.add(path)
            try:
                landed = path.stat().st_mtime
                table = pq.read_table(path, columns=["id", "updated_at"])
            except FileNotFoundError:  # compacted before it was read
                self.missed += 1
                continue
            frame = pl.DataFrame(pl.from_arrow(table))
            self.found.append(
                frame.select(
                    pl.lit(path.parts[-4]).alias("shard"),
                    pl.col("id").cast(pl.Int64),
                    pl.col("updated_at").dt.epoch("us").alias("written_us"),
                    pl.lit(landed).alias("landed"),
                )
            )

    def landed(self) -> pl.DataFrame:
        if not self.found:
            schema = {"shard": pl.String, "id": pl.Int64, "written_us": pl.Int64}
            return pl.DataFrame(schema={**schema, "landed": pl.Float64})
        return pl.concat(self.found).group_by(KEY).agg(pl.col("landed").min())


@dataclasses.dataclass(frozen=True)
class Cycle:
    start: float
    end: float
    rows: int
    error: str | None = None


class ViewRefresher(_Loop):
    """Today's view day rebuilt back to back: `build_view_day(ViewInputs(...), today)`, the
    function the view asset runs for each day of its run."""

    def __init__(self, build: Callable[[dt.date, str], int]) -> None:
        super().__init__(0.0)
        self.build = build
        self.cycles: list[Cycle] = []

    def tick(self) -> None:
        day = dt.datetime.now(dt.UTC).date()
        start = time.time()
        try:
            rows = self.build(day, f"bench-{uuid.uuid4()}")
        except Exception as e:  # recorded with the platform's innermost frame, and go on
            frames = [
                f for f in traceback.extract_tb(e.__traceback__) if "etl_platform" in f.filename
            ]
            where = (
                f" at {frames[-1].filename.split('/work/main/')[-1]}:{frames[-1].lineno}"
                if frames
                else ""
            )
            self.cycles.append(Cycle(start, time.time(), 0, f"{type(e).__name__}{where}: {e}"))
            self.halt.wait(0.5)
            return
        self.cycles.append(Cycle(start, time.time(), rows))


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


class CpuSampler(_Loop):
    """CPU seconds (user + system) of each process group, sampled every second so a process
    that exits keeps its last figure; `mark` samples now and keeps the totals under a name."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        super().__init__(1.0)
        self.groups = groups
        self.by_pid: dict[str, dict[int, float]] = {g: {} for g in groups}
        self.marks: dict[str, tuple[float, dict[str, float]]] = {}
        self.lock = threading.Lock()

    def tick(self) -> None:
        with self.lock:
            for group, pids in self.groups.items():
                for pid in pids():
                    with contextlib.suppress(psutil.Error):
                        times = psutil.Process(pid).cpu_times()
                        self.by_pid[group][pid] = times.user + times.system

    def mark(self, name: str) -> None:
        self.tick()
        machine = psutil.cpu_times()
        busy = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
        with self.lock:
            totals = {g: sum(v.values()) for g, v in self.by_pid.items()}
        self.marks[name] = (time.time(), {**totals, "machine": busy})

    def share(self, first: str, last: str) -> dict[str, float]:
        """Each group's CPU between two marks over wall time and cores (1.0 = every core)."""
        (t0, a), (t1, b) = self.marks[first], self.marks[last]
        cores = os.cpu_count() or 1
        out = {g: (b[g] - a[g]) / (t1 - t0) / cores for g in b}
        # What the machine spent beyond the bench's groups: the kernel, and anything else.
        out["other"] = out["machine"] - sum(v for g, v in out.items() if g != "machine")
        return out


def process_tree(pid: int) -> Callable[[], list[int]]:
    def pids() -> list[int]:
        try:
            root = psutil.Process(pid)
            return [pid, *(p.pid for p in root.children(recursive=True))]
        except psutil.Error:
            return []

    return pids
