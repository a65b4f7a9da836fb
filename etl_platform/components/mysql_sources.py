"""Turn `sources.yaml` into one asset per shard x table.

For each table `T` and each shard `S` that carries it, this produces the asset `raw/S/T` in
group `raw_S`, run in pool `mysql_S`: partitioned by the UTC day of `T`'s cursor, or for a
snapshot table (`mode: snapshot`) not partitioned, the whole table read on each refresh.
"""

import contextlib
import datetime as dt
from collections.abc import Iterator

import dagster as dg

from etl_platform.asset_keys import capture_asset_key, raw_asset_key, shard_pool
from etl_platform.automation.conditions import SNAPSHOT_REFRESH, raw_refresh
from etl_platform.components.landed_count_check import (
    count_before_read,
    counts_request,
    landed_count_check_results,
    landed_count_check_specs,
)
from etl_platform.components.null_cursor_check import (
    null_cursor_check_result,
    null_cursor_check_spec,
    previous_null_cursor_rows,
)
from etl_platform.components.partition_metadata import range_metadata
from etl_platform.components.source_metadata import (
    EMPTY_EXTRACT_DAY,
    extract_day_metadata,
    extract_metadata,
    null_cursor_metadata,
    schema_drift_metadata,
    table_schema,
)
from etl_platform.env import sources_path
from etl_platform.errors import SchemaChanged
from etl_platform.extract.binlog_stream import MAX_INDEX, current_position
from etl_platform.extract.connection import MySqlEndpoint, ShardUnavailableError
from etl_platform.extract.extractor import ExtractResult, extract_window
from etl_platform.extract.null_cursor import NullCursorRule
from etl_platform.extract.null_cursor_rows import (
    NullCursorReport,
    null_cursor_rejects,
    survey_null_cursor,
)
from etl_platform.extract.replica_lag import (
    ReplicaLagError,
    ReplicaStatus,
    guard_replica,
    lag_metadata,
)
from etl_platform.extract.schema_snapshot import snapshot_columns
from etl_platform.extract.snapshot import SnapshotRequest, SnapshotResult, extract_snapshot
from etl_platform.load.lake import Lake
from etl_platform.load.staging import dataset_lock
from etl_platform.partitions import (
    MONTHLY_TAG,
    allow_beta_backfill_policy,
    bounded_backfill,
    is_monthly,
    month_start,
    table_partitions,
    window_days,
)
from etl_platform.redaction import redacted_step
from etl_platform.resources import LakeResource, MySqlShardsResource
from etl_platform.specs.source_schema import schema_path_for
from etl_platform.specs.sources import RetrySpec, SourcesSpec, TableSpec
from etl_platform.steps.compact_changes import REREAD_LOCK
from etl_platform.steps.extract_request import extract_request

#: A monthly table is a sparse one: a backfill run reads at least a year of it, since a run of
#: one month would cost more in starting its process than in reading its rows.
MIN_MONTHS_PER_BACKFILL_RUN = 12


def build_source_asset(sources: SourcesSpec, shard: str, table: str) -> dg.AssetsDefinition:
    table_spec = sources.tables[table]
    key = raw_asset_key(shard, table)
    monthly = is_monthly(sources, table)
    with allow_beta_backfill_policy():

        @dg.asset(
            key=key,
            group_name=f"raw_{shard}",
            description=(
                f"Rows of `{table}` on {shard} whose `{table_spec.cursor}` falls in the "
                "partition's UTC day, as Parquet in the raw zone."
            ),
            # A CDC table's days are filled by the capture, which reports each day it adds
            # to; a materialization here is a batch re-read, asked for by hand or a backfill.
            automation_condition=None
            if table_spec.is_cdc
            else raw_refresh(sources.extract.late_commit_grace_delta, monthly=monthly),
            partitions_def=table_partitions(sources, table),
            backfill_policy=bounded_backfill(
                max(MIN_MONTHS_PER_BACKFILL_RUN, sources.extract.max_days_per_run // 31)
                if monthly
                else sources.extract.max_days_per_run
            ),
            pool=shard_pool(shard),
            kinds={"mysql", "parquet"},
            tags={"shard": shard, "table": table, **(MONTHLY_TAG if monthly else {})},
            metadata={"partition_expr": table_spec.cursor},
            check_specs=[
                null_cursor_check_spec(key),
                *landed_count_check_specs(key, is_cdc=table_spec.is_cdc),
            ],
        )
        @redacted_step
        def _extract(
            context: dg.AssetExecutionContext,
            mysql_shards: MySqlShardsResource,
            lake: LakeResource,
        ) -> dg.MaterializeResult:
            days = window_days(context.partition_time_window)
            if monthly:
                # The current month's partition also spans the days still to come.
                today = dt.datetime.now(dt.UTC).date()
                days = [day for day in days if day <= today]
            the_lake = lake.lake()
            previous_nulls = previous_null_cursor_rows(context.instance, key)
            snapshot, unsnapshotted = snapshot_columns(schema_path_for(sources_path()), table)
            with _shard_failures(context, sources.extract.retry):
                endpoint = mysql_shards.endpoint(shard, sources.shards[shard])
                # A lagging replica is waited for before any query, the first count included.
                replica = _wait_for_replica(context, sources, shard, table, endpoint)
                counting = counts_request(sources, shard, table, endpoint, days)
                counted_before = count_before_read(counting)
            result, nulls = _extract_or_retry(
                context, sources, shard, table, mysql_shards, days, the_lake, snapshot
            )
            if result.schema_drift:
                context.log.warning(
                    f"{shard}.{table}: the columns differ from the schema snapshot: "
                    f"{'; '.join(result.schema_drift.changes())}"
                )
            if result.plan.cursor_index is None:
                context.log.warning(
                    f"shard {shard} table `{table}`: no index starts with cursor column "
                    f"`{table_spec.cursor}`; each window read scans the whole table "
                    f"(EXPLAIN: {result.explain}). Add an index on `{table_spec.cursor}`."
                )
            context.log.info(
                f"{shard}.{table}: {result.rows} rows over {len(days)} day(s), {result.bytes} bytes"
            )
            if nulls.rows:
                context.log.warning(
                    f"{shard}.{table}: {nulls.rows} row(s) with NULL `{table_spec.cursor}` "
                    f"(null_cursor: {nulls.rule.describe()})"
                )
            with _shard_failures(context, sources.extract.retry):
                rows_checks = landed_count_check_results(key, counting, the_lake, counted_before)
            rejects = null_cursor_rejects(the_lake, shard, table)
            shared = {
                **extract_metadata(
                    result,
                    shard=shard,
                    backend=result.backend,
                    path=str(the_lake.raw(shard, table).dir),
                ),
                **null_cursor_metadata(nulls, rejects_path=str(rejects.dir)),
                "schema_drift": schema_drift_metadata(result.schema_drift, unsnapshotted),
                **lag_metadata(replica),
            }
            return dg.MaterializeResult(
                metadata=range_metadata(
                    context,
                    days,
                    extract_day_metadata(result),
                    shared=shared,
                    empty=EMPTY_EXTRACT_DAY,
                    partition_of=month_start if monthly else None,
                ),
                check_results=[
                    null_cursor_check_result(
                        key, previous=previous_nulls, current=nulls.rows, rule=nulls.rule.describe()
                    ),
                    *rows_checks,
                ],
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
    snapshot: dict[str, str] | None = None,
) -> tuple[ExtractResult, NullCursorReport]:
    """One window's read and the table's NULL-cursor count (`_shard_failures`); the caller
    has waited for the shard's replica."""
    table_spec = sources.tables[table]
    settings = sources.extract
    with _shard_failures(context, settings.retry):
        endpoint = mysql_shards.endpoint(shard, sources.shards[shard])
        with contextlib.ExitStack() as held:
            position = None
            if table_spec.is_cdc:
                # A re-read of days the capture also fills: no compaction meanwhile, and its
                # rows rank with the binlog position taken before it (docs/cdc.md).
                held.enter_context(dataset_lock(lake.raw(shard, table), REREAD_LOCK))
                position = binlog_position_now(endpoint, settings.connect_timeout_seconds)
            request = extract_request(
                sources,
                shard,
                table,
                endpoint,
                days,
                backend=mysql_shards.backend,
                snapshot=snapshot,
                log_position=position,
            )
            result = extract_window(request, lake)
        nulls = survey_null_cursor(
            request.endpoint,
            result.plan,
            null_cursor_rule(table_spec),
            null_cursor_rejects(lake, shard, table),
            shard=shard,
            timezone=request.timezone,
            batch_rows=settings.batch_rows,
            connect_timeout=settings.connect_timeout_seconds,
            read_timeout=settings.read_timeout_seconds,
        )
        return result, nulls


def _wait_for_replica(
    context: dg.AssetExecutionContext,
    sources: SourcesSpec,
    shard: str,
    table: str,
    endpoint: MySqlEndpoint,
) -> ReplicaStatus:
    """Wait while the shard's replica lags (`extract.replica`), holding the shard's pool slot
    so its other tables queue rather than each adding its own load; before any lock."""
    return guard_replica(
        endpoint,
        sources.replica_settings(shard),
        shard=shard,
        table=table,
        connect_timeout=sources.extract.connect_timeout_seconds,
        warn=context.log.warning,
        info=context.log.info,
    )


@contextlib.contextmanager
def _shard_failures(context: dg.AssetExecutionContext, retry: RetrySpec) -> Iterator[None]:
    """A shard that is down is retried with a doubling delay, then fails its own asset with
    the reason (other shards go on); a missing table or column, a refused schema change or a
    replica still lagging after `extract.replica.max_wait_seconds` fails it at once."""
    try:
        yield
    except ShardUnavailableError as e:
        if context.retry_number < retry.max_retries:
            wait = retry.delay_seconds * (2**context.retry_number)
            context.log.warning(f"{e}; retry {context.retry_number + 1} in {wait:.0f}s")
            raise dg.RetryRequested(max_retries=retry.max_retries, seconds_to_wait=wait) from e
        raise dg.Failure(description=str(e), allow_retries=False) from None
    except (LookupError, ReplicaLagError) as e:
        raise dg.Failure(description=str(e), allow_retries=False) from None
    except SchemaChanged as e:
        raise dg.Failure(
            description=str(e),
            metadata={"schema_drift": dg.MetadataValue.json(e.drift)},
            allow_retries=False,
        ) from None


def null_cursor_rule(spec: TableSpec) -> NullCursorRule:
    """`tables.<t>.null_cursor` as the extractor's rule."""
    if spec.cursor_fallback is not None:
        return NullCursorRule("fallback", spec.cursor_fallback)
    return NullCursorRule("ignore" if spec.null_cursor == "ignore" else "reject")


def build_snapshot_asset(sources: SourcesSpec, shard: str, table: str) -> dg.AssetsDefinition:
    """`raw/S/T` of a snapshot table: not partitioned, the whole table on each refresh."""
    table_spec = sources.tables[table]
    settings = sources.extract

    @dg.asset(
        key=raw_asset_key(shard, table),
        group_name=f"raw_{shard}",
        description=(
            f"Every row of `{table}` on {shard} as of the read (a snapshot table: read whole "
            "on each refresh), as one Parquet file in the raw zone."
        ),
        automation_condition=SNAPSHOT_REFRESH,
        pool=shard_pool(shard),
        kinds={"mysql", "parquet"},
        tags={"shard": shard, "table": table, "mode": "snapshot"},
    )
    @redacted_step
    def _snapshot(
        context: dg.AssetExecutionContext,
        mysql_shards: MySqlShardsResource,
        lake: LakeResource,
    ) -> dg.MaterializeResult:
        snapshot, unsnapshotted = snapshot_columns(schema_path_for(sources_path()), table)
        with _shard_failures(context, settings.retry):
            endpoint = mysql_shards.endpoint(shard, sources.shards[shard])
            replica = _wait_for_replica(context, sources, shard, table, endpoint)
            result = extract_snapshot(
                SnapshotRequest(
                    shard=shard,
                    table=table,
                    endpoint=endpoint,
                    primary_key=table_spec.primary_key,
                    taken_at=dt.datetime.now(dt.UTC),
                    timezone=sources.shard_timezone(shard),
                    exclude_columns=table_spec.exclude_columns,
                    batch_rows=settings.batch_rows,
                    backend=mysql_shards.backend,
                    connect_timeout=settings.connect_timeout_seconds,
                    read_timeout=settings.read_timeout_seconds,
                    snapshot_columns=snapshot,
                    on_schema_change=table_spec.on_schema_change,
                ),
                lake.lake(),
            )
        if result.schema_drift:
            context.log.warning(
                f"{shard}.{table}: the columns differ from the schema snapshot: "
                f"{'; '.join(result.schema_drift.changes())}"
            )
        context.log.info(f"{shard}.{table}: snapshot of {result.rows} rows, {result.bytes} bytes")
        path = lake.lake().snapshot(shard, table).path
        return dg.MaterializeResult(
            metadata={
                **snapshot_metadata(result, shard=shard, path=str(path)),
                "schema_drift": schema_drift_metadata(result.schema_drift, unsnapshotted),
                **lag_metadata(replica),
            }
        )

    return _snapshot


def snapshot_metadata(result: SnapshotResult, *, shard: str, path: str) -> dict:
    """What a snapshot read saw: its rows, columns, time and query."""
    return {
        "dagster/row_count": dg.MetadataValue.int(result.rows),
        "dagster/column_schema": table_schema(result.schema),
        "bytes": dg.MetadataValue.int(result.bytes),
        "snapshot_at": result.taken_at.isoformat(),
        "shard": shard,
        "backend": result.backend,
        "zero_dates_nulled": dg.MetadataValue.json(result.zero_dates),
        "query": dg.MetadataValue.md(f"```sql\n{result.query.describe()}\n```"),
        "path": dg.MetadataValue.path(path),
    }


CAPTURE_WARN_AFTER = dt.timedelta(minutes=3)
CAPTURE_FAIL_AFTER = dt.timedelta(minutes=10)


def binlog_position_now(endpoint: MySqlEndpoint, connect_timeout: float) -> str:
    """The shard's binlog end now, as a change position (`_log_pos`)."""
    conn = endpoint.connect(connect_timeout=connect_timeout)
    try:
        return current_position(conn).order_key(MAX_INDEX)
    finally:
        conn.close()


def build_capture_specs(sources: SourcesSpec) -> list[dg.AssetSpec]:
    """Each shard's binlog capture, as the UI shows it: the process (`etl-platform cdc run`)
    reports its lag, position and events/s as materializations of this asset."""
    return [
        dg.AssetSpec(
            key=capture_asset_key(shard),
            group_name=f"raw_{shard}",
            description=(
                f"The binlog capture of {shard} for {', '.join(sources.cdc_tables(shard))}: "
                "run by `etl-platform cdc run`, outside Dagster's runs (docs/cdc.md)."
            ),
            kinds={"mysql"},
            tags={"shard": shard},
            # Reported every few seconds while busy and every minute while idle: older
            # means the capture stalled or stopped.
            freshness_policy=dg.FreshnessPolicy.time_window(
                fail_window=CAPTURE_FAIL_AFTER, warn_window=CAPTURE_WARN_AFTER
            ),
        )
        for shard in sources.shards
        if sources.cdc_tables(shard)
    ]


def build_source_assets(sources: SourcesSpec) -> list[dg.AssetsDefinition]:
    return [
        (build_snapshot_asset if sources.tables[table].is_snapshot else build_source_asset)(
            sources, shard, table
        )
        for table in sources.tables
        for shard in sources.shards_for(table)
    ]
