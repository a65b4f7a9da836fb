"""The progress of `etl-platform run` as it happens: a live display (rich) on a terminal, one
plain line per finished step when the output is a pipe or a file (CI, logs) or `--plain`.

Both write to a copy of stdout taken before the run: during a run Dagster points the process's
stdout at its log capture and copies that to the terminal a second late.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
from collections.abc import Iterable, Iterator
from typing import TextIO

import dagster as dg
from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, ProgressColumn, SpinnerColumn, Task
from rich.progress import Progress as RichProgress
from rich.text import Text

from etl_platform.cli.step_tracker import StepDone, StepTracker
from etl_platform.runner import RunObserver, RunPlan


def step_line(done: StepDone) -> str:
    """`[12/86] raw/shard_03/orders 2025-03-01..2025-03-07 20,412 rows 3.1 s`."""
    head = f"[{done.index}/{done.total}]"
    if done.status in ("skipped", "not run"):
        return f"{head} {done.status} {done.label}: a step it needs did not succeed"
    parts = [head, "FAILED" if done.status == "failed" else "", done.label]
    if done.first_day:
        same = done.first_day == done.last_day
        parts.append(done.first_day if same else f"{done.first_day}..{done.last_day}")
    if done.rows is not None:
        parts.append(f"{done.rows:,} rows")
    parts.append(f"{done.seconds:.1f} s")
    line = " ".join(p for p in parts if p)
    return f"{line}: {done.error}" if done.error else line


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class PlainProgress:
    """One line per finished step, written as the step ends."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self._tracker: StepTracker | None = None

    def run_started(self, plan: RunPlan) -> None:
        self._tracker = StepTracker(plan)
        sys.stdout.flush()  # what the command printed before comes first
        self._write(
            f"run {plan.run_id}: {plan.job_name}, {len(plan.steps)} steps, "
            f"{plan.first} .. {plan.last}"
        )

    def on_event(self, event: dg.EventLogEntry) -> None:
        done = self._tracker.on_event(event) if self._tracker else None
        if done is not None:
            self._write(step_line(done))

    def run_ended(self) -> None:
        for done in self._tracker.not_run() if self._tracker else []:
            self._write(step_line(done))
        self._tracker = None

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()


class LiveProgress:
    """A bar of steps with partitions (asset days), rows, time elapsed and left, and the
    steps running; failed steps are printed above it as they fail."""

    def __init__(self, console: Console):
        self.console = console
        self._tracker: StepTracker | None = None
        self._bar: _RunBar | None = None

    def run_started(self, plan: RunPlan) -> None:
        self._tracker = StepTracker(plan)
        sys.stdout.flush()
        # No redirection of sys.stdout/stderr: Dagster points their descriptors at its log
        # capture during the run, and should find them as they are.
        self._bar = _RunBar(
            self._tracker,
            console=self.console,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._task = self._bar.add_task("steps", total=len(plan.steps))
        self._bar.start()

    def on_event(self, event: dg.EventLogEntry) -> None:
        if self._tracker is None or self._bar is None:
            return
        done = self._tracker.on_event(event)
        if done is None:
            return
        self._bar.update(self._task, completed=done.index, total=done.total)
        if done.status != "ok":
            self._bar.console.print(Text(step_line(done)))

    def run_ended(self) -> None:
        if self._bar is not None:
            self._bar.stop()
        for done in self._tracker.not_run() if self._tracker else []:
            self.console.print(Text(step_line(done)))
        self._tracker = self._bar = None


class _RunColumn(ProgressColumn):
    """Asset days, rows, elapsed and left, read from the tracker at every refresh."""

    def __init__(self, tracker: StepTracker):
        super().__init__()
        self.tracker = tracker

    def render(self, task: Task) -> Text:
        p = self.tracker.progress()
        return Text(
            f"partitions {p.partitions_done:,}/{p.partitions_total:,}  {p.rows:,} rows  "
            f"{duration(p.elapsed)} elapsed  ~{duration(p.seconds_left)} left"
        )


class _RunBar(RichProgress):
    def __init__(self, tracker: StepTracker, **kwargs: object):
        self.tracker = tracker
        columns = (
            SpinnerColumn(),
            "[bold]{task.description}",
            MofNCompleteColumn(),
            BarColumn(),
            _RunColumn(tracker),
        )
        super().__init__(*columns, **kwargs)  # type: ignore[arg-type]

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        running = self.tracker.progress().running
        if running:
            yield Text(f"  running: {', '.join(running)}", no_wrap=True, overflow="ellipsis")


@contextlib.contextmanager
def run_progress(plain: bool = False) -> Iterator[RunObserver]:
    """The display for this process's stdout: live on a terminal unless `plain`."""
    try:
        stream: TextIO = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    except (OSError, ValueError, io.UnsupportedOperation):  # no file behind stdout (a test)
        stream = sys.stdout
    try:
        if plain or not stream.isatty():
            yield PlainProgress(stream)
        else:
            width = shutil.get_terminal_size().columns
            yield LiveProgress(Console(file=stream, width=width))
    finally:
        if stream is not sys.stdout:
            stream.close()
