"""Pool slots of runs that can no longer free them: of runs whose process is gone, and of runs
that ended long ago (what the daemon's run monitoring frees, when a daemon runs)."""

from __future__ import annotations

import os
import socket
import time
from typing import TYPE_CHECKING

from etl_platform.run_guard.processes import HOST_TAG, PID_TAG, describe_run, process_gone

if TYPE_CHECKING:
    import dagster as dg


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


def describe_freed(held: dict[str, int]) -> str:
    """The slots `free_slots` freed, as the guard's messages say it."""
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
    return (
        f"{describe_run(run)}: its process is gone (killed?): marked failed, {describe_freed(held)}"
    )


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
                lines.append(
                    f"{describe_run(record.dagster_run)} had ended: {describe_freed(held)}"
                )
    return lines
