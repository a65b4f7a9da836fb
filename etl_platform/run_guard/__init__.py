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

Modules: `processes` (which process runs a run), `slots` (freeing what dead or ended runs
hold), `pacing` (Dagster's pool waits made to sleep), `watch` (the thread beside a run).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from etl_platform.run_guard.pacing import pace_pool_waits
from etl_platform.run_guard.processes import (
    HOST_TAG,
    PID_TAG,
    PROCESS_START_TAG,
    process_alive,
    process_gone,
    process_tags,
)
from etl_platform.run_guard.slots import (
    describe_freed,
    fail_dead_run,
    free_slots,
    free_slots_of_ended_runs,
    reap_dead_runs,
    slots_held,
)
from etl_platform.run_guard.watch import GRACE_SECONDS, RunWatch, stop_signals

if TYPE_CHECKING:
    import dagster as dg

__all__ = [
    "GRACE_SECONDS",
    "HOST_TAG",
    "PID_TAG",
    "PROCESS_START_TAG",
    "RunInterrupted",
    "RunWatch",
    "fail_dead_run",
    "free_slots",
    "free_slots_of_ended_runs",
    "guarded_run",
    "log_runs_to_terminal",
    "pace_pool_waits",
    "process_alive",
    "process_gone",
    "process_tags",
    "reap_dead_runs",
    "slots_held",
]

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
    with stop_signals() as wakeup:
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
            log.info(f"run {run_id} ended holding pool slots: {describe_freed(held)}")
        return
    run = instance.get_run_by_id(run_id)
    if run is not None and not run.is_finished:
        instance.report_run_canceled(run, f"stopped by {signal.Signals(signum).name}")
        run = instance.get_run_by_id(run_id)
    status = run.status.value if run is not None else "never created"
    raise RunInterrupted(run_id, signum, status)
