"""Key reconciliation of lookup state, for tables with `reconcile_keys: true`.

For each such table `T` with lookup state and each shard `S` carrying it, this produces the
asset `reconcile/S/T` (group `lookup_state`, not partitioned, pool `mysql_S`): it reads `T`'s
key set from `S` and adds a tombstone to `state/S/T` for each key the shard no longer has
(`steps.reconcile`). `automation.reconcile` runs them all on a schedule.
"""

import datetime as dt

import dagster as dg

from etl_platform.asset_keys import reconcile_asset_key, shard_pool, state_asset_key
from etl_platform.extract.connection import ShardUnavailableError
from etl_platform.extract.key_reader import read_key_set
from etl_platform.redaction import redacted_step
from etl_platform.resources import LakeResource, MySqlShardsResource
from etl_platform.specs.sources import SourcesSpec
from etl_platform.steps.reconcile import ReconcileReport, reconcile_versions


def build_reconcile_asset(sources: SourcesSpec, shard: str, table: str) -> dg.AssetsDefinition:
    spec = sources.tables[table]
    settings = sources.extract

    @dg.asset(
        key=reconcile_asset_key(shard, table),
        group_name="lookup_state",
        description=(
            f"Marks the `{table}` keys deleted on {shard} as gone from now on in its lookup "
            "state (a batch extract never sees a delete)."
        ),
        deps=[state_asset_key(shard, table)],
        pool=shard_pool(shard),
        kinds={"mysql", "polars"},
        tags={"shard": shard, "table": table},
    )
    @redacted_step
    def _reconcile(
        context: dg.AssetExecutionContext, mysql_shards: MySqlShardsResource, lake: LakeResource
    ) -> dg.MaterializeResult:
        state = lake.lake().versions(shard, table)
        try:
            keys = read_key_set(
                mysql_shards.endpoint(shard, sources.shards[shard]),
                table,
                cursor=spec.cursor,
                primary_key=spec.primary_key,
                shard=shard,
                timezone=sources.shard_timezone(shard),
                batch_rows=settings.batch_rows,
                connect_timeout=settings.connect_timeout_seconds,
                read_timeout=settings.read_timeout_seconds,
            )
            report = reconcile_versions(
                state, spec.primary_key, spec.version_column, keys, at=dt.datetime.now(dt.UTC)
            )
        except (ShardUnavailableError, LookupError) as e:
            raise dg.Failure(description=str(e), allow_retries=False) from None
        if not report.state_keys and not report.source_keys:
            context.log.info(f"{state.name}: no versions yet; nothing to reconcile")
        elif report.dropped:
            context.log.info(
                f"{state.name}: {report.dropped} key(s) deleted on {shard}, gone from {report.at}"
            )
        return dg.MaterializeResult(metadata=reconcile_metadata(report, path=str(state.dir)))

    return _reconcile


def reconcile_metadata(report: ReconcileReport, *, path: str) -> dict:
    return {
        "keys_compared": dg.MetadataValue.int(report.state_keys),
        "source_keys": dg.MetadataValue.int(report.source_keys),
        "keys_dropped": dg.MetadataValue.int(report.dropped),
        "deleted_from": str(report.at) if report.at is not None else "",
        "dropped_keys_sample": dg.MetadataValue.json(
            [{k: str(v) for k, v in row.items()} for row in report.dropped_sample]
        ),
        "path": dg.MetadataValue.path(path),
    }


def build_reconcile_assets(
    sources: SourcesSpec, state_tables: set[str]
) -> list[dg.AssetsDefinition]:
    """One asset per shard x table that opts in and has lookup state to reconcile."""
    return [
        build_reconcile_asset(sources, shard, table)
        for table in sorted(state_tables)
        if sources.tables[table].reconcile_keys
        for shard in sources.shards_for(table)
    ]
