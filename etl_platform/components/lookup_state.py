"""Lookup state: per shard x looked-up table, every version of its rows (`state/S/T`).

For each table `T` that a view looks up and each shard `S` carrying it, this produces the asset
`state/S/T` (group `lookup_state`), not partitioned: one versions table brought up to date with
every raw day that changed (`steps.lookup_versions.sync_versions`). A view's lookup for day D
reads it as of the end of D. With no day-to-day chain, a backfill of years updates it once. A
history with holes (raw days never extracted since the table's start) fails it, naming them.
For a snapshot table (`mode: snapshot`) it is brought up to date with the table's latest
snapshot instead, changes and deletes dated by the snapshot's time
(`steps.snapshot_versions.sync_snapshot`).
"""

import dagster as dg

from etl_platform.asset_keys import raw_asset_key, state_asset_key
from etl_platform.automation.conditions import DERIVED_REFRESH
from etl_platform.components.failures import step_failures
from etl_platform.components.source_metadata import table_schema
from etl_platform.load.lake import Lake
from etl_platform.load.versions import VersionsTable
from etl_platform.resources import LakeResource
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.views import ViewSpec
from etl_platform.steps.lookup_versions import (
    history_gaps,
    state_columns,
    sync_versions,
)
from etl_platform.steps.snapshot_versions import sync_snapshot


def build_state_asset(
    sources: SourcesSpec, shard: str, table: str, columns: list[str]
) -> dg.AssetsDefinition:
    snapshot = sources.tables[table].is_snapshot
    dated = (
        "each dated by the snapshot that first saw it"
        if snapshot
        else "with the raw day it came from and its validity"
    )
    update = _from_snapshot if snapshot else _from_raw_days

    @dg.asset(
        key=state_asset_key(shard, table),
        group_name="lookup_state",
        description=(
            f"Every version of the `{table}` rows on {shard} (columns {', '.join(columns)}), "
            f"{dated}, for views' lookups as of a day."
        ),
        automation_condition=DERIVED_REFRESH,
        deps=[dg.AssetDep(raw_asset_key(shard, table))],
        kinds={"polars", "parquet"},
        tags={"shard": shard, "table": table},
    )
    def _state(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        the_lake = lake.lake()
        versions = the_lake.versions(shard, table)
        with step_failures():
            metadata = update(context, the_lake, versions, sources, shard, table, columns)
        metadata["path"] = dg.MetadataValue.path(str(versions.path))
        if (schema := versions.schema()) is not None:
            metadata["dagster/column_schema"] = table_schema(schema)
        return dg.MaterializeResult(metadata=metadata)

    return _state


def _from_raw_days(
    context: dg.AssetExecutionContext,
    lake: Lake,
    versions: VersionsTable,
    sources: SourcesSpec,
    shard: str,
    table: str,
    columns: list[str],
) -> dict:
    """Re-read the raw days that changed; a history with holes is still refused."""
    spec = sources.tables[table]
    raw = lake.raw(shard, table)
    report = sync_versions(
        raw,
        versions,
        columns=columns,
        key=list(spec.primary_key),
        cursor=spec.version_column,
        changes=lake.changes(shard, table) if spec.is_cdc else None,
        timezone=sources.shard_timezone(shard),
    )
    synced = set(versions.manifest())
    if synced and (
        problem := history_gaps(
            versions, raw, max(synced), start=sources.table_start(table), synced=synced
        )
    ):
        raise problem
    if report.read_days:
        context.log.info(
            f"{versions.name}: read {len(report.read_days)} raw day(s) "
            f"({report.read_days[0]} .. {report.read_days[-1]})"
        )
    return {
        "dagster/row_count": dg.MetadataValue.int(report.versions),
        "keys": dg.MetadataValue.int(report.keys),
        "raw_days": dg.MetadataValue.int(report.days),
        "raw_days_read": dg.MetadataValue.int(len(report.read_days)),
        "raw_days_dropped": dg.MetadataValue.int(len(report.dropped_days)),
        "bytes": dg.MetadataValue.int(report.bytes),
    }


def _from_snapshot(
    context: dg.AssetExecutionContext,
    lake: Lake,
    versions: VersionsTable,
    sources: SourcesSpec,
    shard: str,
    table: str,
    columns: list[str],
) -> dict:
    """Diff the latest snapshot against the current versions."""
    report = sync_snapshot(
        lake.snapshot(shard, table),
        versions,
        columns=columns,
        key=list(sources.tables[table].primary_key),
        start=sources.table_start(table),
    )
    restarted = " (versions started from it, dated at the table's start)"
    context.log.info(
        f"{versions.name}: snapshot of {report.snapshot_at}: {report.added} version(s) and "
        f"{report.deleted} deletion(s) added" + (restarted if report.restarted else "")
    )
    return {
        "dagster/row_count": dg.MetadataValue.int(report.versions),
        "keys": dg.MetadataValue.int(report.keys),
        "snapshot_at": report.snapshot_at.isoformat(),
        "versions_added": dg.MetadataValue.int(report.added),
        "keys_deleted": dg.MetadataValue.int(report.deleted),
        "restarted": report.restarted,
        "bytes": dg.MetadataValue.int(report.bytes),
    }


def build_state_assets(sources: SourcesSpec, views: list[ViewSpec]) -> list[dg.AssetsDefinition]:
    tables = sorted({lookup.table for view in views for lookup in view.lookups})
    assets = []
    for table in tables:
        columns = state_columns(table, views, sources)
        for shard in sources.shards_for(table):
            assets.append(build_state_asset(sources, shard, table, columns))
    return assets
