"""Lookup state: per shard x looked-up table, the latest version of each row as of each day's end.

For each table `T` that a view looks up and each shard `S` carrying it, this produces the asset
`state/S/T` (group `lookup_state`), daily-partitioned. Partition D = latest per primary key of
(partition D-1 + raw/S/T day D), so a view's lookup for day D reads one compact file and its cost
does not grow with the days of history. A first day without the day before's state needs the
table's raw days from its start (`steps.state_days.require_history`). The self-dependency makes
a backfill run its ranges in order; the fold itself is `steps.state_days.fold_days`.
"""

import dagster as dg

from etl_platform.asset_keys import raw_asset_key, state_asset_key
from etl_platform.automation.conditions import DERIVED_REFRESH
from etl_platform.components.failures import step_failures
from etl_platform.components.partition_metadata import add_daily_metadata, day_row_counts
from etl_platform.components.source_metadata import table_schema
from etl_platform.load.lake_reads import partition_schema
from etl_platform.partitions import (
    SNAPSHOT_DAYS,
    allow_beta_backfill_policy,
    bounded_backfill,
    platform_partitions,
    window_days,
)
from etl_platform.resources import LakeResource
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.views import ViewSpec
from etl_platform.steps.state_days import fold_days, require_history, state_columns


def build_state_asset(
    sources: SourcesSpec, shard: str, table: str, columns: list[str]
) -> dg.AssetsDefinition:
    spec = sources.tables[table]
    key = state_asset_key(shard, table)

    @dg.asset(
        key=key,
        group_name="lookup_state",
        description=(
            f"Latest version of each `{table}` row on {shard} as of the end of the day "
            f"(columns {', '.join(columns)}), for views' lookups."
        ),
        automation_condition=DERIVED_REFRESH,
        partitions_def=platform_partitions(sources),
        deps=[
            dg.AssetDep(raw_asset_key(shard, table)),
            dg.AssetDep(key, partition_mapping=dg.TimeWindowPartitionMapping(-1, -1)),
        ],
        backfill_policy=bounded_backfill(sources.extract.max_days_per_run),
        kinds={"polars", "parquet"},
        tags={"shard": shard, "table": table},
        metadata={SNAPSHOT_DAYS: True},
    )
    def _state(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        the_lake = lake.lake()
        days = window_days(context.partition_time_window)
        raw, state = the_lake.raw(shard, table), the_lake.state(shard, table)
        with step_failures():
            arrow_schema = partition_schema(raw, days, columns)
            require_history(
                raw, state, days[0], start=sources.table_start(table), shard=shard, table=table
            )
            sizes = fold_days(
                raw,
                state,
                days,
                columns=columns,
                key=list(spec.primary_key),
                cursor=spec.cursor,
                schema=arrow_schema,
                log_to=context.log,
            )
        # Each day's row count is the state's size at the end of that day.
        add_daily_metadata(context, day_row_counts(sizes))
        return dg.MaterializeResult(
            metadata={
                "dagster/column_schema": table_schema(arrow_schema),
                "path": dg.MetadataValue.path(str(state.dir)),
            }
        )

    return _state


def build_state_assets(sources: SourcesSpec, views: list[ViewSpec]) -> list[dg.AssetsDefinition]:
    tables = sorted({lookup.table for view in views for lookup in view.lookups})
    assets = []
    with allow_beta_backfill_policy():
        for table in tables:
            columns = state_columns(table, views, sources)
            for shard in sources.shards_for(table):
                assets.append(build_state_asset(sources, shard, table, columns))
    return assets
