"""A view's freshness as its data's lag: how far behind the shards the rows it holds are.

`data_as_of` (in the view's metadata) is up to when the view holds every commit of its source
table on every shard it reads, the oldest shard's figure:
- a CDC source: the capture's checkpoint `confirmed_at` when the build began;
- a batch source: when the run that last extracted the view's newest day on that shard began
  (the read saw every commit until then), less the replica's lag it recorded, or that day's
  end when it was read later; a shard without that day counts from the day's start.
Its lag is now minus that, whatever the run times: a view rebuilt every minute over a stalled
capture or a failing extract falls behind, and a quiet shard that keeps being read does not.

The `data_lag` check (WARN past the view's `freshness.warn_after`, ERROR past `fail_after`;
never blocking: a late view is still right for what it holds) is evaluated by the
`view_data_lag` sensor every 30 s, reported only when its state changes, and on demand from
the UI. It follows the view's two newest days (today's and yesterday's, UTC): a backfill of old
days does not change it, and a view not built for either keeps its last figure, so it stays late.
"""

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from etl_platform.asset_keys import DATA_LAG_CHECK, raw_asset_key, view_asset_key
from etl_platform.cdc.checkpoint import read_checkpoint
from etl_platform.layout import partition_key
from etl_platform.partitions import table_partition_key
from etl_platform.specs.durations import parse_duration
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.views import ViewSpec

DATA_LAG = DATA_LAG_CHECK
DATA_AS_OF = "data_as_of"
#: A raw read's replica lag, in its materialization's metadata (`extract.replica_lag`).
REPLICA_LAG = "replica_lag_seconds"
SENSOR_NAME = "view_data_lag"


def lagged_views(views: Sequence[ViewSpec], sources: SourcesSpec) -> list[ViewSpec]:
    """The views whose lag is measured: those with a `freshness`."""
    return [v for v in views if v.freshness]


def data_as_of(
    instance: dg.DagsterInstance,
    root: Path,
    sources: SourcesSpec,
    spec: ViewSpec,
    newest_day: dt.date,
) -> dt.datetime | None:
    """Up to when every source shard's commits had landed in the view's newest day (see the
    module docstring); None when a CDC shard's capture has not confirmed anything yet."""
    if sources.tables[spec.source].is_cdc:
        return _captured_as_of(root, sources, spec)
    return min(
        _extracted_as_of(
            instance,
            raw_asset_key(shard, spec.source),
            newest_day,
            table_partition_key(sources, spec.source, newest_day),
        )
        for shard in sources.shards_for(spec.source)
    )


def _extracted_as_of(
    instance: dg.DagsterInstance, raw_key: dg.AssetKey, day: dt.date, raw_partition: str
) -> dt.datetime:
    """When the latest read of `day` (in the raw partition `raw_partition`: the day, or its
    month) began, less the replica lag it recorded, capped at the day's end."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=raw_key, asset_partitions=[raw_partition]), limit=1
    ).records
    if not records:
        return start
    record = records[0]
    run = instance.get_run_record_by_id(record.run_id) if record.run_id else None
    began = run.start_time if run is not None and run.start_time is not None else record.timestamp
    # A replica read that far behind its primary held the commits up to then only.
    materialization = record.asset_materialization
    lag = materialization.metadata.get(REPLICA_LAG) if materialization is not None else None
    behind = float(lag.value) if lag is not None and isinstance(lag.value, int | float) else 0.0
    read = dt.datetime.fromtimestamp(began - behind, dt.UTC)
    return min(read, start + dt.timedelta(days=1))


def _captured_as_of(root: Path, sources: SourcesSpec, spec: ViewSpec) -> dt.datetime | None:
    confirmed = []
    for shard in sources.shards_for(spec.source):
        checkpoint = read_checkpoint(root, shard)
        if checkpoint is None or checkpoint.confirmed_at is None:
            return None
        confirmed.append(checkpoint.confirmed_at)
    return min(confirmed)


def data_as_of_metadata(as_of: dt.datetime | None) -> dict[str, dg.MetadataValue]:
    if as_of is None:
        return {}
    return {DATA_AS_OF: dg.MetadataValue.timestamp(as_of)}


def latest_data_as_of(
    instance: dg.DagsterInstance, spec: ViewSpec, now: dt.datetime | None = None
) -> dt.datetime | None:
    """The newest `data_as_of` among the latest builds of the view's two newest days; a view
    not built for those days falls back to its latest build's (old: it stays late)."""
    today = (now or dt.datetime.now(dt.UTC)).date()
    days = [partition_key(today), partition_key(today - dt.timedelta(days=1))]
    found = []
    for day in days:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=view_asset_key(spec.name), asset_partitions=[day]),
            limit=1,
        ).records
        materialization = records[0].asset_materialization if records else None
        value = materialization.metadata.get(DATA_AS_OF) if materialization is not None else None
        if value is not None:
            found.append(dt.datetime.fromtimestamp(value.value, dt.UTC))
    if not found:
        event = instance.get_latest_materialization_event(view_asset_key(spec.name))
        materialization = event.asset_materialization if event is not None else None
        value = materialization.metadata.get(DATA_AS_OF) if materialization is not None else None
        if value is not None:
            found.append(dt.datetime.fromtimestamp(value.value, dt.UTC))
    return max(found, default=None)


def lag_evaluation(
    spec: ViewSpec, as_of: dt.datetime | None, now: dt.datetime
) -> dg.AssetCheckEvaluation:
    assert spec.freshness is not None
    fail = parse_duration(spec.freshness.fail_after)
    warn = parse_duration(spec.freshness.warn_after) if spec.freshness.warn_after else None
    if as_of is None:
        passed, severity, what = False, dg.AssetCheckSeverity.WARN, "no data landed yet"
        lag = None
    else:
        lag = now - as_of
        late = lag >= fail or (warn is not None and lag >= warn)
        passed = not late
        severity = dg.AssetCheckSeverity.ERROR if lag >= fail else dg.AssetCheckSeverity.WARN
        what = f"holds every commit up to {as_of.isoformat(timespec='seconds')}, {_human(lag)} ago"
    return dg.AssetCheckEvaluation(
        asset_key=view_asset_key(spec.name),
        check_name=DATA_LAG,
        passed=passed,
        severity=severity,
        blocking=False,
        description=f"view {spec.name} {what} (fail after {spec.freshness.fail_after})",
        metadata={}
        if lag is None
        else {"lag_seconds": dg.MetadataValue.float(lag.total_seconds())},
    )


def _human(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7_200:
        return f"{seconds // 60} min"
    return f"{seconds // 3_600} h {seconds % 3_600 // 60} min"


def state_of(evaluation: dg.AssetCheckEvaluation) -> str:
    return "pass" if evaluation.passed else evaluation.severity.value.lower()


def data_lag_check_specs(spec: ViewSpec) -> list[dg.AssetCheckSpec]:
    """The view's `data_lag` check, declared on its own multi-asset: a build reports it without
    a step of its own, and the sensor reports it between builds."""
    if not spec.freshness:
        return []
    return [
        dg.AssetCheckSpec(
            DATA_LAG,
            asset=view_asset_key(spec.name),
            blocking=False,
            description="How far behind the shards the view's rows are (docs/alerts.md).",
        )
    ]


def data_lag_result(
    instance: dg.DagsterInstance,
    spec: ViewSpec,
    built: dt.datetime | None,
    built_days: Sequence[dt.date],
    now: dt.datetime,
) -> dg.AssetCheckResult:
    """The check as of a build that just ran: the newest of what the view's recent builds hold
    and, when it built today's or yesterday's day, what it holds itself (`built`)."""
    recent = {now.date(), now.date() - dt.timedelta(days=1)}
    as_of = latest_data_as_of(instance, spec, now)
    if built is not None and recent & set(built_days):
        as_of = built if as_of is None else max(as_of, built)
    evaluation = lag_evaluation(spec, as_of, now)
    return dg.AssetCheckResult(
        asset_key=evaluation.asset_key,
        check_name=evaluation.check_name,
        passed=evaluation.passed,
        severity=evaluation.severity,
        description=evaluation.description,
        metadata=evaluation.metadata,
    )


def build_data_lag_sensor(
    views: Sequence[ViewSpec], sources: SourcesSpec
) -> dg.SensorDefinition | None:
    """Evaluates `data_lag` of every lagged view on each tick; reports a view's evaluation
    when its state (pass, warn, error) changed since the last report (its cursor)."""
    lagged = lagged_views(views, sources)
    if not lagged:
        return None

    @dg.sensor(
        name=SENSOR_NAME,
        minimum_interval_seconds=30,
        description="How far behind the shards each view's data is (`data_lag` checks).",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        now = dt.datetime.now(dt.UTC)
        changed = []
        for spec in lagged:
            evaluation = lag_evaluation(spec, latest_data_as_of(context.instance, spec), now)
            if seen.get(spec.name) != state_of(evaluation):
                seen[spec.name] = state_of(evaluation)
                changed.append(evaluation)
        return dg.SensorResult(asset_events=changed, cursor=json.dumps(seen, sort_keys=True))

    return _sensor
