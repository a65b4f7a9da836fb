"""Turn `sources.yaml` into one daily-partitioned asset per shard x table.

For each table `T` and each shard `S` that carries it, this produces the asset `raw/S/T` in
group `raw_S`, partitioned by the UTC day of `T`'s cursor, run in pool `mysql_S`.
"""

import datetime as dt

import dagster as dg

from etl_platform.asset_keys import raw_asset_key, shard_pool
from etl_platform.automation.conditions import RAW_REFRESH
from etl_platform.components.partition_metadata import add_daily_metadata
from etl_platform.components.source_metadata import extract_day_metadata, extract_metadata
from etl_platform.extract.connection import ShardUnavailableError
from etl_platform.extract.extractor import ExtractRequest, ExtractResult, extract_window
from etl_platform.load.lake import Lake
from etl_platform.partitions import (
    allow_beta_backfill_policy,
    bounded_backfill,
    platform_partitions,
    window_days,
)
from etl_platform.resources import LakeResource, MySqlShardsResource
from etl_platform.specs.sources import SourcesSpec


def build_source_asset(sources: SourcesSpec, shard: str, table: str) -> dg.AssetsDefinition:
    table_spec = sources.tables[table]
    with allow_beta_backfill_policy():

        @dg.asset(
            key=raw_asset_key(shard, table),
            group_name=f"raw_{shard}",
            description=(
                f"Rows of `{table}` on {shard} whose `{table_spec.cursor}` falls in the "
                "partition's UTC day, as Parquet in the raw zone."
            ),
            automation_condition=RAW_REFRESH,
            partitions_def=platform_partitions(sources),
            backfill_policy=bounded_backfill(sources.extract.max_days_per_run),
            pool=shard_pool(shard),
            kinds={"mysql", "parquet"},
            tags={"shard": shard, "table": table},
            metadata={"partition_expr": table_spec.cursor},
        )
        def _extract(
            context: dg.AssetExecutionContext,
            mysql_shards: MySqlShardsResource,
            lake: LakeResource,
        ) -> dg.MaterializeResult:
            days = window_days(context.partition_time_window)
            the_lake = lake.lake()
            result = _extract_or_retry(context, sources, shard, table, mysql_shards, days, the_lake)
            if result.plan.cursor_index is None:
                context.log.warning(
                    f"shard {shard} table `{table}`: no index starts with cursor column "
                    f"`{table_spec.cursor}`; each window read scans the whole table "
                    f"(EXPLAIN: {result.explain}). Add an index on `{table_spec.cursor}`."
                )
            context.log.info(
                f"{shard}.{table}: {result.rows} rows over {len(days)} day(s), {result.bytes} bytes"
            )
            add_daily_metadata(context, extract_day_metadata(result))
            return dg.MaterializeResult(
                metadata=extract_metadata(
                    result,
                    shard=shard,
                    backend=result.backend,
                    path=str(the_lake.raw(shard, table).dir),
                )
            )

    return _extract


def _extract_or_retry(
    context: dg.AssetExecutionContext,
    sources: SourcesSpec,
    shard: str,
    table: str,
    mysql_shards: MySqlShardsResource,
    days: list[dt.date],
    lake: Lake,
) -> ExtractResult:
    """One window's read; a shard that is down is retried with a doubling delay, then fails
    its own asset with the reason (other shards go on)."""
    table_spec = sources.tables[table]
    settings = sources.extract
    try:
        request = ExtractRequest(
            shard=shard,
            table=table,
            endpoint=mysql_shards.endpoint(shard, sources.shards[shard]),
            days=days,
            cursor=table_spec.cursor,
            primary_key=table_spec.primary_key,
            timezone=sources.shard_timezone(shard),
            exclude_columns=table_spec.exclude_columns,
            batch_rows=settings.batch_rows,
            backend=mysql_shards.backend,
            connect_timeout=settings.connect_timeout_seconds,
            read_timeout=settings.read_timeout_seconds,
            first_day=table_spec.start,
        )
        return extract_window(request, lake)
    except ShardUnavailableError as e:
        retry = settings.retry
        if context.retry_number < retry.max_retries:
            wait = retry.delay_seconds * (2**context.retry_number)
            context.log.warning(f"{e}; retry {context.retry_number + 1} in {wait:.0f}s")
            raise dg.RetryRequested(max_retries=retry.max_retries, seconds_to_wait=wait) from e
        raise dg.Failure(description=str(e), allow_retries=False) from None
    except LookupError as e:
        raise dg.Failure(description=str(e), allow_retries=False) from None


def build_source_assets(sources: SourcesSpec) -> list[dg.AssetsDefinition]:
    return [
        build_source_asset(sources, shard, table)
        for table in sources.tables
        for shard in sources.shards_for(table)
    ]
