"""What the bench's parts share: the run's settings (as JSON) and the measuring of one process."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

PYTHON = sys.executable
SAMPLE_SECONDS = 0.05


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """Where the seeded shards are and which days they cover; written to JSON for the variants."""

    host: str
    port: int
    user: str
    databases: list[str]
    first: str  # ISO day: the first partition of the range that covers every row
    last: str
    work: str  # the folder with sources.yaml, sources.schema.yaml and views/

    @property
    def first_day(self) -> dt.date:
        return dt.date.fromisoformat(self.first)

    @property
    def last_day(self) -> dt.date:
        return dt.date.fromisoformat(self.last)

    def url(self, database: str, scheme: str = "mysql") -> str:
        return f"{scheme}://{self.user}@{self.host}:{self.port}/{database}"

    def window(self) -> tuple[str, str]:
        """[first 00:00, last+1 00:00) as SQL literals."""
        end = self.last_day + dt.timedelta(days=1)
        return f"{self.first} 00:00:00", f"{end.isoformat()} 00:00:00"

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(dataclasses.asdict(self), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> BenchConfig:
        return cls(**json.loads(Path(path).read_text()))


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One run of one variant: process wall time, the variant's own work time, peak tree RSS."""

    variant: str
    wall_seconds: float
    work_seconds: float
    peak_rss_bytes: int
    rows: int
    detail: dict[str, object]
    #: CPU (user + system) of the variant's process tree, and of the MariaDB server meanwhile:
    #: on 2 cores shared by both, what a variant costs in CPU bounds how fast it can be.
    cpu_seconds: float = 0.0
    server_cpu_seconds: float = 0.0


def emit(rows: int, seconds: float, **detail: object) -> None:
    """A variant's last stdout line: what it did, read by `measure`."""
    print(json.dumps({"rows": rows, "seconds": seconds, **detail}, default=str), flush=True)


#: One sample of a variant's run: (epoch seconds, tree RSS bytes, tree CPU s, server CPU s).
Sample = tuple[float, int, float, float]


def _tree_sample(proc: psutil.Process) -> tuple[int, float]:
    """RSS and CPU seconds (user + system) of `proc` and its live children."""
    rss, cpu = 0, 0.0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0, 0.0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied), p.oneshot():
            rss += p.memory_info().rss
            times = p.cpu_times()
            cpu += times.user + times.system
    return rss, cpu


def step_peaks(timeline: list[Sample], spans: dict[str, list[float]]) -> dict[str, int]:
    """The highest tree RSS (MiB) sampled while each step ran: which step makes the peak."""
    peaks = {}
    for step, (start, end) in sorted(spans.items(), key=lambda kv: kv[1][0]):
        during = [sample[1] for sample in timeline if start <= sample[0] <= end]
        peaks[step] = round(max(during, default=0) / 2**20)
    return peaks


def step_cores(timeline: list[Sample], spans: dict[str, list[float]]) -> dict[str, list[float]]:
    """Cores each step kept busy, [the variant's tree, the server]: CPU seconds between the
    samples nearest its start and end over the time between them. On 2 cores shared with the
    server, what a step leaves idle is what overlapping it with other work could win."""
    cores: dict[str, list[float]] = {}
    if len(timeline) < 2:
        return cores
    for step, (start, end) in sorted(spans.items(), key=lambda kv: kv[1][0]):
        first = min(timeline, key=lambda sample: abs(sample[0] - start))
        last = min(timeline, key=lambda sample: abs(sample[0] - end))
        seconds = last[0] - first[0]
        if seconds <= 0:
            continue
        cores[step] = [
            round((last[2] - first[2]) / seconds, 2),
            round((last[3] - first[3]) / seconds, 2),
        ]
    return cores


def _server(port: int | None) -> psutil.Process | None:
    """The MariaDB server listening on `port` (the bench's private one), to read its CPU."""
    if port is None:
        return None
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "mariadbd" and f"--port={port}" in (proc.info["cmdline"] or []):
            return proc
    return None


def _cpu(proc: psutil.Process | None) -> float:
    if proc is None:
        return 0.0
    with contextlib.suppress(psutil.Error):
        times = proc.cpu_times()
        return times.user + times.system
    return 0.0


#: Allocator settings that `etl_platform.runtime.configure_process()` puts in its process's
#: environment. The baselines must not inherit them from the bench's parent: they run as their
#: users run them, and A applies its own.
_PLATFORM_SET_ENV = ("ARROW_DEFAULT_MEMORY_POOL", "_RJEM_MALLOC_CONF")
#: What the user had set of them before anything here configured the process.
_USER_ENV = {k: os.environ[k] for k in _PLATFORM_SET_ENV if k in os.environ}


def _baseline_environ() -> dict[str, str]:
    """This process's environment without the settings `etl_platform` made, but the user's."""
    base = {k: v for k, v in os.environ.items() if k not in _PLATFORM_SET_ENV}
    return {**base, **_USER_ENV}


def measure(
    variant: str,
    argv: list[str],
    *,
    env: dict[str, str] | None = None,
    rows: int | None = None,
    server_port: int | None = None,
) -> Measurement:
    """Run `argv`, sampling the RSS and CPU of it and its children (and the server's CPU) every
    50 ms; parse its last line."""
    server = _server(server_port)
    server_before = _cpu(server)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    child = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**_baseline_environ(), **(env or {})},
    )
    proc = psutil.Process(child.pid)
    timeline: list[Sample] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            rss, cpu = _tree_sample(proc)
            timeline.append((time.time(), rss, cpu, _cpu(server)))
            done.wait(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = child.communicate()
    wall = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (children.ru_utime - children_before.ru_utime) + (
        children.ru_stime - children_before.ru_stime
    )
    server_cpu = _cpu(server) - server_before
    done.set()
    sampler.join()
    if child.returncode != 0:
        raise RuntimeError(f"{variant} failed ({child.returncode}):\n{err[-3000:]}\n{out[-2000:]}")
    lines = [line for line in out.splitlines() if line.startswith("{")]
    report: dict[str, object] = json.loads(lines[-1]) if lines else {}
    peak = max((sample[1] for sample in timeline), default=0)
    spans = report.pop("spans", None)
    if isinstance(spans, dict):
        report["step_peak_mib"] = step_peaks(timeline, spans)
        report["step_cores"] = step_cores(timeline, spans)
    work = float(report.pop("seconds", wall))  # type: ignore[arg-type]
    counted = int(report.pop("rows", rows or 0))  # type: ignore[call-overload]
    return Measurement(
        variant,
        wall,
        work,
        peak,
        rows if rows is not None else counted,
        report,
        cpu_seconds=cpu,
        server_cpu_seconds=server_cpu,
    )
