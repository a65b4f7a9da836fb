"""A range run longer than a backfill run announces one planned event per asset, not per day."""

import datetime as dt
import os

import dagster as dg

from etl_platform.partitions import allow_beta_backfill_policy, bounded_backfill
from etl_platform.planned_events import COMPACT_ENV, backfill_run_days, compact_for
from etl_platform.runner import run_range

FIRST = dt.date(2024, 1, 1)
PARTITIONS = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-02-01")


def _defs() -> dg.Definitions:
    with allow_beta_backfill_policy():

        @dg.asset(partitions_def=PARTITIONS, backfill_policy=bounded_backfill(3))
        def upstream(context: dg.AssetExecutionContext) -> None:
            context.log.info(str(context.partition_key_range))

        @dg.asset(partitions_def=PARTITIONS, backfill_policy=bounded_backfill(5), deps=[upstream])
        def downstream() -> None:
            return None

        @dg.asset(deps=[downstream])
        def unpartitioned() -> None:
            return None

    return dg.Definitions(
        assets=[upstream, downstream, unpartitioned],
        jobs=[dg.define_asset_job("all_assets", selection=dg.AssetSelection.all())],
    )


def _planned(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, str | None, int]]:
    """(asset, partition, days in its subset) of each planned event of the run."""
    out = []
    for record in instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    ).records:
        data = record.event_log_entry.dagster_event.asset_materialization_planned_data
        subset = data.partitions_subset
        out.append(
            (
                data.asset_key.to_user_string(),
                data.partition,
                len(subset.get_partition_keys()) if subset is not None else 0,
            )
        )
    return sorted(out, key=lambda e: (e[0], e[1] or ""))


def test_the_bound_is_the_shortest_backfill_run_of_the_partitioned_assets() -> None:
    defs = _defs()
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    assert backfill_run_days(graph, keys) == 3
    assert backfill_run_days(graph, {dg.AssetKey("unpartitioned")}) is None
    assert not compact_for(3, 3)
    assert compact_for(4, 3)
    assert not compact_for(10_000, None)


def test_a_run_as_long_as_a_backfill_run_plans_each_day() -> None:
    defs = _defs()
    with dg.instance_for_test() as instance:
        run = run_range(defs, "all_assets", FIRST, FIRST + dt.timedelta(days=2), instance=instance)
        assert run.success
        planned = _planned(instance, run.run_id)
    days = ["2024-01-01", "2024-01-02", "2024-01-03"]
    # Dagster plans the unpartitioned asset under the run's days too.
    assert planned == [(a, d, 0) for a in ("downstream", "unpartitioned", "upstream") for d in days]


def test_a_longer_run_plans_each_asset_once_and_restores_the_setting() -> None:
    defs = _defs()
    assert COMPACT_ENV not in os.environ
    with dg.instance_for_test() as instance:
        run = run_range(defs, "all_assets", FIRST, FIRST + dt.timedelta(days=19), instance=instance)
        assert run.success
        planned = _planned(instance, run.run_id)
        materialized = instance.get_materialized_partitions(dg.AssetKey("downstream"))
    assert planned == [(a, None, 20) for a in ("downstream", "unpartitioned", "upstream")]
    assert len(materialized) == 20  # the days are still materialized one by one
    assert COMPACT_ENV not in os.environ
