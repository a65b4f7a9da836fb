"""Measure the employees history backfilled the way a deployment backfills: through the daemon.

    python -m bench.employees.daemon [--skip-seed] [--days N] [--max-days-per-run M] [--timeout S]
        [--partitions monthly] [--storage postgres]

Why: issue 36, point 6 wants the 17-year, 2-shard history "through the daemon's backfill in at
most 10 minutes". `bench.employees.run` measures one `etl-platform run` (one process); here the
history goes where an operator's Materialize click sends it. In a fresh `DAGSTER_HOME` and lake
under `.local/bench-employees/daemon/` (as `run` makes them) the driver starts
`dagster-webserver` and `dagster-daemon run` on the project's workspace.yaml and dagster.yaml
(queued runs, the default run launcher: one process per run from the daemon's code server,
and, with the default multiprocess executor, one process per step),
posts ONE `launchPartitionBackfill` of every asset of `etl_all` over the last `--days` days, as
the UI does, and polls it until it ends. `--max-days-per-run` sets `extract.max_days_per_run`
(the assets' `BackfillPolicy.multi_run`). A window shorter than the history first gets the
looked-up tables' earlier raw days (`runner.extract_lookup_history`, in another instance, not
timed), as a deployment that ran before has them.

It prints a markdown table and writes `.local/bench-employees/daemon/report.json`: wall time
from the launch to the backfill's end, each run's timeline (queued, launched, started, first
and last step, ended), events, lake and `DAGSTER_HOME` sizes, rows against the source, and the
partitions materialized per asset. The processes' logs sit beside the report.

`--partitions monthly` gives the dated tables monthly partitions (as `bench.employees.run`): the
backfill then mixes monthly raw assets with daily views. Over the whole history it is launched
with `allPartitions` (every asset's own partitions), over a window with `partitionsByAssets`
(each asset's keys in the window: months for the raw assets, days for the others).
`--storage postgres` puts the instance's storage on the local PostgreSQL (`bench.employees.run`).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import pymysql

from bench.employees import run as bench

MAX_DAYS_ENV = "ETL_PLATFORM_BENCH_EMP_MAX_DAYS"
JOB = "etl_all"
#: The job of the raw assets partitioned by month (`--partitions monthly`), not in `etl_all`.
MONTHLY_JOB = "extract_raw_monthly"
TERMINAL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
#: The extracted tables' cursor columns (bench/employees/sources.yaml); departments is read whole.
CURSORS = {"employees": "updated_at", "salaries": "from_date", "dept_emp": "from_date",
           "titles": "from_date"}  # fmt: skip
#: Marks of a run's timeline, by the event types that set them (old and new names).
MARKS = {
    "queued": ("PIPELINE_ENQUEUED", "RUN_ENQUEUED"),
    "launched": ("PIPELINE_STARTING", "RUN_STARTING"),
    "started": ("PIPELINE_START", "RUN_START"),
    "step": ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE"),
    "ended": ("PIPELINE_SUCCESS", "PIPELINE_FAILURE", "RUN_SUCCESS", "RUN_FAILURE",
              "PIPELINE_CANCELED", "RUN_CANCELED"),
}  # fmt: skip
LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on PartitionKeysNotFoundError { message }
    ... on UnauthorizedError { message }
  }
}
"""
STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status endTimestamp error { message } }
  }
}
"""
HEALTH = """
query Health($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) { __typename }
  instance { daemonHealth { allDaemonStatuses { daemonType healthy } } }
}
"""


def graphql(url: str, query: str, variables: dict) -> dict:
    """POST a query to the webserver as the UI does; its data (GraphQL errors raise)."""
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(f"{url}/graphql", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        payload = json.loads(response.read())
    if "errors" in payload:
        raise RuntimeError(f"GraphQL errors: {payload['errors']}")
    return payload["data"]


def start_process(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen:
    """`argv` in its own process group (its code server and runs with it), output to `log`."""
    with log.open("w") as out:
        return subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop_process(proc: subprocess.Popen) -> None:
    """SIGTERM to the process group, SIGKILL 30 s later if it is still there."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def leftover_pids(home: Path) -> list[int]:
    """Processes still running with this bench's DAGSTER_HOME (a run out of its group)."""
    marker = f"DAGSTER_HOME={home}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def wait_until_ready(url: str, procs: list[subprocess.Popen], timeout: float = 180) -> float:
    """Until the webserver has the code location and the backfill and run queue daemons beat;
    the seconds it took."""
    started = time.monotonic()
    variables = {"key": {"path": ["views", bench.VIEW]}}
    while time.monotonic() - started < timeout:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("dagster-webserver or dagster-daemon exited; see their logs")
        try:
            data = graphql(url, HEALTH, variables)
        except (urllib.error.URLError, ConnectionError, RuntimeError):
            data = None
        if data and data["assetNodeOrError"]["__typename"] == "AssetNode":
            healthy = {
                s["daemonType"]
                for s in data["instance"]["daemonHealth"]["allDaemonStatuses"]
                if s["healthy"]
            }
            if {"BACKFILL", "QUEUED_RUN_COORDINATOR"} <= healthy:
                return round(time.monotonic() - started, 1)
        time.sleep(1)
    raise RuntimeError(f"webserver or daemons not ready after {timeout:.0f} s")


def launch_backfill(
    url: str, keys: list, days: list[str], by_asset: dict[tuple, tuple[str, str] | None] | None
) -> str:
    """One backfill of `keys` over `days`, the parameters the UI's Materialize dialog sends;
    with `by_asset` (mixed partitions) each asset's own range, or all partitions when it is
    empty (the whole history)."""
    params: dict[str, object] = {"tags": []}
    if by_asset is None:
        params["partitionNames"] = days
        params["assetSelection"] = [{"path": list(k.path)} for k in keys]
    elif not by_asset:
        params["allPartitions"] = True
        params["assetSelection"] = [{"path": list(k.path)} for k in keys]
    else:
        params["partitionsByAssets"] = [
            {
                "assetKey": {"path": list(path)},
                "partitions": None if span is None else {"range": {"start": span[0],
                                                                    "end": span[1]}},
            }
            for path, span in by_asset.items()
        ]  # fmt: skip
    result = graphql(url, LAUNCH, {"params": params})["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        raise RuntimeError(f"launchPartitionBackfill: {result}")
    return result["backfillId"]


def wait_for_backfill(url: str, backfill_id: str, timeout: float) -> dict:
    """Poll the backfill (every second) until it ends or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        found = graphql(url, STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        seen = time.time()
        if found["status"] in TERMINAL or time.monotonic() > deadline:
            return {**found, "seen_at": seen, "timed_out": found["status"] not in TERMINAL}
        time.sleep(1)


def run_event_rows(
    home: Path, storage: bench.Storage, run_id: str, sql: str, params: tuple = ()
) -> list[tuple]:
    """`sql` (`?` placeholders, `run_id = ?` its first condition) on one run's events: its
    SQLite shard, or PostgreSQL's `event_logs`."""
    if storage.is_postgres:
        conn = storage.connect()
        try:
            return bench.EventShard(conn, postgres=True).rows(sql, (run_id, *params))
        finally:
            conn.close()
    path = home / "history" / "runs" / f"{run_id}.db"
    if not path.is_file():
        return []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute(sql, (run_id, *params)).fetchall()


def run_marks(home: Path, storage: bench.Storage, run_id: str) -> dict[str, tuple[float, float]]:
    """First and last timestamp of each timeline mark in one run's events."""
    marks: dict[str, tuple[float, float]] = {}
    for mark, kinds in MARKS.items():
        found = run_event_rows(
            home,
            storage,
            run_id,
            "SELECT MIN(timestamp), MAX(timestamp) FROM event_logs WHERE run_id = ? "
            f"AND dagster_event_type IN ({', '.join('?' * len(kinds))})",
            kinds,
        )
        if found and found[0][0] is not None:
            marks[mark] = (_utc(found[0][0]), _utc(found[0][1]))
    return marks


def step_spans(
    home: Path, storage: bench.Storage, run_id: str
) -> list[tuple[float | None, float | None]]:
    """Each step of one run: (its worker process's start, STEP_WORKER_STARTING to STEP_START;
    its work, STEP_START to its success or failure), in seconds."""
    stamps: dict[str, dict[str, float]] = {}
    for step, kind, stamp in run_event_rows(
        home,
        storage,
        run_id,
        "SELECT step_key, dagster_event_type, MIN(timestamp) FROM event_logs WHERE run_id = ? "
        "AND dagster_event_type IN "
        "('STEP_WORKER_STARTING', 'STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE') GROUP BY 1, 2",
    ):
        stamps.setdefault(step, {})[kind] = _utc(stamp)
    spans = []
    for marks in stamps.values():
        start = marks.get("STEP_START")
        end = marks.get("STEP_SUCCESS", marks.get("STEP_FAILURE"))
        worker = marks.get("STEP_WORKER_STARTING")
        spans.append(
            (
                None if start is None or worker is None else start - worker,
                None if start is None or end is None else end - start,
            )
        )
    return spans


def _utc(stamp: object) -> float:
    return bench.utc_seconds(stamp)


def run_figures(
    instance, home: Path, storage: bench.Storage, backfill_id: str, launched: float
) -> dict[str, object]:
    """The backfill's runs: statuses, each one's timeline from the launch, and the summaries."""
    import dagster as dg

    runs = []
    records = instance.get_run_records(filters=dg.RunsFilter.for_backfill(backfill_id))
    for record in sorted(records, key=lambda r: r.create_timestamp.timestamp()):
        marks = run_marks(home, storage, record.dagster_run.run_id)

        def at(mark: str, which: int = 0, marks=marks) -> float | None:
            found = marks.get(mark)
            return None if found is None else round(found[which] - launched, 2)

        runs.append(
            {
                "run_id": record.dagster_run.run_id,
                "status": record.dagster_run.status.value,
                "assets": len(record.dagster_run.asset_selection or ()),
                "range": [
                    record.dagster_run.tags.get(f"dagster/asset_partition_range_{e}")
                    for e in ("start", "end")
                ],
                "created": round(record.create_timestamp.timestamp() - launched, 2),
                **{m: at(m) for m in ("queued", "launched", "started")},
                "first_step": at("step"),
                "last_step_event": at("step", 1),
                "ended": at("ended", 1),
            }
        )
    steps = [s for r in runs for s in step_spans(home, storage, r["run_id"])]
    statuses: dict[str, int] = {}
    for r in runs:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1

    def spans(a: str, b: str) -> list[float]:
        return [r[b] - r[a] for r in runs if r[a] is not None and r[b] is not None]

    intervals = sorted(
        (r["launched"], r["ended"])
        for r in runs
        if r["launched"] is not None and r["ended"] is not None
    )
    busy, reach = 0.0, float("-inf")
    for begin, end in intervals:  # time covered by at least one run, launched to ended
        busy += max(0.0, end - max(begin, reach))
        reach = max(reach, end)
    return {
        "runs": runs,
        "run_statuses": statuses,
        "launch_to_first_run_created": min((r["created"] for r in runs), default=None),
        "launch_to_first_run_started": min(
            (r["started"] for r in runs if r["started"] is not None), default=None
        ),
        "run_seconds": _stats(spans("started", "ended")),
        "queued_to_launched_seconds": _stats(spans("queued", "launched")),
        "launched_to_started_seconds": _stats(spans("launched", "started")),
        "started_to_first_step_seconds": _stats(spans("started", "first_step")),
        "steps_seconds": _stats(spans("first_step", "last_step_event")),
        "last_step_to_end_seconds": _stats(spans("last_step_event", "ended")),
        "steps": len(steps),
        "step_worker_start_seconds": _stats([w for w, _ in steps if w is not None]),
        "step_work_seconds": _stats([s for _, s in steps if s is not None]),
        "seconds_with_a_run_going": round(busy, 2),
    }


def _stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"sum": None, "median": None, "max": None}
    return {"sum": round(sum(values), 2), "median": round(statistics.median(values), 2),
            "max": round(max(values), 2)}  # fmt: skip


def materialized_partitions(instance, graph, keys: list) -> dict[str, int]:
    """Partitions each asset has materialized (1 for an unpartitioned one that has)."""
    counts = {}
    for key in keys:
        if graph.get(key).partitions_def is not None:
            counts[key.to_user_string()] = len(instance.get_materialized_partitions(key))
        else:
            counts[key.to_user_string()] = int(
                instance.get_latest_materialization_event(key) is not None
            )
    return counts


def asset_ranges(
    graph, keys: list, first: dt.date, last: dt.date, whole: bool
) -> dict[tuple, tuple[str, str] | None] | None:
    """None when every partitioned asset is daily (the backfill names the days); else each
    asset's own keys over [first, last] (months for monthly ones; None: unpartitioned), or {}
    for the whole history (all partitions)."""
    import dagster as dg

    defs = {k: graph.get(k).partitions_def for k in keys}
    monthly = {
        k
        for k, d in defs.items()
        if isinstance(d, dg.TimeWindowPartitionsDefinition) and d.cron_schedule.split()[2] == "1"
    }
    if not monthly:
        return None
    if whole:
        return {}
    month = (first.replace(day=1).isoformat(), last.replace(day=1).isoformat())
    return {
        tuple(k.path): None if d is None else month if k in monthly else (str(first), str(last))
        for k, d in defs.items()
    }


def window_counts(server: bench.Server, first: str, last: str) -> dict[str, dict[str, int]]:
    """Each extracted table's rows per shard whose cursor day is in [first, last] (all rows of
    the snapshot table `departments`)."""
    conn = pymysql.connect(
        host=server.host, port=server.port, user=server.user, password=server.password
    )
    try:
        with conn.cursor() as cursor:
            counts: dict[str, dict[str, int]] = {}
            for i, shard in enumerate(bench.SHARDS):
                counts[shard] = {}
                for table in bench.TABLES:
                    where, args = "", ()
                    if table in CURSORS:
                        where = f" WHERE DATE(`{CURSORS[table]}`) BETWEEN %s AND %s"
                        args = (first, last)
                    cursor.execute(f"SELECT COUNT(*) FROM `{bench.PREFIX}{i:02d}`.`{table}`{where}",
                                   args)  # fmt: skip
                    counts[shard][table] = int(cursor.fetchone()[0])
            return counts
    finally:
        conn.close()


def prepare_history(defs, first: dt.date, run_dir: Path) -> float | None:
    """The looked-up tables' raw days before `first` into the lake, from another instance (so
    the bench's event log holds the backfill alone); the seconds it took, None if none lacked."""
    import dagster as dg

    from etl_platform.runner import extract_lookup_history

    home = run_dir / "history-dagster"
    home.mkdir()
    shutil.copyfile(bench.PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    started = time.perf_counter()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        history = extract_lookup_history(defs, first, instance=instance)
    if history is not None and not history.success:
        raise RuntimeError(f"extracting the lookup history failed: {history.failed_steps}")
    return None if history is None else round(time.perf_counter() - started, 1)


def measure(server: bench.Server, args: argparse.Namespace, seeded: dict, run_dir: Path) -> dict:
    """Daemon and webserver up, one backfill of `etl_all` over the window, the figures."""
    start, last = (dt.date.fromisoformat(seeded[k]) for k in ("start", "end"))
    first = start if args.days is None else max(start, last - dt.timedelta(days=args.days - 1))
    storage = bench.storage_from_args(args)
    bench.fresh_run_dir(run_dir, storage)
    env = bench.run_env(server, run_dir, seeded["start"])
    env[MAX_DAYS_ENV] = str(args.max_days_per_run)
    env["PYTHONPATH"] = str(bench.PROJECT_ROOT)  # the code servers load this checkout
    # This process loads the same definitions (for the selection and the lookup history).
    os.environ.clear()
    os.environ.update(env)
    import dagster as dg

    # Dagster's notices about its own preview APIs, once per component: not the bench's output.
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    warnings.filterwarnings("ignore", category=dg.BetaWarning)

    from etl_platform.definitions import build_definitions
    from etl_platform.demo.mariadb_server import free_port
    from etl_platform.env import Environment

    defs = build_definitions(Environment.LOCAL)
    graph = defs.resolve_asset_graph()
    keys = set(defs.resolve_job_def(JOB).asset_layer.executable_asset_keys)
    if args.partitions == "monthly":
        # Monthly raw assets are in a job of their own (a job holds one partitioning); the UI's
        # backfill of everything selects them too.
        keys |= defs.resolve_job_def(MONTHLY_JOB).asset_layer.executable_asset_keys
    keys = sorted(keys)
    history_seconds = prepare_history(defs, first, run_dir) if first > start else None
    home = run_dir / "dagster"
    bin_dir = Path(sys.executable).parent
    workspace = str(bench.PROJECT_ROOT / "workspace.yaml")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    procs: list[subprocess.Popen] = []
    # The instance's storage is created here, before the daemon and webserver open it.
    with dg.DagsterInstance.from_config(str(home)) as instance:
        try:
            # Dagster's processes read a `.env` in their folder: run_dir has none.
            procs.append(start_process([str(bin_dir / "dagster-daemon"), "run", "-w", workspace],
                                       env, run_dir, run_dir / "daemon.log"))  # fmt: skip
            procs.append(start_process(
                [str(bin_dir / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port),
                 "-w", workspace], env, run_dir, run_dir / "webserver.log"))  # fmt: skip
            ready_seconds = wait_until_ready(url, procs)
            days = [
                (first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)
            ]
            by_asset = asset_ranges(graph, keys, first, last, whole=first == start)
            print(f"backfilling {len(keys)} assets over {first} .. {last} ({len(days)} days, "
                  f"{args.max_days_per_run} a run, {args.partitions} raw partitions, "
                  f"{storage.kind} storage) with the daemon", flush=True)  # fmt: skip
            launched = time.time()
            backfill_id = launch_backfill(url, keys, days, by_asset)
            end = wait_for_backfill(url, backfill_id, args.timeout)
        finally:
            for proc in reversed(procs):
                stop_process(proc)
            for pid in leftover_pids(home):
                os.kill(pid, signal.SIGKILL)
        stopped = [p.returncode for p in procs]
        runs = run_figures(instance, home, storage, backfill_id, launched)
        materialized = materialized_partitions(instance, graph, keys)
    ended = end.get("endTimestamp") or end["seen_at"]
    events = bench.event_log_figures(home, launched, storage)
    events["runs_count"] = events.pop("runs")  # the run list is `runs`
    lake = run_dir / "lake"
    return {
        "window": {"first": str(first), "last": str(last), "days": len(days)},
        "max_days_per_run": args.max_days_per_run,
        "assets": len(keys),
        "backfill_id": backfill_id,
        "status": end["status"],
        "timed_out": end["timed_out"],
        "error": end.get("error"),
        "wall_seconds": round(ended - launched, 2),
        "wall_seconds_polled": round(end["seen_at"] - launched, 2),
        "lookup_history_seconds": history_seconds,
        "ready_seconds": ready_seconds,
        "process_exit_codes": stopped,
        **runs,
        **events,
        **bench.tree_figures(lake, "lake"),
        "dagster_home_bytes": bench.tree_figures(home, "home")["home_bytes"],
        **storage.sizes(),
        "storage": storage.kind,
        "partitions": args.partitions,
        "lake_rows": bench.lake_rows(lake),
        "materialized_partitions": materialized,
        "source_rows_window": window_counts(server, str(first), str(last)),
        "source_rows_before": window_counts(server, seeded["start"], str(first - dt.timedelta(1))),
    }


def markdown(report: dict) -> str:
    """The backfill's figures, then one line per run."""
    m: dict = report["measure"]
    seeded, window = report["seed"], m["window"]
    raw, source, before = m["lake_rows"]["raw"], m["source_rows_window"], m["source_rows_before"]

    def stats(name: str) -> str:
        s = m[name]
        return f"{s['median']} / {s['max']} / {s['sum']}"

    rows = [
        ("data", f"{seeded['employees']} employees, "
                 f"{seeded['start']} .. {seeded['end']}, 2 shards"),
        ("window", f"{window['first']} .. {window['last']} ({window['days']} days), "
                   f"{m['max_days_per_run']} days a run, {m['assets']} assets"),
        ("command", f"`{report['command']}`"),
        ("backfill status", m["status"] + (" (timed out)" if m["timed_out"] else "")),
        ("wall: launch -> backfill end", f"{m['wall_seconds']:,.1f} s"),
        ("lookup history before the window (not timed)", f"{m['lookup_history_seconds']} s"),
        ("daemon + webserver ready", f"{m['ready_seconds']} s"),
        ("runs (statuses)", f"{len(m['runs'])} {m['run_statuses']}"),
        ("launch -> first run created / started", f"{m['launch_to_first_run_created']} s / "
                                                   f"{m['launch_to_first_run_started']} s"),
        ("run: started -> ended, median / max / sum", stats("run_seconds")),
        ("run: queued -> launched (median / max / sum)", stats("queued_to_launched_seconds")),
        ("run: launched -> RUN_START (process start)", stats("launched_to_started_seconds")),
        ("run: RUN_START -> first STEP_START", stats("started_to_first_step_seconds")),
        ("run: first STEP_START -> last step event", stats("steps_seconds")),
        ("run: last step event -> run end", stats("last_step_to_end_seconds")),
        ("steps (a process each: multiprocess executor)", f"{m['steps']}"),
        ("step: STEP_WORKER_STARTING -> STEP_START", stats("step_worker_start_seconds")),
        ("step: STEP_START -> STEP_SUCCESS", stats("step_work_seconds")),
        ("seconds with at least one run going", f"{m['seconds_with_a_run_going']}"),
        ("runs / events in the event log", f"{m['runs_count']} / {m['events_total']:,}"),
        ("ASSET_MATERIALIZATION_PLANNED events", f"{m['materialization_planned_events']:,} "
                                                 f"(index.db: "
                                                 f"{m['materialization_planned_in_index_db']})"),
        ("lake files (Parquet)", f"{m['lake_files']:,} ({m['lake_parquet_files']:,})"),
        ("storage (raw partitions)", f"{m.get('storage', 'sqlite')} "
                                     f"({m.get('partitions', 'daily')})"),
        ("DAGSTER_HOME bytes", f"{m['dagster_home_bytes']:,}"),
    ]  # fmt: skip
    if "pg_database_bytes" in m:
        rows.append(("PostgreSQL database bytes", f"{m['pg_database_bytes']:,}"))
    for shard in bench.SHARDS:
        for table in bench.TABLES:
            rows.append((f"rows {shard}.{table}: raw / source in window (before it)",
                         f"{raw[shard][table]} / {source[shard][table]} "
                         f"({before[shard][table]})"))  # fmt: skip
    salaries = sum(source[s]["salaries"] for s in bench.SHARDS)
    dept_emp = sum(source[s]["dept_emp"] for s in bench.SHARDS)
    lake = m["lake_rows"]
    rows.append((f"rows views/{bench.VIEW} (rejects) / source salaries in window",
                 f"{lake['view']} ({lake['view_rejects']}) / {salaries}"))  # fmt: skip
    rows.append((f"rows views/{bench.DEPT_VIEW} / source dept_emp in window",
                 f"{lake['dept_view']} / {dept_emp}"))  # fmt: skip
    by_count: dict[int, list[str]] = {}
    for key, count in m["materialized_partitions"].items():
        by_count.setdefault(count, []).append(key)
    for count, keys in sorted(by_count.items()):
        rows.append((f"partitions materialized: {count}", ", ".join(sorted(keys))))
    lines = ["| measure | value |", "| --- | --- |", *(f"| {k} | {v} |" for k, v in rows)]
    lines += ["", "Runs, seconds from the launch:", "",
              "| run | status | assets | range | created | launched | RUN_START | 1st step "
              "| last step | ended |",
              "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for r in m["runs"]:
        span = " .. ".join(d or "-" for d in r["range"]) if any(r["range"]) else "-"
        lines.append(f"| {r['run_id'][:8]} | {r['status']} | {r['assets']} | {span} "
                     f"| {r['created']} | {r['launched']} | {r['started']} | {r['first_step']} "
                     f"| {r['last_step_event']} | {r['ended']} |")  # fmt: skip
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3306)
    parser.add_argument("--user", default="root")
    parser.add_argument("--password", default="")
    parser.add_argument("--skip-seed", action="store_true", help="reuse what seed.json records")
    parser.add_argument("--employees", type=int, default=1000, help="seeded, half per shard")
    parser.add_argument("--years", type=int, default=17, help="seeded history before --end")
    parser.add_argument("--end", type=dt.date.fromisoformat, help="seeded last day (today)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--days", type=int, help="backfill the last N days (default: all)")
    parser.add_argument(
        "--max-days-per-run", type=int, default=31, help="extract.max_days_per_run of the assets"
    )
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds to wait for the backfill's end"
    )
    parser.add_argument(
        "--dir", type=Path, default=bench.PROJECT_ROOT / ".local" / "bench-employees"
    )
    parser.add_argument(
        "--partitions",
        choices=["daily", "monthly"],
        default="daily",
        help="the dated tables' `partitions:` (monthly: a Dagster partition per month)",
    )
    bench.add_storage_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ[bench.PARTITIONS_ENV] = args.partitions
    # SIGTERM unwinds like Ctrl-C, so the daemon and webserver are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    server = bench.Server(args.host, args.port, args.user, args.password)
    work: Path = args.dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    if args.skip_seed:
        marker = work / "seed.json"
        if not marker.is_file():
            raise SystemExit(f"--skip-seed: no {marker}; run once without it")
        seeded = json.loads(marker.read_text())
    else:
        options = bench.seed_options(args, None, single_row=False)
        seeded = dataclasses.asdict(bench.seed(server, work, **options))
    run_dir = work / "daemon"
    report = {
        "command": " ".join(["python -m bench.employees.daemon", *(argv or sys.argv[1:])]),
        "seed": seeded,
        "measure": measure(server, args, seeded, run_dir),
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    (run_dir / "report.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"\n{markdown(report)}\n\nwrote {run_dir / 'report.json'}")
    return 0 if report["measure"]["status"] == "COMPLETED_SUCCESS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
