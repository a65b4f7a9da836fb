"""A killed or stopped CLI run does not wedge the platform: real `etl-platform run` processes,
real signals, the real MariaDB, a DAGSTER_HOME holding the repo's dagster.yaml.

The shard `slow` serves `events` through a view that sleeps 5 ms on each row of SLOW_DAY (4,000
rows: ~20 s of extract, in batches of 100); FAST_DAY's 20 rows come at once. Its pool
`mysql_slow` has one slot (as `dagster instance concurrency set mysql_slow 1` would), so the one
run that holds it blocks every other run on the shard.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.config import dagster_instance_config

from etl_platform.env import PROJECT_ROOT
from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.run_guard import PID_TAG, process_alive, process_tags, slots_held
from etl_platform_tests.conftest import TEST_MYSQL_URL, run_sql

pytestmark = pytest.mark.integration

DATABASE = f"etl_test_faults_slow_{os.getpid()}"  # apart from a test session run beside
POOL = "mysql_slow"
SLOW_DAY, FAST_DAY = dt.date(2024, 3, 1), dt.date(2024, 3, 2)
SOURCES = f"""
timezone: UTC
start: 2024-01-01
extract: {{batch_rows: 100, connect_timeout_seconds: 2}}
shards:
  slow: {{url_env: ETL_TEST_SHARD_URL, database: {DATABASE}}}
tables:
  events: {{primary_key: [id]}}
"""


def _kill_queries(server: MySqlEndpoint) -> None:
    """End what killed runs left running on the server, so the database can be dropped."""
    for (thread_id,) in run_sql(
        server,
        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s AND ID <> CONNECTION_ID()",
        params=(DATABASE,),
    ):
        run_sql(server, f"KILL {int(thread_id)}")


@pytest.fixture(scope="module")
def slow_shard(mysql_server: MySqlEndpoint) -> Iterator[None]:
    run_sql(mysql_server, f"DROP DATABASE IF EXISTS `{DATABASE}`", f"CREATE DATABASE `{DATABASE}`")
    run_sql(
        mysql_server.with_database(DATABASE),
        "CREATE TABLE events_base (id BIGINT PRIMARY KEY, updated_at DATETIME(6) NOT NULL, "
        "note VARCHAR(40), KEY (updated_at))",
        "INSERT INTO events_base SELECT seq, "
        f"TIMESTAMP('{SLOW_DAY}') + INTERVAL seq SECOND, 'slow' FROM seq_1_to_4000",
        "INSERT INTO events_base SELECT 100000 + seq, "
        f"TIMESTAMP('{FAST_DAY}') + INTERVAL seq SECOND, 'fast' FROM seq_1_to_20",
        "CREATE ALGORITHM=MERGE VIEW events AS SELECT * FROM events_base "
        f"WHERE IF(updated_at < '{FAST_DAY}', SLEEP(0.005), 0) = 0",
    )
    yield
    _kill_queries(mysql_server)
    run_sql(mysql_server, f"DROP DATABASE IF EXISTS `{DATABASE}`")


@dataclasses.dataclass
class Platform:
    """One DAGSTER_HOME and lake, and the CLI processes started against them."""

    root: Path
    env: dict[str, str]
    procs: list[subprocess.Popen] = dataclasses.field(default_factory=list)

    def start(self, day: dt.date, name: str) -> subprocess.Popen:
        """`etl-platform run` of one day, its output in files (<name>.out, <name>.err)."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "etl_platform.cli", "run", "--start", str(day)],
            env=self.env,
            stdout=(self.root / f"{name}.out").open("w"),
            stderr=(self.root / f"{name}.err").open("w"),
        )
        self.procs.append(proc)
        return proc

    def output(self, name: str) -> str:
        return (self.root / f"{name}.err").read_text() + (self.root / f"{name}.out").read_text()

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(self.env["DAGSTER_HOME"])


@pytest.fixture
def platform(slow_shard: None, tmp_path: Path) -> Iterator[Platform]:
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    (tmp_path / "sources.yaml").write_text(SOURCES)
    (tmp_path / "no_views").mkdir()  # raw assets only
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ETL_PLATFORM_") and k != "DAGSTER_HOME"
    }
    env.update(
        DAGSTER_HOME=str(home),
        ETL_PLATFORM_SOURCES=str(tmp_path / "sources.yaml"),
        ETL_PLATFORM_VIEWS_DIR=str(tmp_path / "no_views"),
        ETL_PLATFORM_LAKE=str(tmp_path / "lake"),
        ETL_PLATFORM_LOCAL_DIR=str(tmp_path / "local"),
        ETL_TEST_SHARD_URL=TEST_MYSQL_URL,
    )
    the_platform = Platform(tmp_path, env)
    with the_platform.instance() as instance:
        instance.event_log_storage.set_concurrency_slots(POOL, 1)
    try:
        yield the_platform
    finally:
        for proc in the_platform.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def _wait_for(what: str, predicate: Callable[[], object], timeout: float = 60) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _run_of(instance: dg.DagsterInstance, proc: subprocess.Popen) -> dg.DagsterRun | None:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={PID_TAG: str(proc.pid)}))
    return runs[0] if runs else None


def _extracting(instance: dg.DagsterInstance, proc: subprocess.Popen) -> str:
    """The run id of `proc` once its extract step has started (and holds the pool's slot)."""

    def started() -> str | None:
        run = _run_of(instance, proc)
        if run is None:
            return None
        steps = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)
        return run.run_id if steps else None

    run_id = str(_wait_for("the extract step to start", started))
    time.sleep(0.5)  # into the read
    return run_id


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pool_is_free(instance: dg.DagsterInstance) -> bool:
    info = instance.event_log_storage.get_concurrency_info(POOL)
    return not info.claimed_slots and not info.pending_steps


def test_a_run_killed_mid_extract_is_failed_and_the_next_run_finishes(platform: Platform) -> None:
    with platform.instance() as instance:
        killed = platform.start(SLOW_DAY, "killed")
        killed_run = _extracting(instance, killed)
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait()
        assert slots_held(instance, killed_run) == {POOL: 1}  # what wedged the shard

        done = subprocess.run(
            [sys.executable, "-m", "etl_platform.cli", "run", "--start", str(FAST_DAY)],
            env=platform.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert f"run {killed_run} (extract_raw, STARTED, pid {killed.pid} on " in done.stderr
        assert (
            "its process is gone (killed?): marked failed, freed 1 slot(s) of pool mysql_slow"
            in done.stderr
        )
        assert "raw/slow/events                                 20 rows" in done.stdout
        run = instance.get_run_by_id(killed_run)
        assert run is not None and run.status == dg.DagsterRunStatus.FAILURE
        assert _pool_is_free(instance)


def test_a_waiting_run_names_the_holder_sleeps_and_goes_on_when_it_dies(
    platform: Platform,
) -> None:
    with platform.instance() as instance:
        holder = platform.start(SLOW_DAY, "holder")
        holder_run = _extracting(instance, holder)
        waiter = platform.start(FAST_DAY, "waiter")
        _wait_for(
            "the waiter to say it waits", lambda: "waits for pool" in platform.output("waiter")
        )
        said = platform.output("waiter")
        assert (
            f"raw__slow__events waits for pool mysql_slow (1 of 1 slots in use), held by run "
            f"{holder_run} (extract_raw, STARTED, pid {holder.pid} on " in said
        )
        waiter_run = _run_of(instance, waiter)
        assert waiter_run is not None
        logged = [
            e
            for e in instance.all_logs(waiter_run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
            if "waits for pool mysql_slow" in (e.message or "")
        ]
        assert logged and logged[0].level == 20  # INFO in the run's own log, not DEBUG

        cpu = _cpu_seconds(waiter.pid)
        time.sleep(2)
        assert _cpu_seconds(waiter.pid) - cpu < 0.7  # it sleeps while it waits

        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        assert waiter.wait(timeout=60) == 0, platform.output("waiter")[-3000:]
        assert f"run {holder_run} (extract_raw, STARTED, pid {holder.pid} on " in platform.output(
            "waiter"
        )
        run = instance.get_run_by_id(holder_run)
        assert run is not None and run.status == dg.DagsterRunStatus.FAILURE
        assert _pool_is_free(instance)


def test_sigterm_ends_an_extracting_run_within_seconds(platform: Platform) -> None:
    with platform.instance() as instance:
        proc = platform.start(SLOW_DAY, "stopped")
        run_id = _extracting(instance, proc)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
        assert time.monotonic() - sent < 15
        assert f"etl-platform: run {run_id} stopped by SIGTERM" in platform.output("stopped")
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.is_finished and not run.is_success
        assert _pool_is_free(instance)


def test_sigint_ends_a_run_waiting_for_a_pool_within_seconds(platform: Platform) -> None:
    """Dagster does not look at a signal while a run waits for a pool: the guard ends it."""
    with platform.instance() as instance:
        holder = platform.start(SLOW_DAY, "holder")
        holder_run = _extracting(instance, holder)
        waiter = platform.start(FAST_DAY, "waiter")

        def waiting() -> bool:
            info = instance.event_log_storage.get_concurrency_info(POOL)
            return any(p.run_id != holder_run for p in info.pending_steps)

        _wait_for("the waiter to queue for the pool", waiting)
        sent = time.monotonic()
        waiter.send_signal(signal.SIGINT)
        assert waiter.wait(timeout=30) == 128 + signal.SIGINT
        assert time.monotonic() - sent < 15
        waiter_run = _run_of(instance, waiter)
        assert waiter_run is not None and waiter_run.status == dg.DagsterRunStatus.CANCELED
        assert f"run {waiter_run.run_id} stopped by SIGINT" in platform.output("waiter")
        info = instance.event_log_storage.get_concurrency_info(POOL)
        assert [s.run_id for s in info.claimed_slots] == [holder_run]  # the holder's, untouched
        assert all(p.run_id != waiter_run.run_id for p in info.pending_steps)


def test_process_alive_tells_a_dead_process_and_a_reused_pid() -> None:
    proc = subprocess.Popen(["sleep", "30"])
    try:
        started = Path(f"/proc/{proc.pid}/stat").read_text().rpartition(")")[2].split()[19]
        assert process_alive(proc.pid, started)
        assert not process_alive(proc.pid, str(int(started) + 1))  # another process, same pid
    finally:
        proc.kill()
        proc.wait()
    assert not process_alive(proc.pid, started)
    assert process_tags()[PID_TAG] == str(os.getpid())


@pytest.mark.parametrize("config", ["dagster.yaml", "deploy/dagster.prod.yaml"])
def test_both_instance_configs_monitor_runs_and_free_dead_runs_slots(
    config: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DAGSTER_PG_HOST", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"):
        monkeypatch.setenv(name, "unused")
    shutil.copy(PROJECT_ROOT / config, tmp_path / "dagster.yaml")
    settings, _ = dagster_instance_config(str(tmp_path))
    monitoring = settings["run_monitoring"]
    assert monitoring["enabled"] is True
    assert monitoring["free_slots_after_run_end_seconds"] > 0
    assert monitoring["max_runtime_seconds"] > 0
