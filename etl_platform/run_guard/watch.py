"""A thread beside a run, and the stop signals it hears.

A run waiting for a pool never checks whether it was asked to stop, and Dagster's own signal
handlers only set a flag: the watch reports the wait, frees what dead runs hold, and ends the
process when a stop signal does not end the run in time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from etl_platform.run_guard.processes import describe_run, process_gone
from etl_platform.run_guard.slots import describe_freed, fail_dead_run, free_slots

if TYPE_CHECKING:
    import dagster as dg
    from dagster._utils.concurrency import ConcurrencyKeyInfo

POLL_SECONDS = 2.0
REPEAT_SECONDS = 30.0
GRACE_SECONDS = 5.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

log = logging.getLogger("etl_platform.runs")


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
            log.info(f"run {self.run_id} stopped by {name}: canceled, {describe_freed(held)}")
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
        return describe_run(run)


@contextlib.contextmanager
def stop_signals() -> Iterator[tuple[int, int] | None]:
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
