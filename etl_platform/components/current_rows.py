"""A view's current rows: the latest version of each key across its days (`views/V__current`).

A view's day partition holds the rows whose cursor fell on that day, so a row updated on two
days is in both. Its report and its second partitioning (`partition_by`) need each key once, in
its latest version: this asset keeps them in one file, not partitioned, brought up to date with
the view days that changed (`steps.current_rows.sync_current`), and a DuckDB view
`V__current` over it.
"""

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from etl_platform.asset_keys import current_asset_key, view_asset_key, view_group
from etl_platform.automation.conditions import WHOLE_REFRESH
from etl_platform.components.failures import step_failures
from etl_platform.components.view_metadata import markdown_preview, polars_table_schema
from etl_platform.load.current_rows import current_table
from etl_platform.load.duckdb_catalog import register_parquet_view
from etl_platform.resources import LakeResource
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.views import ViewSpec
from etl_platform.steps.current_rows import CurrentReport, sync_current
from etl_platform.steps.view_days import PREVIEW_ROWS


def current_view_name(view: str) -> str:
    """The DuckDB view over a view's current rows."""
    return f"{view}__current"


def build_current_asset(spec: ViewSpec, sources: SourcesSpec) -> dg.AssetsDefinition:
    """The current rows of `spec` (one that `needs_current`); `sources` as the other view
    builders take it."""
    key = ", ".join(["_shard", *spec.unique_key])

    @dg.asset(
        key=current_asset_key(spec.name),
        group_name=view_group(spec.domain),
        owners=spec.owners,
        description=(
            f"The current rows of {spec.name}: the latest version of each {key} across all of "
            f"its days (by `_updated_at`, then the later day), with `_day`, the view day it "
            "came from. Its report and second partitioning read it."
        ),
        automation_condition=WHOLE_REFRESH,
        deps=[dg.AssetDep(view_asset_key(spec.name))],
        kinds={"polars", "parquet", "duckdb"},
        tags={"view": spec.name},
    )
    def _current(
        context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource
    ) -> dg.MaterializeResult:
        the_lake = lake.lake()
        with step_failures():
            report = sync_current(the_lake, spec)
        if report.days_read or report.days_gone:
            context.log.info(
                f"{current_table(the_lake.root, spec.name).name}: read {len(report.days_read)} "
                f"view day(s), dropped {len(report.days_gone)}, looked for "
                f"{report.vanished_keys} vanished key(s) in {report.days_reread} other day(s)"
            )
        if report.path.is_file():
            with duckdb.get_connection() as conn:
                register_parquet_view(conn, current_view_name(spec.name), str(report.path))
        return dg.MaterializeResult(metadata=current_metadata(report))

    return _current


def current_metadata(report: CurrentReport) -> dict:
    """The table's size and make-up, what the update read, its schema and first rows."""
    metadata: dict = {
        "dagster/row_count": dg.MetadataValue.int(report.rows),
        "keys": dg.MetadataValue.int(report.keys),
        "rows_per_shard": dg.MetadataValue.json(report.rows_per_shard),
        "days": dg.MetadataValue.int(report.days),
        "days_read": dg.MetadataValue.int(len(report.days_read)),
        "days_gone": dg.MetadataValue.int(len(report.days_gone)),
        "vanished_keys": dg.MetadataValue.int(report.vanished_keys),
        "days_reread": dg.MetadataValue.int(report.days_reread),
        "rebuilt": report.rebuilt,
        "bytes": dg.MetadataValue.int(report.bytes),
        "path": dg.MetadataValue.path(str(report.path)),
    }
    if report.path.is_file():
        head = pl.scan_parquet(report.path, hive_partitioning=False).head(PREVIEW_ROWS).collect()
        metadata["dagster/column_schema"] = polars_table_schema(head)
        metadata["preview"] = dg.MetadataValue.md(markdown_preview(head))
    return metadata
