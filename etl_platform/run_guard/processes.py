"""Which process runs a run: tags naming it, and whether it still lives.

A run's pool slots are freed only by the process running it; the tags let a later run tell a
holder that still works from one that was killed.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dagster as dg

HOST_TAG = "etl_platform/host"
PID_TAG = "etl_platform/pid"
PROCESS_START_TAG = "etl_platform/process_start"


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


def describe_run(run: dg.DagsterRun) -> str:
    """A run as the guard's messages name it: id, job, status and, if tagged, its process."""
    where = f", pid {run.tags[PID_TAG]} on {run.tags.get(HOST_TAG)}" if PID_TAG in run.tags else ""
    return f"run {run.run_id} ({run.job_name}, {run.status.value}{where})"
