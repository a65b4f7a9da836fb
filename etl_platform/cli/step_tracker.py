"""A run's progress, kept from its Dagster events as they are stored: steps and asset days
done, rows written, and a record of each step as it finishes. Bookkeeping only; the progress
display (`cli.progress`) draws it."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

import dagster as dg

from etl_platform.runner import RunPlan

ROW_COUNT = "dagster/row_count"
_FINISHED = {
    dg.DagsterEventType.STEP_SUCCESS: "ok",
    dg.DagsterEventType.STEP_FAILURE: "failed",
    dg.DagsterEventType.STEP_SKIPPED: "skipped",
}


@dataclasses.dataclass(frozen=True)
class StepDone:
    """One finished step, in the order steps finish."""

    index: int
    total: int
    label: str
    #: The days it materialized (None: none, as for a failed or skipped step).
    first_day: str | None
    last_day: str | None
    rows: int | None
    seconds: float
    status: str  # ok, failed, skipped or not run
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class Progress:
    steps_done: int
    steps_total: int
    partitions_done: int
    partitions_total: int
    rows: int
    running: tuple[str, ...]
    elapsed: float

    @property
    def seconds_left(self) -> float | None:
        """Time left at the pace so far, by the mean of steps and asset days done: steps
        count whole only at their end, and a step writes its days as it goes."""
        fractions = [
            min(1.0, done / total)
            for done, total in (
                (self.steps_done, self.steps_total),
                (self.partitions_done, self.partitions_total),
            )
            if total
        ]
        done = sum(fractions) / len(fractions) if fractions else 0.0
        if not done:
            return None
        return self.elapsed * (1 - done) / done


@dataclasses.dataclass
class _Step:
    started: float | None = None
    days: set[str] = dataclasses.field(default_factory=set)
    rows: dict[str, int] = dataclasses.field(default_factory=dict)  # the label asset's, by day


class StepTracker:
    """Feed it a run's events (`on_event`, from any thread); `progress()` says where the run
    is, and `on_event` returns a step's record when the event finished it."""

    def __init__(self, plan: RunPlan, clock: Callable[[], float] = time.monotonic):
        self.plan = plan
        self._clock = clock
        self._start = clock()
        self._lock = threading.Lock()
        self._keys = list(plan.steps)  # the steps to run, as far as known
        self._steps: dict[str, _Step] = {}
        self._ended: set[str] = set()
        self._partitions = 0
        self._rows = 0

    def label(self, step_key: str) -> str:
        """What a step builds, named by its first asset."""
        keys = self.plan.steps.get(step_key)
        return keys[0] if keys else step_key

    def on_event(self, event: dg.EventLogEntry) -> StepDone | None:
        dagster_event = event.dagster_event
        if dagster_event is None:
            return None
        kind = dagster_event.event_type
        with self._lock:
            if kind == dg.DagsterEventType.LOGS_CAPTURED:
                # The plan's own step list, where one is given: the exact total.
                self._keys = list(dagster_event.event_specific_data.step_keys) or self._keys
                return None
            step_key = dagster_event.step_key
            if step_key is None:
                return None
            step = self._steps.setdefault(step_key, _Step())
            if kind == dg.DagsterEventType.STEP_START:
                step.started = event.timestamp
            elif kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
                self._materialized(step_key, step, dagster_event)
            elif kind in _FINISHED:
                return self._finished(step_key, step, event, _FINISHED[kind])
        return None

    def _materialized(self, step_key: str, step: _Step, event: dg.DagsterEvent) -> None:
        mat = event.step_materialization_data.materialization
        key = mat.asset_key.to_user_string()
        count = mat.metadata.get(ROW_COUNT)
        rows = int(count.value) if count is not None else 0
        self._partitions += 1
        if mat.partition is not None:  # an unpartitioned asset's count is a size, not rows written
            self._rows += rows
        if key == self.label(step_key) and mat.partition is not None:
            step.days.add(mat.partition)
            step.rows[mat.partition] = rows

    def _finished(
        self, step_key: str, step: _Step, event: dg.EventLogEntry, status: str
    ) -> StepDone:
        self._ended.add(step_key)
        if step_key not in self._keys:
            self._keys.append(step_key)
        self._steps.pop(step_key, None)
        label = self.label(step_key)
        days = sorted(step.days)
        rows = sum(step.rows.values()) if step.rows else None
        return StepDone(
            index=len(self._ended),
            total=len(self._keys),
            label=label,
            first_day=days[0] if days else None,
            last_day=days[-1] if days else None,
            rows=rows,
            seconds=event.timestamp - step.started if step.started is not None else 0.0,
            status=status,
            error=_error(event.dagster_event) if status == "failed" else None,
        )

    def not_run(self) -> list[StepDone]:
        """The steps that did not run, once the run has ended: Dagster does not start a step
        whose upstream step failed, and says so in no step event."""
        with self._lock:
            left = [k for k in self._keys if k not in self._ended]
            done = len(self._ended)
            self._ended.update(left)
            return [
                StepDone(done + i, len(self._keys), self.label(k), None, None, None, 0.0, "not run")
                for i, k in enumerate(left, start=1)
            ]

    def progress(self) -> Progress:
        with self._lock:
            return Progress(
                steps_done=len(self._ended),
                steps_total=len(self._keys),
                partitions_done=self._partitions,
                partitions_total=self.plan.partitions,
                rows=self._rows,
                running=tuple(
                    self.label(k) for k, s in self._steps.items() if s.started is not None
                ),
                elapsed=self._clock() - self._start,
            )


def _error(event: dg.DagsterEvent | None) -> str | None:
    """The first line of the user's exception (not Dagster's wrapper) that failed a step."""
    error = event.step_failure_data.error if event is not None else None
    while error is not None and error.cause is not None and "StepExecutionError" in error.cls_name:
        error = error.cause
    if error is None:
        return None
    if error.cls_name == "DagsterAssetCheckFailedError":
        return "a blocking check failed"
    return (error.message.strip().splitlines() or [""])[0]
