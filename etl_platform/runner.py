"""Run a job over a range of days in one run (and the range's months in another, for the raw
assets partitioned by month), and summarise what it wrote."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Protocol

import dagster as dg

from etl_platform.automation.jobs import JOBS_WITH_MONTHLY_RAW, MONTHLY_EXTRACT_JOB
from etl_platform.automation.selections import MONTHLY_RAW_ASSETS
from etl_platform.planned_events import backfill_run_days, compact_for, planned_events
from etl_platform.run_guard import guarded_run, process_tags

log = logging.getLogger("etl_platform.runs")

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


@dataclasses.dataclass(frozen=True)
class AssetOutcome:
    key: str
    #: Rows the run wrote: the sum of its partitions' row counts (an unpartitioned asset: its
    #: count).
    rows: int | None
    path: str | None
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class FailedCheck:
    """An asset check that did not pass: which, on what, and its figures (the metadata)."""

    asset: dg.AssetKey
    name: str
    #: ERROR severity: it held back what is downstream of the asset.
    blocking: bool
    metadata: dict[str, object]


@dataclasses.dataclass(frozen=True)
class RangeRun:
    run_id: str
    success: bool
    outcomes: list[AssetOutcome]
    #: Asset keys the run materialized, and those whose blocking check failed.
    materialized: frozenset[dg.AssetKey] = frozenset()
    blocked: frozenset[dg.AssetKey] = frozenset()
    #: The job it ran, and its first and last partition keys.
    job_name: str = ""
    partitions: tuple[str, str] | None = None
    failed_steps: frozenset[str] = frozenset()
    failed_checks: tuple[FailedCheck, ...] = ()


@dataclasses.dataclass(frozen=True)
class RunPlan:
    """What a run is about to do, for whoever watches it (`RunObserver`)."""

    run_id: str
    job_name: str
    first: dt.date
    last: dt.date
    #: Step key -> the asset keys it materializes (user strings, sorted).
    steps: dict[str, tuple[str, ...]]
    #: Assets without partitions (lookup state): one materialization each, whatever the days.
    unpartitioned: frozenset[str] = frozenset()
    #: Partitions per partitioned asset when they are not days (a run of monthly assets).
    span: int | None = None

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def partitions(self) -> int:
        """Asset partitions the run materializes if every step succeeds."""
        keys = [k for keys in self.steps.values() for k in keys]
        per_asset = self.days if self.span is None else self.span
        return sum(1 if k in self.unpartitioned else per_asset for k in keys)


class RunObserver(Protocol):
    """Sees a run's events as they are stored, on the thread that runs the step."""

    def run_started(self, plan: RunPlan) -> None: ...

    def on_event(self, event: dg.EventLogEntry) -> None: ...

    def run_ended(self) -> None: ...


def last_days(n: int, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The last `n` UTC days, today included."""
    today = today or dt.datetime.now(dt.UTC).date()
    return today - dt.timedelta(days=n - 1), today


def destinations_out_of_reach(defs: dg.Definitions, job_name: str) -> dict[dg.AssetKey, str]:
    """The job's destination assets that cannot land here, with why: a destination that is not
    configured (athena without a bucket) or not answering (redshift's server). Checked at run
    time, and only for the destinations the job has, so the graph is the same everywhere and
    a local run leaves them out instead of failing on them."""
    from etl_platform.destination_resources import AthenaResource, RedshiftResource

    keys = defs.resolve_job_def(job_name).asset_layer.executable_asset_keys
    kinds = {k.path[0] for k in keys}
    resources = defs.resources or {}
    athena, redshift = resources.get("athena"), resources.get("redshift")
    reasons: dict[str, str | None] = {}
    if kinds & {"athena", "athena_from_redshift"}:
        reasons["athena"] = (
            None
            if isinstance(athena, AthenaResource) and athena.enabled
            else "not configured (set ETL_PLATFORM_S3_BUCKET)"
        )
    if kinds & {"redshift", "athena_from_redshift"}:
        reasons["redshift"] = (
            redshift.unreachable_reason()
            if isinstance(redshift, RedshiftResource)
            else "not configured (set ETL_PLATFORM_REDSHIFT_DSN)"
        )
    if "athena_from_redshift" in kinds:
        reasons["athena_from_redshift"] = reasons["redshift"] or reasons["athena"]
    return {
        key: reason
        for key in keys
        if key.path[0] in reasons and (reason := reasons[key.path[0]]) is not None
    }


def run_range(
    defs: dg.Definitions,
    job_name: str,
    first: dt.date,
    last: dt.date,
    *,
    instance: dg.DagsterInstance,
    log_level: str = "WARNING",
    asset_selection: list[dg.AssetKey] | None = None,
    observer: RunObserver | None = None,
) -> RangeRun:
    """One run over [first, last]: each asset reads its whole range at once (one query).

    Guarded (`run_guard`): dead runs' pool slots are freed first, a wait for a pool is reported,
    and Ctrl-C or SIGTERM stop the run (RunInterrupted). An `observer` sees its events live.
    """
    job = defs.resolve_job_def(job_name)
    first, last = _holding(job.partitions_def, first), _holding(job.partitions_def, last)
    run_id = str(uuid.uuid4())
    pools = sorted({op.pool for op in job.graph.iterate_op_defs() if op.pool})
    selected = set(asset_selection or job.asset_layer.executable_asset_keys)
    graph = defs.resolve_asset_graph()
    span = _partitions_in(job.partitions_def, first, last)
    compact = compact_for(span, backfill_run_days(graph, selected))
    if observer is not None:
        unpartitioned = frozenset(
            k.to_user_string() for k in selected if graph.get(k).partitions_def is None
        )
        plan = RunPlan(
            run_id,
            job_name,
            first,
            last,
            _step_assets(defs, selected),
            unpartitioned,
            span=None if span == (last - first).days + 1 else span,
        )
        observer.run_started(plan)
        instance.add_event_listener(run_id, _harmless(observer.on_event))
    with (
        guarded_run(instance, run_id, job_name, pools),
        _ending(observer),
        planned_events(compact),
    ):
        result = job.execute_in_process(
            instance=instance,
            run_id=run_id,
            tags={
                RANGE_START_TAG: first.isoformat(),
                RANGE_END_TAG: last.isoformat(),
                **process_tags(),
            },
            raise_on_error=False,
            asset_selection=asset_selection,
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        )
    counts: dict[str, dict[str | None, int | None]] = {}
    paths: dict[str, str | None] = {}
    for event in result.get_asset_materialization_events():
        # One event per partition, each with its own day's row count.
        mat = event.step_materialization_data.materialization
        key = mat.asset_key.to_user_string()
        rows = mat.metadata.get("dagster/row_count")
        # Where the rows went: a lake folder, or a destination's table.
        path = next(
            (mat.metadata[k] for k in ("path", "table", "glue_table") if k in mat.metadata), None
        )
        counts.setdefault(key, {})[mat.partition] = int(rows.value) if rows is not None else None
        if path is not None or key not in paths:  # a long run names it on one day's event
            paths[key] = path.value if path is not None else None
    outcomes = {
        key: AssetOutcome(key=key, rows=_rows_written(by_day), path=paths[key])
        for key, by_day in counts.items()
    }
    for event in result.all_events:
        if event.is_step_failure:
            key = event.step_key or "?"
            error = event.step_failure_data.error
            while (
                error is not None
                and error.cause is not None
                and "StepExecutionError" in error.cls_name
            ):
                error = error.cause  # the user's exception, not Dagster's wrapper
            message = error.message.strip() if error else "failed"
            if error is not None and error.cls_name == "DagsterAssetCheckFailedError":
                message = "a blocking check failed (see the failed checks)"
            outcomes[key] = AssetOutcome(key=key, rows=None, path=None, error=message)
    failed_checks = tuple(
        FailedCheck(
            asset=data.asset_key,
            name=data.check_name,
            blocking=data.severity == dg.AssetCheckSeverity.ERROR,
            metadata={k: v.value for k, v in data.metadata.items()},
        )
        for event in result.all_events
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
        and not (data := event.event_specific_data).passed
    )
    blocked = {check.asset for check in failed_checks if check.blocking}
    return RangeRun(
        run_id=result.run_id,
        success=result.success,
        outcomes=list(outcomes.values()),
        materialized=frozenset(
            e.step_materialization_data.materialization.asset_key
            for e in result.get_asset_materialization_events()
        ),
        blocked=frozenset(blocked),
        failed_steps=frozenset(e.step_key for e in result.all_events if e.is_step_failure),
        failed_checks=failed_checks,
        job_name=job_name,
        partitions=(first.isoformat(), last.isoformat()),
    )


def _holding(partitions_def: dg.PartitionsDefinition | None, day: dt.date) -> dt.date:
    """The first day of the job's partition that holds `day` (its month, for a monthly job):
    Dagster would read a range bound that is not a partition's start as the next one."""
    if not isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        return day
    at = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp()
    key = partitions_def.get_partition_key_for_timestamp(at)
    return partitions_def.time_window_for_partition_key(key).start.astimezone(dt.UTC).date()


def _partitions_in(
    partitions_def: dg.PartitionsDefinition | None, first: dt.date, last: dt.date
) -> int:
    """How many partitions [first, last] spans (days, when the job's are not known)."""
    if partitions_def is None:
        return (last - first).days + 1
    return len(
        partitions_def.get_partition_keys_in_range(
            dg.PartitionKeyRange(first.isoformat(), last.isoformat())
        )
    )


def _step_assets(defs: dg.Definitions, selected: set[dg.AssetKey]) -> dict[str, tuple[str, ...]]:
    """The run's steps (an asset job has one per node) and the selected assets of each."""
    steps = {}
    for assets in defs.resolve_asset_graph().assets_defs:
        keys = selected & set(assets.keys) if assets.is_executable else set()
        if keys:
            steps[assets.node_def.name] = tuple(sorted(k.to_user_string() for k in keys))
    return steps


def _harmless(listener: Callable[[dg.EventLogEntry], None]) -> Callable[[dg.EventLogEntry], None]:
    """The listener, made unable to disturb the run: Dagster calls it while it stores an
    event, and an exception there would change how the run ends. A failure is logged once."""
    failed = False

    def listen(event: dg.EventLogEntry) -> None:
        nonlocal failed
        if failed:
            return
        try:
            listener(event)
        except Exception:
            failed = True
            log.exception("the run's progress display failed; the run goes on without it")

    return listen


@contextlib.contextmanager
def _ending(observer: RunObserver | None) -> Iterator[None]:
    try:
        yield
    finally:
        if observer is not None:
            observer.run_ended()


def run_range_through_failures(
    defs: dg.Definitions,
    job_name: str,
    first: dt.date,
    last: dt.date,
    *,
    instance: dg.DagsterInstance,
    asset_selection: list[dg.AssetKey] | None = None,
    max_runs: int = 5,
    observer: RunObserver | None = None,
) -> list[RangeRun]:
    """`run_range`, then follow-up runs of the views a failed step held back.

    Dagster does not run a step downstream of a failed one; a view reads the shards whose
    inputs are there, so a shard that is down must not stop the others' views. Only views
    (and what follows them) are followed up: whatever else depends on a failure stays held, as
    does everything after a failed blocking check.
    """
    graph = defs.resolve_asset_graph()
    steps = {a.node_def.name: set(a.keys) for a in graph.assets_defs if a.is_executable}
    partial_ok = {k for k in graph.get_all_asset_keys() if k.path[0] == "views"}
    wanted = set(
        asset_selection or defs.resolve_job_def(job_name).asset_layer.executable_asset_keys
    )
    runs: list[RangeRun] = []
    while wanted and len(runs) < max_runs:
        run = run_range(
            defs,
            job_name,
            first,
            last,
            instance=instance,
            asset_selection=sorted(wanted),
            observer=observer,
        )
        runs.append(run)
        failed = set().union(*(steps.get(s, set()) for s in run.failed_steps))
        held = _downstream(graph, failed, stop_at=partial_ok - failed)
        held |= _downstream(graph, set(run.blocked), stop_at=set())
        left = wanted - run.materialized - failed - held
        if not run.failed_steps or left == wanted:
            break
        wanted = left
    return runs


def run_days(
    defs: dg.Definitions,
    job_name: str,
    first: dt.date,
    last: dt.date,
    *,
    instance: dg.DagsterInstance,
    asset_selection: list[dg.AssetKey] | None = None,
    observer: RunObserver | None = None,
) -> list[RangeRun]:
    """`run_range_through_failures` over [first, last]; for a job that extracts, the raw assets
    partitioned by month first, in a run of their own over the months that hold those days
    (Dagster runs one partitioning per job)."""
    runs: list[RangeRun] = []
    if job_name in JOBS_WITH_MONTHLY_RAW:
        monthly_job = defs.resolve_job_def(MONTHLY_EXTRACT_JOB)
        if monthly := sorted(monthly_job.asset_layer.executable_asset_keys):
            runs += run_range_through_failures(
                defs,
                MONTHLY_EXTRACT_JOB,
                first,
                last,
                instance=instance,
                asset_selection=monthly,
                observer=observer,
            )
    return runs + run_range_through_failures(
        defs,
        job_name,
        first,
        last,
        instance=instance,
        asset_selection=asset_selection,
        observer=observer,
    )


def _downstream(
    graph: object, keys: set[dg.AssetKey], *, stop_at: set[dg.AssetKey]
) -> set[dg.AssetKey]:
    """Everything downstream of `keys`, not going through (nor counting) `stop_at`."""
    out: set[dg.AssetKey] = set()
    todo = list(keys)
    while todo:
        for child in graph.get(todo.pop()).child_keys:  # type: ignore[attr-defined]
            if child not in out and child not in stop_at:
                out.add(child)
                todo.append(child)
    return out


def _rows_written(by_day: dict[str | None, int | None]) -> int | None:
    """The sum of the days' counts."""
    known = [n for n in by_day.values() if n is not None]
    return sum(known) if known else None


def extract_lookup_history(
    defs: dg.Definitions,
    before: dt.date,
    *,
    instance: dg.DagsterInstance,
    announce: Callable[[str], None] | None = None,
) -> RangeRun | None:
    """Extract the raw days the lake lacks of every looked-up table, from the table's start to
    the day before `before`: a view's lookups as of `before` read them all (a view refuses a
    day whose lookups lack their history: `steps.lookup_versions.history_gaps`). None when
    none is missing."""
    from etl_platform.env import sources_path
    from etl_platform.load.lake_reads import partition_days
    from etl_platform.specs.loader import load_sources
    from etl_platform.steps.lookup_versions import missing_history

    sources = load_sources(sources_path())
    lake = defs.resources["lake"].lake()  # type: ignore[index]
    keys = defs.resolve_asset_graph().get_all_asset_keys()
    # A snapshot table has no days: its first snapshot covers its whole history.
    looked_up = {
        k.path[2]
        for k in keys
        if k.path[0] == "state" and not sources.tables[k.path[2]].is_snapshot
    }
    missing: dict[dg.AssetKey, list[dt.date]] = {}
    for key in keys:
        if key.path[0] == "raw" and len(key.path) == 3 and key.path[2] in looked_up:
            shard, table = key.path[1], key.path[2]
            days = missing_history(
                partition_days(lake.raw(shard, table)), sources.table_start(table), before
            )
            if days:
                missing[key] = days
    if not missing:
        return None
    first = min(days[0] for days in missing.values())
    last = max(days[-1] for days in missing.values())
    if announce is not None:
        announce(f"extracting the history of {sorted(looked_up)} ({first} .. {last}) for lookups")
    monthly = MONTHLY_RAW_ASSETS.resolve(defs.resolve_asset_graph()) & set(missing)
    runs = []
    if monthly:
        runs.append(
            run_range(
                defs,
                MONTHLY_EXTRACT_JOB,
                first,
                last,
                instance=instance,
                asset_selection=sorted(monthly),
            )
        )
    if daily := sorted(set(missing) - monthly):
        runs.append(
            run_range(defs, "extract_raw", first, last, instance=instance, asset_selection=daily)
        )
    return _merged(runs)


def _merged(runs: list[RangeRun]) -> RangeRun:
    """Runs reported as one: the last run's id, everything they did."""
    if len(runs) == 1:
        return runs[0]
    return RangeRun(
        run_id=runs[-1].run_id,
        success=all(run.success for run in runs),
        outcomes=[outcome for run in runs for outcome in run.outcomes],
        materialized=frozenset().union(*(run.materialized for run in runs)),
        blocked=frozenset().union(*(run.blocked for run in runs)),
        failed_steps=frozenset().union(*(run.failed_steps for run in runs)),
        failed_checks=tuple(check for run in runs for check in run.failed_checks),
        job_name=runs[-1].job_name,
    )
