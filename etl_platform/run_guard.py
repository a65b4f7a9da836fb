"""Keep an in-process run from wedging the platform.

A run claims its steps' pool slots (`mysql_<shard>`) in the instance's storage and frees them as
its steps end. A process that dies without ending its run (SIGKILL, the OOM killer) keeps them,
and every later run on that shard waits for ever. So a run started here:

- records which process runs it (run tags: host, pid, the process's start time). At start, the
  earlier such runs of this host whose process is gone are marked failed and their slots freed,
  and so are the slots of runs that ended more than `free_slots_after_run_end_seconds` ago
  (what the daemon's run monitoring does, when a daemon runs);
- says at INFO, in the terminal and in the run's log, when a step waits for a pool and which
  runs hold it (Dagster's own event is DEBUG). A holder whose process is gone is failed and
  freed there and then;
- stops within seconds on Ctrl-C or SIGTERM. Dagster ends the run at its next check; a run that
  has not ended `GRACE_SECONDS` later (one waiting for a pool never checks) is marked canceled,
  its slots are freed and the process exits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dagster as dg
    from dagster._utils.concurrency import ConcurrencyKeyInfo

HOST_TAG = "etl_platform/host"
PID_TAG = "etl_platform/pid"
PROCESS_START_TAG = "etl_platform/process_start"

POLL_SECONDS = 2.0
REPEAT_SECONDS = 30.0
GRACE_SECONDS = 5.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

log = logging.getLogger("etl_platform.runs")


class RunInterrupted(Exception):
    """A run stopped by a signal: the CLI exits with 128 + the signal's number, like a shell."""

    def __init__(self, run_id: str, signum: int, status: str):
        self.run_id, self.signum = run_id, signum
        super().__init__(
            f"run {run_id} stopped by {signal.Signals(signum).name}: {status}, "
            "no pool slot left held"
        )

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def log_runs_to_terminal() -> None:
    """Send the run guard's INFO lines to the terminal's stderr. A duplicate of the descriptor:
    during a run Dagster points fd 2 at its log capture, mirrored to the terminal a second late,
    and not at all once Ctrl-C has stopped the mirroring process."""
    if any(getattr(h, "_etl_terminal", False) for h in log.handlers):
        return
    try:
        stream = os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1)
    except (OSError, ValueError):  # stderr is no file (io.UnsupportedOperation): in-process use
        return
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("etl-platform: %(message)s"))
    handler._etl_terminal = True  # type: ignore[attr-defined]
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


# --- which process runs a run ---------------------------------------------------------------


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) of a process, from /proc; None if absent."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()  # the name, in parentheses, may hold spaces
    return fields[0], fields[19]


def process_tags() -> dict[str, str]:
    """Run tags naming this process, so a later run can tell whether it is still alive."""
    tags = {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}
    stat = _proc_stat(os.getpid())
    if stat is not None:
        tags[PROCESS_START_TAG] = stat[1]
    return tags


def process_alive(pid: int, started: str | None = None) -> bool:
    """Whether process `pid` runs, and is the one that started at `started` (a pid is reused)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    stat = _proc_stat(pid)
    if stat is None:
        return not Path("/proc/self/stat").exists()  # without /proc, kill(0) is all we know
    state, start = stat
    return state != "Z" and (not started or start == started)


def process_gone(run: dg.DagsterRun) -> bool:
    """Whether `run` was started by a process of this host that no longer runs."""
    pid = run.tags.get(PID_TAG, "")
    if run.tags.get(HOST_TAG) != socket.gethostname() or not pid.isdigit():
        return False
    return not process_alive(int(pid), run.tags.get(PROCESS_START_TAG))


def _holder(run: dg.DagsterRun) -> str:
    where = f", pid {run.tags[PID_TAG]} on {run.tags.get(HOST_TAG)}" if PID_TAG in run.tags else ""
    return f"run {run.run_id} ({run.job_name}, {run.status.value}{where})"


# --- pool slots -----------------------------------------------------------------------------


def slots_held(instance: dg.DagsterInstance, run_id: str) -> dict[str, int]:
    """The pool slots `run_id` holds, by pool."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return {}
    infos = storage.get_concurrency_infos(sorted(storage.get_concurrency_keys()))
    held = {pool: sum(s.run_id == run_id for s in i.claimed_slots) for pool, i in infos.items()}
    return {pool: n for pool, n in held.items() if n}


def free_slots(instance: dg.DagsterInstance, run_id: str) -> dict[str, int]:
    """Free every slot and queued claim of `run_id`; the slots it held, by pool."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return {}
    held = slots_held(instance, run_id)
    storage.free_concurrency_slots_for_run(run_id)
    return held


def _slots(held: dict[str, int]) -> str:
    if not held:
        return "it held no pool slot"
    return "freed " + ", ".join(f"{n} slot(s) of pool {pool}" for pool, n in sorted(held.items()))


def fail_dead_run(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    """Mark failed a run whose process is gone and free its slots; says what was done."""
    current = instance.get_run_by_id(run.run_id) or run
    if not current.is_finished:
        instance.report_run_failed(
            current,
            f"its process (pid {run.tags.get(PID_TAG)} on {run.tags.get(HOST_TAG)}) is gone; "
            f"marked failed by etl-platform (pid {os.getpid()})",
        )
    held = free_slots(instance, run.run_id)
    return f"{_holder(run)}: its process is gone (killed?): marked failed, {_slots(held)}"


def reap_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Fail the unfinished runs of this host whose process is gone; a line for each."""
    import dagster as dg

    unfinished = [
        dg.DagsterRunStatus.NOT_STARTED,
        dg.DagsterRunStatus.STARTING,
        dg.DagsterRunStatus.STARTED,
        dg.DagsterRunStatus.CANCELING,
    ]
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=unfinished, tags={HOST_TAG: socket.gethostname()})
    )
    return [fail_dead_run(instance, r.dagster_run) for r in records if process_gone(r.dagster_run)]


def free_slots_of_ended_runs(instance: dg.DagsterInstance) -> list[str]:
    """Free the slots of runs that ended over `free_slots_after_run_end_seconds` ago, as the
    daemon's run monitoring does (dagster/_daemon/monitoring/concurrency.py): a CLI run also
    has no daemon beside it."""
    import dagster as dg

    after = instance.run_monitoring_settings.get("free_slots_after_run_end_seconds")
    storage = instance.event_log_storage
    if not after or not storage.supports_global_concurrency_limits:
        return []
    run_ids = storage.get_concurrency_run_ids()
    if not run_ids:
        return []
    finished = [
        dg.DagsterRunStatus.SUCCESS,
        dg.DagsterRunStatus.FAILURE,
        dg.DagsterRunStatus.CANCELED,
    ]
    lines = []
    now = time.time()
    for record in instance.get_run_records(
        filters=dg.RunsFilter(run_ids=sorted(run_ids), statuses=finished)
    ):
        ended = record.end_time or record.update_timestamp.timestamp()
        if ended + after < now:
            held = free_slots(instance, record.dagster_run.run_id)
            if held:
                lines.append(f"{_holder(record.dagster_run)} had ended: {_slots(held)}")
    return lines


def pace_pool_waits() -> None:
    """Make a run that waits for a pool sleep between its claim checks.

    Dagster's in-process executor asks `interval_to_next_pending_claim_check` how long to sleep;
    in 1.13 it returns `min([0, ...])`, never above 0, so a waiting run spins at 100% CPU. This
    returns the time to the next due check instead (dagster/_core/execution/plan/
    instance_concurrency_context.py). Skipped if that class changes shape.
    """
    try:
        from dagster._core.execution.plan.instance_concurrency_context import (
            InstanceConcurrencyContext,
        )
    except ImportError:
        return
    if getattr(InstanceConcurrencyContext, "_etl_paced", False) or not hasattr(
        InstanceConcurrencyContext, "interval_to_next_pending_claim_check"
    ):
        return

    def interval_to_next_pending_claim_check(self: InstanceConcurrencyContext) -> float:
        if not self._pending_claims:
            return 0.0
        now = time.time()
        return max(0.0, min((t - now for t in self._pending_timeouts.values()), default=0.0))

    InstanceConcurrencyContext.interval_to_next_pending_claim_check = (  # type: ignore[method-assign]
        interval_to_next_pending_claim_check
    )
    InstanceConcurrencyContext._etl_paced = True  # type: ignore[attr-defined]


# --- beside the run -------------------------------------------------------------------------


class RunWatch:
    """A thread beside a run: reports its steps that wait for a pool, fails dead holders, and
    ends the process when a stop signal does not end the run in time."""

    def __init__(
        self,
        instance: dg.DagsterInstance,
        run_id: str,
        job_name: str,
        pools: Sequence[str],
        wakeup: tuple[int, int] | None,
    ):
        self.instance, self.run_id, self.job_name = instance, run_id, job_name
        self.pools = sorted(pools)
        self.wakeup = wakeup
        self.signum: int | None = None
        self._deadline: float | None = None
        self._ended = threading.Event()
        self._said: dict[tuple[str, tuple[str, ...]], float] = {}
        self._thread = threading.Thread(target=self._loop, name="etl-run-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def finish(self) -> None:
        """Stop watching (the run has ended); a stop signal not yet read is still taken."""
        self._ended.set()
        if self.wakeup is not None:
            with contextlib.suppress(OSError):
                os.write(self.wakeup[1], b"\0")
        self._thread.join()
        for signum in self._read_signals(0):
            self.signum = self.signum or signum

    def _loop(self) -> None:
        next_poll = time.monotonic() + POLL_SECONDS
        while not self._ended.is_set():
            if time.monotonic() >= next_poll:
                self._report_pool_waits()
                next_poll = time.monotonic() + POLL_SECONDS
            overdue = self._deadline is not None and time.monotonic() >= self._deadline
            if overdue and not self._ended.is_set():
                self._force_stop()
            due = min(next_poll, self._deadline or next_poll)
            for signum in self._read_signals(max(0.0, due - time.monotonic())):
                if self._ended.is_set():  # the run ended: the caller reports the signal
                    self.signum = self.signum or signum
                    continue
                self._on_signal(signum)

    def _read_signals(self, timeout: float) -> list[int]:
        """Stop signals that arrived, waiting up to `timeout`: the interpreter writes each
        signal's number to the wakeup descriptor, whichever handler Dagster has installed."""
        if self.wakeup is None:
            self._ended.wait(timeout)
            return []
        ready, _, _ = select.select([self.wakeup[0]], [], [], timeout)
        if not ready:
            return []
        try:
            data = os.read(self.wakeup[0], 512)
        except BlockingIOError:
            return []
        return [b for b in data if b in STOP_SIGNALS]

    def _on_signal(self, signum: int) -> None:
        if self.signum is not None:
            self._force_stop()
        self.signum = signum
        self._deadline = time.monotonic() + GRACE_SECONDS
        name = signal.Signals(signum).name
        log.info(f"{name}: stopping run {self.run_id} (send it again to stop at once)")
        with contextlib.suppress(Exception):
            run = self.instance.get_run_by_id(self.run_id)
            if run is not None and not run.is_finished:
                self.instance.report_run_canceling(run, f"{name} received: stopping the run")

    def _force_stop(self) -> None:
        """The run did not end: cancel it, free its slots, end the process now."""
        signum = self.signum or signal.SIGINT
        name = signal.Signals(signum).name
        try:
            run = self.instance.get_run_by_id(self.run_id)
            if run is not None and not run.is_finished:
                self.instance.report_run_canceled(
                    run, f"{name}: the run did not stop within {GRACE_SECONDS:.0f}s; canceled"
                )
            held = free_slots(self.instance, self.run_id)
            log.info(f"run {self.run_id} stopped by {name}: canceled, {_slots(held)}")
        finally:
            for handler in log.handlers:
                handler.flush()
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os._exit(128 + signum)

    def _report_pool_waits(self) -> None:
        try:
            storage = self.instance.event_log_storage
            if not self.pools or not storage.supports_global_concurrency_limits:
                return
            for pool, info in storage.get_concurrency_infos(self.pools).items():
                self._report_pool_wait(pool, info)
        except Exception as e:  # a storage hiccup must not end the run
            log.debug(f"could not read the pools: {e}")

    def _report_pool_wait(self, pool: str, info: ConcurrencyKeyInfo) -> None:
        waiting = tuple(
            sorted(
                p.step_key
                for p in info.pending_steps
                if p.run_id == self.run_id and p.assigned_timestamp is None
            )
        )
        if not waiting:
            return
        others = sorted({s.run_id for s in info.claimed_slots if s.run_id != self.run_id})
        holders = [h for run_id in others if (h := self._live_holder(run_id)) is not None]
        if len(holders) < len(others):
            self._said.clear()  # a dead holder was freed: the next wait is news
            return
        line = (
            f"run {self.run_id}: {', '.join(waiting)} waits for pool {pool} "
            f"({info.active_slot_count} of {info.limit if info.limit is not None else '?'} "
            "slots in use), held by " + ("; ".join(holders) if holders else "no run")
        )
        now = time.monotonic()
        last = self._said.get((pool, waiting))
        if last is not None and now - last < REPEAT_SECONDS:
            return
        self._said[(pool, waiting)] = now
        log.info(line)
        self.instance.report_engine_event(
            line, job_name=self.job_name, run_id=self.run_id, step_key=waiting[0]
        )

    def _live_holder(self, run_id: str) -> str | None:
        """A holder, described; None for a dead one, which is failed and freed here."""
        run = self.instance.get_run_by_id(run_id)
        if run is None:
            return f"run {run_id} (not in this instance's runs)"
        if process_gone(run):
            log.info(fail_dead_run(self.instance, run))
            return None
        return _holder(run)


@contextlib.contextmanager
def _stop_signals() -> Iterator[tuple[int, int] | None]:
    """SIGINT and SIGTERM seen by the watcher as well as by the run; None off the main thread.

    Inside the run Dagster installs its own handlers (which only set a flag while no step code
    runs); the wakeup descriptor is written whatever the handler. Outside it, both raise
    KeyboardInterrupt here.
    """
    if threading.current_thread() is not threading.main_thread() or sys.platform == "win32":
        yield None  # (select() takes no pipe on Windows)
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    previous = {s: signal.signal(s, _interrupt) for s in STOP_SIGNALS}
    try:
        yield read_fd, write_fd
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(previous_fd)
        os.close(read_fd)
        os.close(write_fd)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def guarded_run(
    instance: dg.DagsterInstance, run_id: str, job_name: str, pools: Sequence[str]
) -> Iterator[None]:
    """Around one in-process run `run_id`: dead runs reaped first, pool waits reported, stop
    signals honoured, and no slot of the run left held after it. Raises RunInterrupted when a
    signal stopped the run."""
    pace_pool_waits()
    for line in [*reap_dead_runs(instance), *free_slots_of_ended_runs(instance)]:
        log.info(line)
    interrupted = False
    with _stop_signals() as wakeup:
        watch = RunWatch(instance, run_id, job_name, pools, wakeup)
        watch.start()
        try:
            yield
        except KeyboardInterrupt:
            interrupted = True
        finally:
            watch.finish()
            held = free_slots(instance, run_id)
    signum = watch.signum or (signal.SIGINT if interrupted else None)
    if signum is None:
        if held:
            log.info(f"run {run_id} ended holding pool slots: {_slots(held)}")
        return
    run = instance.get_run_by_id(run_id)
    if run is not None and not run.is_finished:
        instance.report_run_canceled(run, f"stopped by {signal.Signals(signum).name}")
        run = instance.get_run_by_id(run_id)
    status = run.status.value if run is not None else "never created"
    raise RunInterrupted(run_id, signum, status)
