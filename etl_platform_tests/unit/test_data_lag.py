"""A batch view's data lag: up to when its newest day holds every commit, from the runs that
extracted that day on each shard, in a real Dagster instance."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg

from etl_platform.asset_keys import raw_asset_key, view_asset_key
from etl_platform.components.data_lag import (
    DATA_AS_OF,
    data_as_of,
    lag_evaluation,
    latest_data_as_of,
)
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.views import ViewSpec

DAY = dt.date(2026, 3, 4)
SOURCES = SourcesSpec.model_validate(
    {
        "start": DAY - dt.timedelta(days=3),
        "shards": {"s0": {"url_env": "UNUSED_0"}, "s1": {"url_env": "UNUSED_1"}},
        "tables": {"orders": {"primary_key": ["id"]}},
    }
)
SPEC = ViewSpec.model_validate(
    {
        "name": "orders_view",
        "source": "orders",
        "unique_key": ["order_id"],
        "freshness": {"warn_after": "15m", "fail_after": "1h"},
        "columns": {"order_id": {"from": "id", "type": "int64"}},
    }
)
DAYS = dg.DailyPartitionsDefinition(
    start_date=(DAY - dt.timedelta(days=3)).isoformat(), end_offset=1
)


def _extract(
    instance: dg.DagsterInstance, shard: str, day: dt.date, replica_lag: float | None = None
) -> dt.datetime:
    """A run that materializes `raw/<shard>/orders` for `day`; when it began."""

    @dg.asset(key=raw_asset_key(shard, "orders"), partitions_def=DAYS)
    def _raw() -> dg.MaterializeResult:
        lag = {} if replica_lag is None else {"replica_lag_seconds": replica_lag}
        return dg.MaterializeResult(metadata=lag)

    result = dg.materialize([_raw], instance=instance, partition_key=day.isoformat())
    record = instance.get_run_record_by_id(result.run_id)
    assert record is not None and record.start_time is not None
    return dt.datetime.fromtimestamp(record.start_time, dt.UTC)


def test_a_day_read_while_it_runs_is_as_of_the_oldest_shards_read(tmp_path: Path) -> None:
    with dg.instance_for_test() as instance:
        # Neither shard has the day: both count from its start.
        start = dt.datetime.combine(DAY, dt.time(), tzinfo=dt.UTC)
        assert data_as_of(instance, tmp_path, SOURCES, SPEC, DAY) == start
        # One shard read: the other still holds the view at the day's start.
        _extract(instance, "s0", DAY)
        assert data_as_of(instance, tmp_path, SOURCES, SPEC, DAY) == start
        # Both read: the older read is the view's figure (the day ended long ago: capped).
        _extract(instance, "s1", DAY)
        assert data_as_of(instance, tmp_path, SOURCES, SPEC, DAY) == start + dt.timedelta(days=1)
        # Today's day, read now: as of the older run's start.
        today = dt.datetime.now(dt.UTC).date()
        first, second = _extract(instance, "s0", today), _extract(instance, "s1", today)
        assert data_as_of(instance, tmp_path, SOURCES, SPEC, today) == min(first, second)
        # A shard read from a replica 10 minutes behind holds the commits up to then.
        third = _extract(instance, "s0", today, replica_lag=600.0)
        expected = min(third - dt.timedelta(minutes=10), second)
        assert data_as_of(instance, tmp_path, SOURCES, SPEC, today) == expected


def test_the_check_follows_the_two_newest_days_not_a_backfill(tmp_path: Path) -> None:
    """A build of last month recorded after today's does not make the view look fresh or
    stale: the check reads today's and yesterday's builds."""
    now = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
    fresh = now - dt.timedelta(minutes=5)
    old = dt.datetime(2026, 2, 2, tzinfo=dt.UTC)
    with dg.instance_for_test() as instance:
        for day, as_of in ((now.date(), fresh), (dt.date(2026, 2, 1), old)):
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    view_asset_key(SPEC.name),
                    partition=day.isoformat(),
                    metadata={DATA_AS_OF: dg.MetadataValue.timestamp(as_of)},
                )
            )
        assert latest_data_as_of(instance, SPEC, now) == fresh
        evaluation = lag_evaluation(SPEC, latest_data_as_of(instance, SPEC, now), now)
        assert evaluation.passed
        later = now + dt.timedelta(hours=2)
        # Two hours on, yesterday's build is the newest: an hour past fail_after.
        stale = lag_evaluation(SPEC, latest_data_as_of(instance, SPEC, later), later)
        assert not stale.passed and stale.severity == dg.AssetCheckSeverity.ERROR
        # Days on, with no build of today or yesterday: its last build's figure, still ERROR.
        days_on = now + dt.timedelta(days=3)
        assert latest_data_as_of(instance, SPEC, days_on) == old  # the latest event's
        gone = lag_evaluation(SPEC, latest_data_as_of(instance, SPEC, days_on), days_on)
        assert not gone.passed and gone.severity == dg.AssetCheckSeverity.ERROR
