"""A view's second partitioning: `views/<view>__by_<column>` for `partition_by: <column>`.

Not partitioned in Dagster, like an incremental dbt model: each materialization reads the view's
current rows (`views/<view>__current`) and rewrites only the event days whose rows changed since
the last one (`load.by_column_lake.sync_layout`). A row updated today whose event date is last
month moves into last month's folder, and out of the folder it was in, in the same run.
"""

import contextlib

import dagster as dg
from dagster_duckdb import DuckDBResource

from etl_platform.asset_keys import by_column_asset_key, current_asset_key, view_group
from etl_platform.automation.conditions import WHOLE_REFRESH
from etl_platform.components.failures import step_failures
from etl_platform.components.source_metadata import table_schema
from etl_platform.identifiers import quote_ansi
from etl_platform.load.by_column_lake import (
    CurrentRowsMissing,
    LayoutReport,
    by_column_dataset,
    sync_layout,
)
from etl_platform.load.duckdb_catalog import register_parquet_view
from etl_platform.resources import LakeResource
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.views import ViewSpec
from etl_platform.transform.by_column import (
    NULL_FOLDER_VALUE,
    TIMESTAMP_KEY_SUFFIX,
    day_value,
    folder_key,
)
from etl_platform.transform.dtypes import parse_type


def by_column_name(spec: ViewSpec) -> str:
    """The dataset's and the DuckDB view's name: `<view>__by_<column>`."""
    return f"{spec.name}__by_{spec.partition_by}"


def _declared_type(spec: ViewSpec, column: str) -> str | None:
    """The column's declared type (a declared, computed or typed looked-up column), if any."""
    if column in spec.columns:
        return spec.columns[column].type
    return next((t[column] for t in (lk.typed for lk in spec.lookups) if column in t), None)


def _folder_text(spec: ViewSpec, column: str) -> str:
    declared = _declared_type(spec, column)
    with contextlib.suppress(TypeError, ValueError):  # untyped here, or refused at load
        key = folder_key(column, parse_type(declared or ""))
        return f"`{key}=YYYY-MM-DD/`" + ("" if key == column else f" (the UTC day of `{column}`)")
    suffixed = f"{column}{TIMESTAMP_KEY_SUFFIX}"
    return (
        f"`{column}=YYYY-MM-DD/` for a date, `{suffixed}=YYYY-MM-DD/` (its UTC day) for a timestamp"
    )


def _description(spec: ViewSpec) -> str:
    column = spec.partition_by
    return (
        f"The current rows of `{spec.name}` (the latest version of each `_shard` + unique key "
        f"across its days), in one Hive folder per event day of `{column}`: "
        f"{_folder_text(spec, column)}; rows whose `{column}` is NULL in "
        f"`...={NULL_FOLDER_VALUE}/`, which DuckDB and Athena read as NULL. A query filtered "
        f"on the day reads only its folders. Each materialization, after `{spec.name}__current`, "
        "rewrites whole only the event days whose rows changed (for a key that appeared, "
        "vanished, moved day or changed version: its old day and its new day) and removes the "
        "folders of days left without rows."
    )


def _metadata(report: LayoutReport, path: str) -> dict:
    columns = table_schema(report.schema).columns
    if report.key not in report.schema.names:
        folder = dg.TableColumn(name=report.key, type="date", description="the folder's day")
        columns = [*columns, folder]
    return {
        "dagster/row_count": dg.MetadataValue.int(report.rows),
        "days": dg.MetadataValue.int(report.days),
        "days_rewritten": dg.MetadataValue.json([day_value(d) for d in report.rewritten]),
        "days_removed": dg.MetadataValue.json(report.removed),
        "rebuilt": report.rebuilt,
        "partition_key": report.key,
        "dagster/column_schema": dg.TableSchema(columns=columns),
        "path": dg.MetadataValue.path(path),
    }


def build_by_column_asset(spec: ViewSpec, sources: SourcesSpec) -> dg.AssetsDefinition:
    """The asset of a view's `partition_by`; `sources` is taken for the builders' one shape."""
    column = spec.partition_by
    if column is None:
        raise ValueError(f"view {spec.name!r} has no partition_by")
    name = by_column_name(spec)

    @dg.asset(
        key=by_column_asset_key(spec.name, column),
        group_name=view_group(spec.domain),
        owners=spec.owners,
        description=_description(spec),
        automation_condition=WHOLE_REFRESH,
        deps=[dg.AssetDep(current_asset_key(spec.name))],
        kinds={"polars", "parquet", "duckdb"},
        tags={"view": spec.name},
    )
    def _by_column(
        context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource
    ) -> dg.MaterializeResult:
        root = lake.lake().root
        dataset = by_column_dataset(root, spec.name, column)
        with step_failures():
            try:
                report = sync_layout(root, spec.name, column, spec.unique_key)
            except CurrentRowsMissing as e:
                raise dg.Failure(
                    description=f"{e}: materialize views/{spec.name}__current first",
                    allow_retries=False,
                ) from None
        context.log.info(
            f"{name}: {len(report.rewritten)} day(s) rewritten, {len(report.removed)} removed, "
            f"{report.rows} row(s) over {report.days} day(s)"
        )
        with duckdb.get_connection() as conn:
            if any(dataset.dir.glob(f"{report.key}=*/*.parquet")):
                glob = str(dataset.dir / f"{report.key}=*" / "*.parquet")
                register_parquet_view(conn, name, glob, hive_dates=[report.key])
            else:  # no file to read: a view over them would fail to bind
                conn.execute(f"DROP VIEW IF EXISTS {quote_ansi(name)}")
        return dg.MaterializeResult(metadata=_metadata(report, str(dataset.dir)))

    return _by_column
