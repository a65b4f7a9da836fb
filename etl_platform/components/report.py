"""A report view's asset: `reports/<view>`, its measures per grain value (`grain:`,
`measures:`), recomputed whole from the view's current rows (`views/<view>__current`) at each
materialization, so a row that changed or arrived late moves its contribution, never doubles it.

Not partitioned, group `reports`; it follows its current rows (`WHOLE_REFRESH`). It writes
`<lake>/reports/<view>/report.parquet` (`load.report_file`) and the DuckDB view
`<view>__report`. The blocking check `report_matches_detail` recomputes the report with DuckDB
from the view's day files, independently of the current rows, and compares. The asset and its
check are one subsettable multi-asset: the check can run alone, over the report on disk.
"""

from collections.abc import Iterator

import dagster as dg
import duckdb as duckdb_lib
import polars as pl
from dagster_duckdb import DuckDBResource

from etl_platform.asset_keys import current_asset_key, report_asset_key
from etl_platform.automation.conditions import WHOLE_REFRESH
from etl_platform.components.failures import step_failures
from etl_platform.components.view_metadata import markdown_preview, polars_table_schema
from etl_platform.layout import PARTITION_FOLDER_GLOB
from etl_platform.load.current_rows import current_path, read_current
from etl_platform.load.duckdb_catalog import register_parquet_view
from etl_platform.load.lake import Lake
from etl_platform.load.report_file import read_report, write_report
from etl_platform.resources import LakeResource
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.views import ViewSpec
from etl_platform.transform.report import (
    ReportDiff,
    ReportOverflow,
    aggregate,
    compare,
    declared_input_schema,
    detail_sql,
    group_columns,
    input_columns,
)

CHECK = "report_matches_detail"


def report_view_name(view: str) -> str:
    """The report's DuckDB view."""
    return f"{view}__report"


def _describe(spec: ViewSpec, sources: SourcesSpec) -> str:
    per = (
        "across shards"
        if spec.across_shards
        else f"per shard ({', '.join(sources.shards_for(spec.source))})"
    )
    measures = ", ".join(f"{name} = {text}" for name, text in spec.measures.items())
    return (
        f"{measures} by {', '.join(spec.grain)}, {per}, over the current rows of "
        f"views/{spec.name} (the latest version of each key across its days)."
    )


def build_report_assets(spec: ViewSpec, sources: SourcesSpec) -> dg.AssetsDefinition:
    key = report_asset_key(spec.name)
    check_key = dg.AssetCheckKey(key, CHECK)

    @dg.multi_asset(
        name=f"report__{spec.name}",
        specs=[
            dg.AssetSpec(
                key,
                description=_describe(spec, sources),
                group_name="reports",
                deps=[current_asset_key(spec.name)],
                automation_condition=WHOLE_REFRESH,
                kinds={"polars", "parquet", "duckdb"},
                tags={"view": spec.name},
            )
        ],
        check_specs=[
            dg.AssetCheckSpec(
                CHECK,
                asset=key,
                blocking=True,
                description=(
                    "Recomputed with DuckDB from the view's day files (the latest row per "
                    "_shard + unique key), every group and measure agrees with the report."
                ),
            )
        ],
        can_subset=True,
    )
    def _report(
        context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        the_lake = lake.lake()
        if key in context.selected_asset_keys:
            with step_failures():
                metadata = _materialize(spec, the_lake)
            with duckdb.get_connection() as conn:
                register_parquet_view(conn, report_view_name(spec.name), metadata["path"].value)
            yield dg.MaterializeResult(asset_key=key, metadata=metadata)
        if check_key in context.selected_asset_check_keys:
            yield report_check_result(spec, the_lake)

    return _report


def _materialize(spec: ViewSpec, lake: Lake) -> dict:
    try:
        rows = read_current(lake.root, spec.name, input_columns(spec))
    except pl.exceptions.ColumnNotFoundError as e:
        raise dg.Failure(
            description=(
                f"the current rows of views/{spec.name} lack a column the report reads "
                f"({str(e).splitlines()[0]}): materialize views/{spec.name}__current again"
            ),
            allow_retries=False,
        ) from None
    if rows is None:
        rows = _no_rows_yet(spec, lake)
    try:
        report = aggregate(rows, spec)
    except ReportOverflow as e:
        raise dg.Failure(description=str(e), allow_retries=False) from None
    path = write_report(lake.root, spec.name, report)
    return {
        "dagster/row_count": dg.MetadataValue.int(report.height),
        "current_rows": dg.MetadataValue.int(rows.height),
        "dagster/column_schema": polars_table_schema(report),
        "preview": dg.MetadataValue.md(markdown_preview(report)),
        "grain": dg.MetadataValue.json(list(spec.grain)),
        "group_by": dg.MetadataValue.json(group_columns(spec)),
        "measures": dg.MetadataValue.json(dict(spec.measures)),
        "across_shards": dg.MetadataValue.bool(spec.across_shards),
        "duckdb_view": report_view_name(spec.name),
        "path": dg.MetadataValue.path(str(path)),
    }


def _no_rows_yet(spec: ViewSpec, lake: Lake) -> pl.DataFrame:
    """A view with no rows has no current file: its report is empty, typed as declared. A
    view with rows but no current file is one whose current rows were never built."""
    schema = declared_input_schema(spec)
    if view_files_glob(lake, spec.name) is None and schema is not None:
        return pl.DataFrame(schema=schema)
    raise dg.Failure(
        description=(
            f"views/{spec.name} has no current rows yet ({current_path(lake.root, spec.name)}): "
            f"materialize views/{spec.name}__current first"
        ),
        allow_retries=False,
    )


def view_files_glob(lake: Lake, view: str) -> str | None:
    """The glob of the view's day files, or None when it has none."""
    dataset = lake.view(view)
    if not dataset.days_with_files():
        return None
    return str(dataset.dir / PARTITION_FOLDER_GLOB / "*.parquet")


def detail_report(spec: ViewSpec, lake: Lake) -> pl.DataFrame | None:
    """The report recomputed by DuckDB from the view's day files; None without files."""
    files = view_files_glob(lake, spec.name)
    if files is None:
        return None
    with duckdb_lib.connect() as conn:  # its own, in memory: the check only reads
        table = conn.sql(detail_sql(spec), params={"files": files}).to_arrow_table()
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def report_check_result(spec: ViewSpec, lake: Lake) -> dg.AssetCheckResult:
    """`report_matches_detail` over the report on disk."""
    key = report_asset_key(spec.name)
    report = read_report(lake.root, spec.name)
    if report is None:
        diff = ReportDiff(groups_compared=0, problem="no report has been written yet")
    else:
        diff = compare(report, detail_report(spec, lake), spec)
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=CHECK,
        passed=diff.passed,
        description=diff.problem or _summary(diff),
        metadata={
            "groups_compared": dg.MetadataValue.int(diff.groups_compared),
            "groups_differing": dg.MetadataValue.int(diff.differing),
            "groups_missing_from_report": dg.MetadataValue.int(diff.missing),
            "groups_only_in_report": dg.MetadataValue.int(diff.extra),
            "sample": dg.MetadataValue.json(diff.sample),
            "view_files": dg.MetadataValue.path(str(lake.view(spec.name).dir)),
        },
    )


def _summary(diff: ReportDiff) -> str:
    if diff.passed:
        return f"all {diff.groups_compared:,} groups agree with the view's day files"
    return (
        f"of {diff.groups_compared:,} groups: {diff.differing:,} differ, {diff.missing:,} "
        f"missing from the report, {diff.extra:,} only in the report"
    )
