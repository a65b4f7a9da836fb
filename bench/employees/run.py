"""Measure one `etl-platform run` over the employees bench's whole history.

    python -m bench.employees.run [--skip-seed] [--days N] [--employees 1000] [--years 17]
    python -m bench.employees.run --scaling [--scaling-days 1,10,100,6400]
    ... [--partitions monthly]   # the dated tables partitioned by month

Why: issue 36, point 6 ("Years of history at the cost of its rows"). The employees data is a
few thousand rows over ~6,200 days; what a run costs here beyond its rows is the cost of its
days (Dagster partitions, events, files). The driver seeds the shards (`bench.employees.seed`),
runs the real CLI (`etl-platform run --job etl_all`) in a subprocess against a fresh
`DAGSTER_HOME` and lake under `.local/bench-employees/`, and reports what the run left:

- wall time of the command, and the time until its first step started (from the instance's
  event log: first STEP_START minus RUN_START, and minus the command's launch);
- files in the lake (all, Parquet), lake bytes, `DAGSTER_HOME` bytes; a day written with no
  rows adds no file (its dataset lists it in one `_empty_days.json`);
- ASSET_MATERIALIZATION_PLANNED events (and all events) in the instance's SQLite event log;
- rows of each raw table per shard against the source's COUNT(*), and the view's rows.

It prints a markdown table and writes `.local/bench-employees/report.json`. `--scaling` keeps
the rows fixed (`--single-row`: one row per employee and table) and spreads them over 1, 10,
100 and 6,400 days, one run each (`report-scaling.json`): the cost of days alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow.parquet as pq
import pymysql

from bench.employees import seed as seeder

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent.parent
SOURCES = PACKAGE_DIR / "sources.yaml"
VIEWS_DIR = PACKAGE_DIR / "views"
URL_ENV = "ETL_PLATFORM_BENCH_EMP_URL"
START_ENV = "ETL_PLATFORM_BENCH_EMP_START"
#: sources.yaml names these databases; the seeder's prefix and shard count must match it.
PREFIX = "bench_emp_"
SHARDS = ("shard_00", "shard_01")
TABLES = ("employees", "salaries", "dept_emp", "titles", "departments")
VIEW = "salary_history"
#: The view of `dept_emp` that looks up `departments`, a snapshot table.
DEPT_VIEW = "dept_history"
#: Variables of the caller's environment passed on: tuning knobs worth varying between runs.
#: Every other ETL_PLATFORM_* is dropped, so a stray S3 bucket or sources file cannot leak in.
#: How the bench's dated tables are partitioned (sources.yaml reads it; `--partitions`).
PARTITIONS_ENV = "ETL_PLATFORM_BENCH_EMP_PARTITIONS"
PASSED_ON = ("ETL_PLATFORM_THREADS", "ETL_PLATFORM_EXTRACT_BACKEND", PARTITIONS_ENV)
PLANNED = "ASSET_MATERIALIZATION_PLANNED"
_STEP_LINE = re.compile(r"^\[(\d+)/(\d+)\] (FAILED )?(\S+) .*?([\d.]+) s(?::|$)")


@dataclasses.dataclass(frozen=True)
class Server:
    host: str
    port: int
    user: str
    password: str

    @property
    def url(self) -> str:
        auth = f"{self.user}:{self.password}" if self.password else self.user
        return f"mysql://{auth}@{self.host}:{self.port}/"


def etl_platform_command() -> Path:
    """The project's `etl-platform`, else the one beside this interpreter."""
    local = PROJECT_ROOT / ".venv" / "bin" / "etl-platform"
    return local if local.exists() else Path(sys.executable).parent / "etl-platform"


def seed(server: Server, work: Path, **options: object) -> seeder.SeedReport:
    """Seed the two shards and record what was seeded (`seed.json`), for `--skip-seed`."""
    report = seeder.seed_shards(
        host=server.host,
        port=server.port,
        user=server.user,
        password=server.password,
        prefix=PREFIX,
        shards=len(SHARDS),
        **options,  # type: ignore[arg-type]
    )
    work.mkdir(parents=True, exist_ok=True)
    (work / "seed.json").write_text(json.dumps(dataclasses.asdict(report), indent=2))
    print(
        f"seeded {', '.join(report.databases)}: {report.start} .. {report.end} "
        f"({report.days} days), {report.seconds}s",
        flush=True,
    )
    return report


def run_env(server: Server, run_dir: Path, start: str) -> dict[str, str]:
    """A fresh instance and lake in `run_dir`, the bench's sources and views, nothing else."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("ETL_PLATFORM_") or k == "DAGSTER_HOME") or k in PASSED_ON
    }
    env.update(
        {
            "ETL_PLATFORM_ENV": "local",
            "ETL_PLATFORM_SOURCES": str(SOURCES),
            "ETL_PLATFORM_VIEWS_DIR": str(VIEWS_DIR),
            "ETL_PLATFORM_LAKE": str(run_dir / "lake"),
            # Its own .env and local state: never the project's (env.env_file()).
            "ETL_PLATFORM_LOCAL_DIR": str(run_dir / "local"),
            "ETL_PLATFORM_DUCKDB": str(run_dir / "lake.duckdb"),
            "DAGSTER_HOME": str(run_dir / "dagster"),
            URL_ENV: server.url,
            START_ENV: start,
        }
    )
    return env


def fresh_run_dir(run_dir: Path) -> None:
    """Empty `run_dir` and give it a Dagster instance configured as the project's."""
    shutil.rmtree(run_dir, ignore_errors=True)
    (run_dir / "dagster").mkdir(parents=True)
    (run_dir / "local").mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", run_dir / "dagster" / "dagster.yaml")


def run_cli(
    server: Server, run_dir: Path, first: str, last: str, timeout: float
) -> dict[str, object]:
    """`etl-platform run --job etl_all` over [first, last] in a fresh instance; the measures."""
    fresh_run_dir(run_dir)
    argv = [
        str(etl_platform_command()),
        "run",
        "--job",
        "etl_all",
        "--start",
        first,
        "--end",
        last,
        "--plain",
    ]
    log_path = run_dir / "cli.log"
    print(f"running: {' '.join(argv)}  (log: {log_path})", flush=True)
    launched = time.time()
    started = time.perf_counter()
    with log_path.open("w") as log:
        child = subprocess.Popen(
            argv,
            cwd=PROJECT_ROOT,
            env=run_env(server, run_dir, first),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: a timeout stops it and only it
        )
        returncode, max_rss_kib, timed_out = wait_with_usage(child, timeout)
    wall = time.perf_counter() - started
    output = log_path.read_text(errors="replace")
    home = run_dir / "dagster"
    events = event_log_figures(home, launched)
    lake = run_dir / "lake"
    return {
        "command": " ".join(argv),
        "first": first,
        "last": last,
        "days": (dt.date.fromisoformat(last) - dt.date.fromisoformat(first)).days + 1,
        "returncode": returncode,
        "timed_out": timed_out,
        "wall_seconds": round(wall, 2),
        # The CLI is one process (execute_in_process): its own high-water mark.
        "peak_rss_mib": round(max_rss_kib / 1024),
        **events,
        **tree_figures(lake, "lake"),
        **tree_figures(Path(f"{lake}.staging"), "staging"),
        "dagster_home_bytes": tree_figures(home, "home")["home_bytes"],
        "lake_rows": lake_rows(lake),
        "failures": [line for line in output.splitlines() if "FAILED" in line],
        "errors": error_lines(output),
        "slowest_steps": slowest_steps(output),
        "log": str(log_path),
    }


def wait_with_usage(child: subprocess.Popen, timeout: float) -> tuple[int, int, bool]:
    """Wait for `child` with `wait4`, whose resource usage is this child's alone (peak RSS in
    KiB), unlike RUSAGE_CHILDREN's maximum over every child so far; stop its process group
    (SIGTERM, then SIGKILL a minute later) past `timeout` seconds."""
    deadline = time.monotonic() + timeout
    timed_out = False
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            child.returncode = os.waitstatus_to_exitcode(status)
            return child.returncode, usage.ru_maxrss, timed_out
        now = time.monotonic()
        if now > deadline:
            if not timed_out:
                timed_out = True
                os.killpg(child.pid, signal.SIGTERM)
                deadline = now + 60
            else:
                os.killpg(child.pid, signal.SIGKILL)
                deadline = now + 3600
        time.sleep(0.1)


def error_lines(output: str) -> list[str]:
    """What the platform raised: the `etl-platform:` message, a traceback's last line, the
    checks that did not pass."""
    lines = output.splitlines()
    found = [line for line in lines if line.startswith("etl-platform:")]
    if "Traceback (most recent call last):" in output:
        found.append(next(line for line in reversed(lines) if line.strip()))
    if "Checks that did not pass:" in output:
        at = lines.index("Checks that did not pass:")
        found.extend(line for line in lines[at + 1 : at + 20] if line.strip())
    return found


def slowest_steps(output: str, keep: int = 8) -> list[tuple[str, float]]:
    """The steps of `--plain` output (`[i/n] label ... 3.1 s`) that took longest."""
    steps = []
    for line in output.splitlines():
        match = _STEP_LINE.match(line)
        if match:
            steps.append((match.group(4), float(match.group(5))))
    return sorted(steps, key=lambda s: -s[1])[:keep]


def _event_dbs(home: Path) -> Iterator[Path]:
    """The per-run event log shards of a SQLite instance (index.db repeats asset events)."""
    runs = home / "history" / "runs"
    if runs.is_dir():
        yield from sorted(p for p in runs.glob("*.db") if p.name != "index.db")


#: RUN_START is stored under its old name; both are looked for.
RUN_START_TYPES = ("RUN_START", "PIPELINE_START")


def _first_last(conn: sqlite3.Connection, kinds: Sequence[str]) -> tuple[float, float] | None:
    """Timestamps of the first and last event of `kinds` in one event log shard (None: none)."""
    marks = ", ".join("?" * len(kinds))
    ids = conn.execute(
        f"SELECT MIN(id), MAX(id) FROM event_logs WHERE dagster_event_type IN ({marks})",
        tuple(kinds),
    ).fetchone()
    if ids is None or ids[0] is None:
        return None
    stamps = [
        float(json.loads(conn.execute("SELECT event FROM event_logs WHERE id = ?", (i,))
                         .fetchone()[0])["timestamp"])
        for i in ids
    ]  # fmt: skip
    return stamps[0], stamps[1]


def event_log_figures(home: Path, launched: float) -> dict[str, object]:
    """From the instance's SQLite event log: event counts by type, and the run's timeline
    relative to the command's launch: the planned events Dagster writes before the run
    starts, RUN_START, the first STEP_START, the last event (where a stopped run got to)."""
    by_type: dict[str, int] = {}
    marks: dict[str, list[tuple[float, float]]] = {}
    for path in _event_dbs(home):
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            for kind, count in conn.execute(
                "SELECT dagster_event_type, COUNT(*) FROM event_logs GROUP BY 1"
            ):
                name = kind or "(log message)"
                by_type[name] = by_type.get(name, 0) + count
            queries = {
                "planned": (PLANNED,),
                "run_start": RUN_START_TYPES,
                "step_start": ("STEP_START",),
            }
            for mark, kinds in queries.items():
                if (found := _first_last(conn, kinds)) is not None:
                    marks.setdefault(mark, []).append(found)
            last = conn.execute("SELECT event FROM event_logs ORDER BY id DESC LIMIT 1").fetchone()
            if last is not None:
                stamp = float(json.loads(last[0])["timestamp"])
                marks.setdefault("last", []).append((stamp, stamp))
    index = home / "history" / "runs" / "index.db"
    index_planned = None
    if index.is_file():
        with sqlite3.connect(f"file:{index}?mode=ro", uri=True) as conn:
            index_planned = conn.execute(
                "SELECT COUNT(*) FROM event_logs WHERE dagster_event_type = ?", (PLANNED,)
            ).fetchone()[0]

    def first(mark: str) -> float | None:
        return min((a for a, _ in marks.get(mark, [])), default=None)

    def after_launch(stamp: float | None) -> float | None:
        return None if stamp is None else round(stamp - launched, 2)

    planned_first = first("planned")
    planned_last = max((b for _, b in marks.get("planned", [])), default=None)
    run_start, first_step = first("run_start"), first("step_start")
    return {
        "runs": len(list(_event_dbs(home))),
        "events_total": sum(by_type.values()),
        "materialization_planned_events": by_type.get(PLANNED, 0),
        "materialization_planned_in_index_db": index_planned,
        "events_by_type": dict(sorted(by_type.items(), key=lambda kv: -kv[1])),
        "launch_to_first_planned_seconds": after_launch(planned_first),
        "planned_events_seconds": (
            round(planned_last - planned_first, 2) if planned_first and planned_last else None
        ),
        "launch_to_run_start_seconds": after_launch(run_start),
        "run_start_to_first_step_seconds": (
            round(first_step - run_start, 2) if first_step and run_start else None
        ),
        "launch_to_first_step_seconds": after_launch(first_step),
        "launch_to_last_event_seconds": after_launch(
            max((b for _, b in marks.get("last", [])), default=None)
        ),
    }


def tree_figures(root: Path, name: str) -> dict[str, int]:
    """Files (all, Parquet), folders and bytes under `root` (0 when it does not exist)."""
    files = parquet = folders = size = 0
    for folder, dirs, names in os.walk(root):
        folders += len(dirs)
        for file in names:
            files += 1
            parquet += file.endswith(".parquet")
            try:
                size += os.lstat(os.path.join(folder, file)).st_size
            except FileNotFoundError:
                continue
    return {
        f"{name}_files": files,
        f"{name}_parquet_files": parquet,
        f"{name}_folders": folders,
        f"{name}_bytes": size,
    }


def parquet_rows(folder: Path) -> int | None:
    """Rows in every Parquet file under `folder`, from the footers (None: no such folder)."""
    if not folder.is_dir():
        return None
    return sum(pq.ParquetFile(p).metadata.num_rows for p in folder.rglob("*.parquet"))


def lake_rows(lake: Path) -> dict[str, object]:
    """Rows the run wrote: each raw table per shard, the view and its rejects."""
    return {
        "raw": {
            shard: {table: parquet_rows(lake / "raw" / shard / table) for table in TABLES}
            for shard in SHARDS
        },
        "view": parquet_rows(lake / "views" / VIEW),
        "view_rejects": parquet_rows(lake / "views" / f"{VIEW}__rejects"),
        "dept_view": parquet_rows(lake / "views" / DEPT_VIEW),
    }


def source_counts(server: Server) -> dict[str, dict[str, int]]:
    """COUNT(*) of every extracted table per shard, to check the raw zone against."""
    conn = pymysql.connect(
        host=server.host, port=server.port, user=server.user, password=server.password
    )
    try:
        with conn.cursor() as cursor:
            counts = {}
            for i, shard in enumerate(SHARDS):
                counts[shard] = {}
                for table in TABLES:
                    cursor.execute(f"SELECT COUNT(*) FROM `{PREFIX}{i:02d}`.`{table}`")
                    counts[shard][table] = int(cursor.fetchone()[0])
            return counts
    finally:
        conn.close()


def _mib(n: object) -> str:
    return f"{n / 2**20:,.1f} MiB" if isinstance(n, int) else "-"


def markdown(report: dict[str, object]) -> str:
    """The figures of one run as a markdown table."""
    run: dict = report["run"]  # type: ignore[assignment]
    seeded: dict = report["seed"]  # type: ignore[assignment]
    source: dict = report["source_rows"]  # type: ignore[assignment]
    raw = run["lake_rows"]["raw"]
    rows = [
        ("data", f"{seeded['employees']} employees, {seeded['days']} days "
                 f"({seeded['start']} .. {seeded['end']}), 2 shards"),
        ("command", f"`{run['command']}`"),
        ("exit code", f"{run['returncode']}" + (" (timed out)" if run["timed_out"] else "")),
        ("wall time", f"{run['wall_seconds']:,.1f} s"),
        ("launch -> first planned event", f"{run['launch_to_first_planned_seconds']} s"),
        ("writing the planned events", f"{run['planned_events_seconds']} s"),
        ("launch -> RUN_START", f"{run['launch_to_run_start_seconds']} s"),
        ("RUN_START -> first STEP_START", f"{run['run_start_to_first_step_seconds']} s"),
        ("launch -> first STEP_START", f"{run['launch_to_first_step_seconds']} s"),
        ("launch -> last event", f"{run['launch_to_last_event_seconds']} s"),
        ("peak RSS (CLI process)", f"{run['peak_rss_mib']} MiB"),
        ("lake files (Parquet)", f"{run['lake_files']:,} ({run['lake_parquet_files']:,})"),
        ("lake folders", f"{run['lake_folders']:,}"),
        ("lake bytes", f"{run['lake_bytes']:,} ({_mib(run['lake_bytes'])})"),
        ("DAGSTER_HOME bytes", f"{run['dagster_home_bytes']:,} "
                               f"({_mib(run['dagster_home_bytes'])})"),
        ("runs / events in the event log", f"{run['runs']} / {run['events_total']:,}"),
        ("ASSET_MATERIALIZATION_PLANNED events", f"{run['materialization_planned_events']:,}"
                                                 f" (index.db: "
                                                 f"{run['materialization_planned_in_index_db']})"),
    ]  # fmt: skip
    for shard in SHARDS:
        for table in TABLES:
            rows.append(
                (
                    f"rows {shard}.{table}: raw / source",
                    f"{raw[shard][table]} / {source[shard][table]}",
                )
            )
    total_salaries = sum(source[s]["salaries"] for s in SHARDS)
    rows.append((f"rows views/{VIEW} / source salaries", f"{run['lake_rows']['view']} / "
                 f"{total_salaries} (rejects {run['lake_rows']['view_rejects']})"))  # fmt: skip
    total_dept_emp = sum(source[s]["dept_emp"] for s in SHARDS)
    rows.append((f"rows views/{DEPT_VIEW} / source dept_emp",
                 f"{run['lake_rows'].get('dept_view')} / {total_dept_emp}"))  # fmt: skip
    lines = ["| measure | value |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    if run["slowest_steps"]:
        slowest = ", ".join(f"{k} {s:.1f} s" for k, s in run["slowest_steps"])
        lines += ["", f"Slowest steps: {slowest}"]
    if run["errors"] or run["failures"]:
        lines.append("")
        lines.append("Errors the platform raised:")
        lines += [f"    {line}" for line in [*run["failures"], *run["errors"]]]
    return "\n".join(lines)


def scaling_markdown(points: list[dict[str, object]]) -> str:
    """One row per day count: the same rows, spread over more days."""
    lines = [
        "| days | salary rows | exit | wall s | planned events written s | launch -> 1st step s "
        "| lake files (Parquet) | lake bytes | DAGSTER_HOME bytes | planned events | events |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for p in points:
        run: dict = p["run"]  # type: ignore[assignment]
        rows = sum(p["source_rows"][s]["salaries"] for s in SHARDS)  # type: ignore[index]
        exit_code = "timeout" if run["timed_out"] else run["returncode"]
        lines.append(
            f"| {run['days']} | {rows} | {exit_code} | {run['wall_seconds']:.1f} "
            f"| {run['planned_events_seconds']} | {run['launch_to_first_step_seconds']} "
            f"| {run['lake_files']:,} ({run['lake_parquet_files']:,}) | {run['lake_bytes']:,} "
            f"| {run['dagster_home_bytes']:,} | {run['materialization_planned_events']:,} "
            f"| {run['events_total']:,} |"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3306)
    parser.add_argument("--user", default="root")
    parser.add_argument("--password", default="")
    parser.add_argument("--skip-seed", action="store_true", help="reuse what seed.json records")
    parser.add_argument("--employees", type=int, default=1000, help="in all, half per shard")
    parser.add_argument("--years", type=int, default=17, help="history before --end")
    parser.add_argument(
        "--days", type=int, help="history of exactly N days ending at --end (instead of --years)"
    )
    parser.add_argument(
        "--end", type=dt.date.fromisoformat, help="last day of history (default: today, UTC)"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dir", type=Path, default=PROJECT_ROOT / ".local" / "bench-employees")
    parser.add_argument(
        "--timeout", type=float, default=3600, help="seconds before a run is stopped"
    )
    parser.add_argument(
        "--scaling",
        action="store_true",
        help="instead: the same rows (--single-row) over each of --scaling-days",
    )
    parser.add_argument("--scaling-days", default="1,10,100,6400")
    parser.add_argument(
        "--partitions",
        choices=["daily", "monthly"],
        default="daily",
        help="the dated tables' `partitions:` (monthly: a Dagster partition per month)",
    )
    return parser


def seed_options(args: argparse.Namespace, days: int | None, single_row: bool) -> dict:
    """The seeder's arguments for a history of `days` days (else `--years`) ending at --end."""
    end = args.end or dt.datetime.now(dt.UTC).date()
    if days is not None:
        start = end - dt.timedelta(days=days - 1)
    else:
        start = seeder.history_start(end, args.years)
    return {
        "employees": args.employees,
        "shape": seeder.Shape(start=start, end=end, single_row=single_row),
        "seed": args.seed,
    }


def measure_once(
    server: Server, args: argparse.Namespace, seeded: dict, run_dir: Path
) -> dict[str, object]:
    """One run over the seeded history, with the source counts to check it against."""
    return {
        "seed": seeded,
        "source_rows": source_counts(server),
        "run": run_cli(server, run_dir, seeded["start"], seeded["end"], args.timeout),
        "passed_on_env": {k: os.environ[k] for k in PASSED_ON if k in os.environ},
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ[PARTITIONS_ENV] = args.partitions
    server = Server(args.host, args.port, args.user, args.password)
    work: Path = args.dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    if args.scaling:
        points = []
        for days in [int(d) for d in args.scaling_days.split(",")]:
            report = seed(server, work, **seed_options(args, days, single_row=True))
            point = measure_once(server, args, dataclasses.asdict(report), work / f"run-{days}d")
            points.append(point)
            print(scaling_markdown(points[-1:]).splitlines()[-1], flush=True)
        (work / "report-scaling.json").write_text(json.dumps(points, indent=2, default=str))
        print(f"\n{scaling_markdown(points)}\n\nwrote {work / 'report-scaling.json'}")
        return 0 if all(p["run"]["returncode"] == 0 for p in points) else 1  # type: ignore[index]
    if args.skip_seed:
        marker = work / "seed.json"
        if not marker.is_file():
            raise SystemExit(f"--skip-seed: no {marker}; run once without it")
        seeded = json.loads(marker.read_text())
    else:
        seeded = dataclasses.asdict(seed(server, work, **seed_options(args, args.days, False)))
    report = measure_once(server, args, seeded, work / "run")
    (work / "report.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"\n{markdown(report)}\n\nwrote {work / 'report.json'}")
    return int(report["run"]["returncode"])  # type: ignore[index]


if __name__ == "__main__":
    raise SystemExit(main())
