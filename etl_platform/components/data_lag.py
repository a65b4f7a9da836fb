"""A CDC view's freshness as its data's lag: how far behind the shards the rows it holds are.

A view built from change files holds every commit its shards' captures had landed when the
build began: their checkpoints' `confirmed_at`, the oldest of them (`data_as_of`, in the view's
metadata). Its lag is now minus that, whatever the run times: a view rebuilt every minute over
a stalled capture falls behind, and a quiet shard whose capture keeps confirming does not.

The `data_lag` check (WARN past the view's `freshness.warn_after`, ERROR past `fail_after`;
never blocking: a late view is still right for what it holds) is evaluated by the
`cdc_data_lag` sensor every 30 s, reported only when its state changes, and on demand from
the UI.
"""

# No `from __future__ import annotations`: Dagster reads the check's `context` annotation at
# definition time and refuses it as a string.
import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
from dagster import AssetCheckExecutionContext

from etl_platform.asset_keys import DATA_LAG_CHECK, view_asset_key
from etl_platform.cdc.checkpoint import read_checkpoint
from etl_platform.specs.durations import parse_duration
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.views import ViewSpec

DATA_LAG = DATA_LAG_CHECK
DATA_AS_OF = "data_as_of"
SENSOR_NAME = "cdc_data_lag"


def lagged_views(views: Sequence[ViewSpec], sources: SourcesSpec) -> list[ViewSpec]:
    """The views whose lag is measured: a `mode: cdc` source and a `freshness`."""
    return [v for v in views if v.freshness and sources.tables[v.source].is_cdc]


def data_as_of(root: Path, sources: SourcesSpec, spec: ViewSpec) -> dt.datetime | None:
    """Up to when every source shard's commits had landed; None when a shard's capture has
    not confirmed anything yet (or the source is not CDC)."""
    if not sources.tables[spec.source].is_cdc:
        return None
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


def latest_data_as_of(instance: dg.DagsterInstance, spec: ViewSpec) -> dt.datetime | None:
    """`data_as_of` of the view's newest materialization that has one."""
    event = instance.get_latest_materialization_event(view_asset_key(spec.name))
    materialization = event.asset_materialization if event is not None else None
    value = materialization.metadata.get(DATA_AS_OF) if materialization is not None else None
    return None if value is None else dt.datetime.fromtimestamp(value.value, dt.UTC)


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


def build_data_lag_checks(
    views: Sequence[ViewSpec], sources: SourcesSpec
) -> list[dg.AssetChecksDefinition]:
    return [_data_lag_check(spec) for spec in lagged_views(views, sources)]


def _data_lag_check(spec: ViewSpec) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=view_asset_key(spec.name),
        name=DATA_LAG,
        blocking=False,
        description="How far behind the shards the view's rows are (docs/cdc.md).",
    )
    def _check(context: AssetCheckExecutionContext) -> dg.AssetCheckResult:
        evaluation = lag_evaluation(
            spec, latest_data_as_of(context.instance, spec), dt.datetime.now(dt.UTC)
        )
        return dg.AssetCheckResult(
            passed=evaluation.passed,
            severity=evaluation.severity,
            description=evaluation.description,
            metadata=evaluation.metadata,
        )

    return _check


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
        description="The data lag of the views on binlog-captured tables (`data_lag` checks).",
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
