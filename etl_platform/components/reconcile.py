"""Key reconciliation of lookup state, for tables with `reconcile_keys: true`.

For each such table `T` with lookup state and each shard `S` carrying it, this produces the
asset `reconcile/S/T` (group `lookup_state`, not partitioned, pool `mysql_S`): it reads `T`'s
key set from `S` and drops the keys the shard no longer has from the newest days of
`state/S/T` (`steps.reconcile`). `automation.reconcile` runs them all on a schedule.
"""

import dagster as dg

from etl_platform.asset_keys import reconcile_asset_key, shard_pool, state_asset_key
from etl_platform.extract.connection import ShardUnavailableError
from etl_platform.extract.key_reader import read_key_set
from etl_platform.redaction import redacted_step
from etl_platform.resources import LakeResource, MySqlShardsResource
from etl_platform.specs.sources import SourcesSpec
from etl_platform.steps.reconcile import RECONCILED_DAYS, ReconcileReport, reconcile_state


def build_reconcile_asset(sources: SourcesSpec, shard: str, table: str) -> dg.AssetsDefinition:
    spec = sources.tables[table]
    settings = sources.extract

    @dg.asset(
        key=reconcile_asset_key(shard, table),
        group_name="lookup_state",
        description=(
            f"Drops the `{table}` keys deleted on {shard} from the newest {RECONCILED_DAYS} days "
            f"of its lookup state (a batch extract never sees a delete)."
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
        state = lake.lake().state(shard, table)
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
            report = reconcile_state(state, spec.primary_key, keys)
        except (ShardUnavailableError, LookupError) as e:
            raise dg.Failure(description=str(e), allow_retries=False) from None
        if not report.days:
            context.log.info(f"{state.name}: no state day yet; nothing to reconcile")
        elif report.dropped:
            context.log.info(
                f"{state.name}: dropped {report.dropped} key(s) deleted on {shard} from "
                f"{', '.join(str(d) for d in report.rewritten)}"
            )
        return dg.MaterializeResult(metadata=reconcile_metadata(report, path=str(state.dir)))

    return _reconcile


def reconcile_metadata(report: ReconcileReport, *, path: str) -> dict:
    return {
        "keys_compared": dg.MetadataValue.int(report.state_keys),
        "source_keys": dg.MetadataValue.int(report.source_keys),
        "keys_dropped": dg.MetadataValue.int(report.dropped),
        "state_days": [str(d) for d in report.days],
        "state_days_rewritten": [str(d) for d in report.rewritten],
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
