"""Measure one `etl-platform run` over the employees bench's whole history.

    python -m bench.employees.run [--skip-seed] [--days N] [--employees 1000] [--years 17]
    python -m bench.employees.run --scaling [--scaling-days 1,10,100,6400]
    python -m bench.employees.run --scaling-rows 1000,10000,100000 --days 100
    ... [--partitions monthly]   # the dated tables partitioned by month
    ... [--storage postgres]     # Dagster's storage on the local PostgreSQL, not SQLite

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
`--scaling-rows N1,N2,...` keeps the days fixed (`--days`, default 100) and seeds N employees
each (one row per employee and table): the cost of rows alone (`report-scaling-rows.json`).

`--storage postgres` gives the fresh instance a `storage: postgres:` section (the form of
deploy/dagster.prod.yaml) on a database dropped and created before each run (`--pg-db`,
default `bench_dagster`, on 127.0.0.1:5432 as `postgres`); the event figures are then read
from its `event_logs` table, and its `pg_database_size` is reported beside `DAGSTER_HOME`.
"""

from __future__ import annotations

import argparse
import contextlib
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
import yaml

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
#: The Dagster storages the bench can give its fresh instance (`--storage`).
STORAGES = ("sqlite", "postgres")
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


@dataclasses.dataclass(frozen=True)
class Storage:
    """Where the fresh instance keeps runs and events: SQLite files under `DAGSTER_HOME` (the
    project's dagster.yaml), or a database of the local PostgreSQL (`--storage postgres`)."""

    kind: str = "sqlite"
    pg_host: str = "127.0.0.1"
    pg_port: int = 5432
    pg_user: str = "postgres"
    pg_password: str = ""
    pg_db: str = "bench_dagster"

    @property
    def is_postgres(self) -> bool:
        return self.kind == "postgres"

    def config(self) -> dict[str, object]:
        """The dagster.yaml `storage:` section (deploy/dagster.prod.yaml's form, literal)."""
        db = {"hostname": self.pg_host, "port": self.pg_port, "username": self.pg_user,
              "db_name": self.pg_db, "scheme": "postgresql+psycopg2"}  # fmt: skip
        if self.pg_password:
            db["password"] = self.pg_password
        return {"postgres": {"postgres_db": db}}

    def connect(self, database: str | None = None):
        import psycopg2

        return psycopg2.connect(
            host=self.pg_host,
            port=self.pg_port,
            user=self.pg_user,
            password=self.pg_password or None,
            dbname=database or self.pg_db,
        )

    def reset(self) -> None:
        """Drop and create the database (a run's fresh storage); its connections are ended."""
        if not IDENTIFIER.fullmatch(self.pg_db):
            raise ValueError(f"--pg-db {self.pg_db!r} is not a plain identifier")
        conn = self.connect("postgres")
        conn.autocommit = True
        try:
            with conn.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{self.pg_db}" WITH (FORCE)')
                cursor.execute(f'CREATE DATABASE "{self.pg_db}"')
        finally:
            conn.close()

    def sizes(self) -> dict[str, object]:
        """`pg_database_size` and the largest tables (with their indexes and TOAST)."""
        if not self.is_postgres:
            return {}
        conn = self.connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT pg_database_size(current_database())")
                total = int(cursor.fetchone()[0])
                cursor.execute(
                    "SELECT relname, pg_total_relation_size(oid) FROM pg_class "
                    "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace "
                    "ORDER BY 2 DESC LIMIT 6"
                )
                tables = {name: int(size) for name, size in cursor.fetchall()}
        finally:
            conn.close()
        return {"pg_database_bytes": total, "pg_table_bytes": tables}


IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


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
            # The command loads this checkout's etl_platform (a worktree's too), first.
            "PYTHONPATH": os.pathsep.join(
                [str(PROJECT_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
        }
    )
    return env


def fresh_run_dir(run_dir: Path, storage: Storage | None = None) -> None:
    """Empty `run_dir` and give it a Dagster instance configured as the project's (with
    `storage`'s section and a fresh database when it is PostgreSQL)."""
    shutil.rmtree(run_dir, ignore_errors=True)
    (run_dir / "dagster").mkdir(parents=True)
    (run_dir / "local").mkdir()
    target = run_dir / "dagster" / "dagster.yaml"
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", target)
    if storage is not None and storage.is_postgres:
        storage.reset()
        with target.open("a") as out:
            out.write("\n# The bench's --storage postgres (a fresh database each run).\n")
            out.write(yaml.safe_dump({"storage": storage.config()}, sort_keys=False))


def etl_platform_module(env: dict[str, str]) -> str:
    """Where the command's interpreter imports etl_platform from, with the run's env."""
    found = subprocess.run(
        [sys.executable, "-c", "import etl_platform; print(etl_platform.__file__)"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.strip() or found.stderr.strip()[-300:]


def run_cli(
    server: Server,
    run_dir: Path,
    first: str,
    last: str,
    timeout: float,
    storage: Storage | None = None,
) -> dict[str, object]:
    """`etl-platform run --job etl_all` over [first, last] in a fresh instance; the measures."""
    storage = storage or Storage()
    fresh_run_dir(run_dir, storage)
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
    env = run_env(server, run_dir, first)
    module = etl_platform_module(env)
    print(f"running: {' '.join(argv)}  (etl_platform: {module}; {storage.kind} storage; "
          f"log: {log_path})", flush=True)  # fmt: skip
    launched = time.time()
    started = time.perf_counter()
    with log_path.open("w") as log:
        child = subprocess.Popen(
            argv,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: a timeout stops it and only it
        )
        returncode, max_rss_kib, timed_out, cpu = wait_with_usage(child, timeout)
    wall = time.perf_counter() - started
    output = log_path.read_text(errors="replace")
    home = run_dir / "dagster"
    events = event_log_figures(home, launched, storage)
    lake = run_dir / "lake"
    return {
        "command": " ".join(argv),
        "storage": storage.kind,
        "etl_platform_module": module,
        "first": first,
        "last": last,
        "days": (dt.date.fromisoformat(last) - dt.date.fromisoformat(first)).days + 1,
        "returncode": returncode,
        "timed_out": timed_out,
        "wall_seconds": round(wall, 2),
        # The CLI is one process (execute_in_process): its own high-water mark.
        "peak_rss_mib": round(max_rss_kib / 1024),
        # Its CPU (user + system), less sensitive than wall time to other work on the machine;
        # a database server's own CPU (PostgreSQL's) is not in it.
        "cpu_seconds": round(cpu, 2),
        **events,
        **tree_figures(lake, "lake"),
        **tree_figures(Path(f"{lake}.staging"), "staging"),
        "dagster_home_bytes": tree_figures(home, "home")["home_bytes"],
        **storage.sizes(),
        "lake_rows": lake_rows(lake),
        "failures": [line for line in output.splitlines() if "FAILED" in line],
        "errors": error_lines(output),
        "slowest_steps": slowest_steps(output),
        "log": str(log_path),
    }


def wait_with_usage(child: subprocess.Popen, timeout: float) -> tuple[int, int, bool, float]:
    """Wait for `child` with `wait4`, whose resource usage is this child's alone (peak RSS in
    KiB, CPU seconds), unlike RUSAGE_CHILDREN's maximum over every child so far; stop its
    process group (SIGTERM, then SIGKILL a minute later) past `timeout` seconds."""
    deadline = time.monotonic() + timeout
    timed_out = False
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            child.returncode = os.waitstatus_to_exitcode(status)
            cpu = usage.ru_utime + usage.ru_stime
            return child.returncode, usage.ru_maxrss, timed_out, cpu
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


class EventShard:
    """One event log to query: a run's SQLite shard, or PostgreSQL's whole `event_logs` table.
    `rows(sql, params)` takes `?` placeholders for both."""

    def __init__(self, conn, postgres: bool) -> None:
        self.conn = conn
        self.postgres = postgres

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        if not self.postgres:
            return self.conn.execute(sql, tuple(params)).fetchall()
        with self.conn.cursor() as cursor:
            cursor.execute(sql.replace("?", "%s"), tuple(params))
            return cursor.fetchall()


@contextlib.contextmanager
def event_shards(home: Path, storage: Storage | None = None) -> Iterator[list[EventShard]]:
    """The instance's event logs, open read-only: SQLite's per-run files, or one PostgreSQL
    connection."""
    if storage is not None and storage.is_postgres:
        conn = storage.connect()
        conn.set_session(readonly=True, autocommit=True)
        try:
            yield [EventShard(conn, postgres=True)]
        finally:
            conn.close()
        return
    conns = [sqlite3.connect(f"file:{p}?mode=ro", uri=True) for p in _event_dbs(home)]
    try:
        yield [EventShard(c, postgres=False) for c in conns]
    finally:
        for conn in conns:
            conn.close()


def _first_last(shard: EventShard, kinds: Sequence[str]) -> tuple[float, float] | None:
    """Timestamps of the first and last event of `kinds` in one event log (None: none)."""
    marks = ", ".join("?" * len(kinds))
    ids = shard.rows(
        f"SELECT MIN(id), MAX(id) FROM event_logs WHERE dagster_event_type IN ({marks})", kinds
    )[0]
    if ids is None or ids[0] is None:
        return None
    stamps = [
        float(json.loads(shard.rows("SELECT event FROM event_logs WHERE id = ?", (i,))[0][0])
              ["timestamp"])
        for i in ids
    ]  # fmt: skip
    return stamps[0], stamps[1]


def event_log_figures(
    home: Path, launched: float, storage: Storage | None = None
) -> dict[str, object]:
    """From the instance's event log (SQLite's files or PostgreSQL's table): event counts by
    type, and the run's timeline relative to the command's launch: the planned events Dagster
    writes before the run starts, RUN_START, the first STEP_START, the last event (where a
    stopped run got to)."""
    by_type: dict[str, int] = {}
    marks: dict[str, list[tuple[float, float]]] = {}
    postgres = storage is not None and storage.is_postgres
    with event_shards(home, storage) as shards:
        for shard in shards:
            for kind, count in shard.rows(
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
                if (found := _first_last(shard, kinds)) is not None:
                    marks.setdefault(mark, []).append(found)
            last = shard.rows("SELECT event FROM event_logs ORDER BY id DESC LIMIT 1")
            if last:
                stamp = float(json.loads(last[0][0])["timestamp"])
                marks.setdefault("last", []).append((stamp, stamp))
        runs = shards[0].rows("SELECT COUNT(*) FROM runs")[0][0] if postgres else len(shards)
        timeline = run_timelines(home, shards, launched, storage)
        steps = step_phases(shards)
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
        "runs": runs,
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
        "run_timelines": timeline,
        "step_phases": steps,
    }


def step_phases(shards: list[EventShard], keep: int = 6) -> list[dict[str, object]]:
    """The longest steps split at their first ASSET_MATERIALIZATION: a step that yields its
    partitions' results at its end (a view over a range) spends `work_seconds` building its
    days, then `events_seconds` while Dagster stores an event per partition."""
    kinds = ("STEP_START", "ASSET_MATERIALIZATION", "STEP_SUCCESS", "STEP_FAILURE")
    found: dict[str, dict[str, tuple[float, int]]] = {}
    for shard in shards:
        for step, kind, first, count in shard.rows(
            "SELECT step_key, dagster_event_type, MIN(timestamp), COUNT(*) FROM event_logs "
            "WHERE dagster_event_type IN (?, ?, ?, ?) AND step_key IS NOT NULL GROUP BY 1, 2",
            kinds,
        ):
            found.setdefault(step, {})[kind] = (utc_seconds(first), count)
    out = []
    for step, by_kind in found.items():
        start = by_kind.get("STEP_START", (None, 0))[0]
        end = by_kind.get("STEP_SUCCESS", by_kind.get("STEP_FAILURE", (None, 0)))[0]
        first_event, events = by_kind.get("ASSET_MATERIALIZATION", (None, 0))
        if start is None or end is None:
            continue
        out.append(
            {
                "step": step,
                "seconds": round(end - start, 2),
                "work_seconds": None if first_event is None else round(first_event - start, 2),
                "events_seconds": None if first_event is None else round(end - first_event, 2),
                "materializations": events,
            }
        )
    return sorted(out, key=lambda r: -r["seconds"])[:keep]


#: A run's timeline marks: the event types that set them (first or last of each).
TIMELINE = {
    "run_start": RUN_START_TYPES,
    "step": ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE"),
    "end": ("RUN_SUCCESS", "RUN_FAILURE", "PIPELINE_SUCCESS", "PIPELINE_FAILURE"),
}


def utc_seconds(stamp: object) -> float:
    """The event_logs `timestamp` column (naive UTC: SQLite's text, PostgreSQL's datetime)."""
    if isinstance(stamp, str):
        stamp = dt.datetime.fromisoformat(stamp)
    return stamp.replace(tzinfo=dt.UTC).timestamp()  # type: ignore[union-attr]


def run_timelines(
    home: Path, shards: list[EventShard], launched: float, storage: Storage | None
) -> list[dict[str, object]]:
    """Each run in the order it started: its job, its planned events and materializations,
    and seconds from the launch to its RUN_START, first step, last step event and end."""
    counted = (PLANNED, "ASSET_MATERIALIZATION")
    kinds = sorted({k for ks in TIMELINE.values() for k in ks} | set(counted))
    marks = ", ".join("?" * len(kinds))
    found: dict[str, dict[str, tuple[float, float, int]]] = {}
    for shard in shards:
        for run_id, kind, first, last, count in shard.rows(
            "SELECT run_id, dagster_event_type, MIN(timestamp), MAX(timestamp), COUNT(*) "
            f"FROM event_logs WHERE dagster_event_type IN ({marks}) GROUP BY 1, 2",
            kinds,
        ):
            found.setdefault(run_id, {})[kind] = (utc_seconds(first), utc_seconds(last), count)
    jobs: dict[str, str] = {}
    if storage is not None and storage.is_postgres:
        jobs = dict(shards[0].rows("SELECT run_id, pipeline_name FROM runs"))
    elif (home / "history" / "runs.db").is_file():
        with sqlite3.connect(f"file:{home / 'history' / 'runs.db'}?mode=ro", uri=True) as conn:
            jobs = dict(conn.execute("SELECT run_id, pipeline_name FROM runs").fetchall())
    out = []
    for run_id, by_kind in found.items():

        def at(mark: str, which: int, by_kind=by_kind) -> float | None:
            stamps = [by_kind[k][which] for k in TIMELINE[mark] if k in by_kind]
            if not stamps:
                return None
            return round((min(stamps) if which == 0 else max(stamps)) - launched, 2)

        out.append(
            {
                "run_id": run_id,
                "job": jobs.get(run_id),
                "planned": by_kind.get(PLANNED, (0, 0, 0))[2],
                "materializations": by_kind.get("ASSET_MATERIALIZATION", (0, 0, 0))[2],
                "run_start": at("run_start", 0),
                "first_step": at("step", 0),
                "last_step_event": at("step", 1),
                "end": at("end", 1),
            }
        )
    return sorted(out, key=lambda r: (r["run_start"] is None, r["run_start"] or 0))


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


def _num(n: object) -> str:
    return f"{n:,}" if isinstance(n, int) else "-"


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
        ("CPU of the CLI process (user + system)", f"{run.get('cpu_seconds')} s"),
        ("lake files (Parquet)", f"{run['lake_files']:,} ({run['lake_parquet_files']:,})"),
        ("lake folders", f"{run['lake_folders']:,}"),
        ("lake bytes", f"{run['lake_bytes']:,} ({_mib(run['lake_bytes'])})"),
        ("storage (partitions)", f"{run.get('storage', 'sqlite')} "
                                 f"({report.get('partitions', 'daily')})"),
        ("DAGSTER_HOME bytes", f"{run['dagster_home_bytes']:,} "
                               f"({_mib(run['dagster_home_bytes'])})"),
        ("runs / events in the event log", f"{run['runs']} / {run['events_total']:,}"),
        ("ASSET_MATERIALIZATION_PLANNED events", f"{run['materialization_planned_events']:,}"
                                                 f" (index.db: "
                                                 f"{run['materialization_planned_in_index_db']})"),
    ]  # fmt: skip
    if "pg_database_bytes" in run:
        tables = ", ".join(f"{k} {_mib(v)}" for k, v in run["pg_table_bytes"].items())
        rows.append(("PostgreSQL database bytes (pg_database_size)",
                     f"{run['pg_database_bytes']:,} ({_mib(run['pg_database_bytes'])}): "
                     f"{tables}"))  # fmt: skip
    by_type = ", ".join(f"{k} {v:,}" for k, v in list(run["events_by_type"].items())[:8])
    rows.append(("events by type (largest)", by_type))
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
    for r in run.get("run_timelines", []):
        rows.append((f"run {r['job']}: RUN_START / 1st step / last step / end (from launch)",
                     f"{r['run_start']} / {r['first_step']} / {r['last_step_event']} / "
                     f"{r['end']} s; {r['planned']:,} planned, "
                     f"{r['materializations']:,} materializations"))  # fmt: skip
    for r in run.get("step_phases", []):
        rows.append((f"step {r['step']}: total / before its first event / storing events",
                     f"{r['seconds']} / {r['work_seconds']} / {r['events_seconds']} s "
                     f"({r['materializations']:,} materializations)"))  # fmt: skip
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
    """One row per point: the same rows over more days, or more rows over the same days."""
    lines = [
        "| days | salary rows | exit | wall s | planned events written s | launch -> 1st step s "
        "| lake files (Parquet) | lake bytes | DAGSTER_HOME bytes | PostgreSQL bytes "
        "| planned events | events | materializations | CLI CPU s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: |",
    ]
    for p in points:
        run: dict = p["run"]  # type: ignore[assignment]
        rows = sum(p["source_rows"][s]["salaries"] for s in SHARDS)  # type: ignore[index]
        exit_code = "timeout" if run["timed_out"] else run["returncode"]
        lines.append(
            f"| {run['days']} | {rows} | {exit_code} | {run['wall_seconds']:.1f} "
            f"| {run['planned_events_seconds']} | {run['launch_to_first_step_seconds']} "
            f"| {run['lake_files']:,} ({run['lake_parquet_files']:,}) | {run['lake_bytes']:,} "
            f"| {run['dagster_home_bytes']:,} | {_num(run.get('pg_database_bytes'))} "
            f"| {run['materialization_planned_events']:,} | {run['events_total']:,} "
            f"| {run['events_by_type'].get('ASSET_MATERIALIZATION', 0):,} "
            f"| {run.get('cpu_seconds', '-')} |"
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
        "--scaling-rows",
        help="instead: N1,N2,... employees (--single-row) over the same --days (default 100)",
    )
    add_storage_arguments(parser)
    parser.add_argument(
        "--partitions",
        choices=["daily", "monthly"],
        default="daily",
        help="the dated tables' `partitions:` (monthly: a Dagster partition per month)",
    )
    return parser


def add_storage_arguments(parser: argparse.ArgumentParser) -> None:
    """`--storage` and where PostgreSQL is (shared with `bench.employees.daemon`)."""
    parser.add_argument(
        "--storage",
        choices=STORAGES,
        default="sqlite",
        help="Dagster's run and event storage (postgres: a fresh --pg-db on the local server)",
    )
    parser.add_argument("--pg-host", default="127.0.0.1")
    parser.add_argument("--pg-port", type=int, default=5432)
    parser.add_argument("--pg-user", default="postgres")
    parser.add_argument("--pg-password", default="")
    parser.add_argument("--pg-db", default="bench_dagster", help="dropped and created each run")


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


def storage_from_args(args: argparse.Namespace) -> Storage:
    return Storage(args.storage, args.pg_host, args.pg_port, args.pg_user, args.pg_password,
                   args.pg_db)  # fmt: skip


def measure_once(
    server: Server, args: argparse.Namespace, seeded: dict, run_dir: Path
) -> dict[str, object]:
    """One run over the seeded history, with the source counts to check it against."""
    storage = storage_from_args(args)
    return {
        "seed": seeded,
        "partitions": args.partitions,
        "source_rows": source_counts(server),
        "run": run_cli(server, run_dir, seeded["start"], seeded["end"], args.timeout, storage),
        "passed_on_env": {k: os.environ[k] for k in PASSED_ON if k in os.environ},
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ[PARTITIONS_ENV] = args.partitions
    server = Server(args.host, args.port, args.user, args.password)
    work: Path = args.dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    if args.scaling_rows:
        points = []
        days = args.days or 100
        for employees in [int(n) for n in args.scaling_rows.split(",")]:
            args.employees = employees
            report = seed(server, work, **seed_options(args, days, single_row=True))
            run_dir = work / f"run-{days}d-{employees}e"
            point = measure_once(server, args, dataclasses.asdict(report), run_dir)
            points.append(point)
            rows_report = work / "report-scaling-rows.json"
            rows_report.write_text(json.dumps(points, indent=2, default=str))
            print(scaling_markdown(points[-1:]).splitlines()[-1], flush=True)
        (work / "report-scaling-rows.json").write_text(json.dumps(points, indent=2, default=str))
        print(f"\n{scaling_markdown(points)}\n\nwrote {work / 'report-scaling-rows.json'}")
        return 0 if all(p["run"]["returncode"] == 0 for p in points) else 1  # type: ignore[index]
    if args.scaling:
        points = []
        for days in [int(d) for d in args.scaling_days.split(",")]:
            report = seed(server, work, **seed_options(args, days, single_row=True))
            point = measure_once(server, args, dataclasses.asdict(report), work / f"run-{days}d")
            points.append(point)
            (work / "report-scaling.json").write_text(json.dumps(points, indent=2, default=str))
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
