"""Destination assets: a view's partitions landed where its spec's `destinations` say.

For a view `V` with `destinations: [athena, redshift]` this produces `athena/V` (S3 Parquet +
Glue) and `redshift/V`, group `destinations`, each daily-partitioned and reading partition D of
`views/V` from the lake. They are separate assets so that when one destination fails, the run
names it and a retry re-runs only that one; each replaces its partition, so nothing duplicates.
They exist in every environment; one whose destination is not configured fails with the
setting to give (see `destination_resources.py`).
"""

import datetime as dt
import uuid

import dagster as dg
import pyarrow as pa

from etl_platform.asset_keys import (
    REDSHIFT_POOL,
    compat_asset_key,
    destination_asset_key,
    view_asset_key,
)
from etl_platform.automation.conditions import DERIVED_REFRESH
from etl_platform.components.partition_metadata import add_daily_metadata
from etl_platform.destination_resources import AthenaResource, RedshiftResource
from etl_platform.layout import partition_key
from etl_platform.load.athena_lake import clear_partition, land_partition
from etl_platform.load.redshift_loader import RedshiftTarget, clear_day, load_partition
from etl_platform.load.redshift_reader import read_day
from etl_platform.partitions import (
    allow_beta_backfill_policy,
    bounded_backfill,
    platform_partitions,
    window_days,
)
from etl_platform.redaction import redacted_step
from etl_platform.resources import LakeResource
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.views import ViewSpec


def _day_metadata(details: dict, rows: int) -> dict:
    """A landed day's event: its row count and what landing it did."""
    return {
        "dagster/row_count": dg.MetadataValue.int(rows),
        "landed": dg.MetadataValue.json(details),
    }


def _read_view_day(lake: LakeResource, view: str, day: dt.date) -> pa.Table | None:
    """The day's rows; None for a day written with no rows, which has no file and whose rows
    the destination must still remove."""
    dataset = lake.lake().view(view)
    rows = dataset.read_partition(day)
    if rows is None and not dataset.is_written(day):
        raise dg.Failure(f"views/{view} has no partition {day}; materialize it first")
    return rows


def _build_athena_asset(spec: ViewSpec, sources: SourcesSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=destination_asset_key("athena", spec.name),
        deps=[view_asset_key(spec.name)],
        group_name="destinations",
        description=f"{spec.name} on S3 as Parquet, registered in Glue for Athena.",
        automation_condition=DERIVED_REFRESH,
        partitions_def=platform_partitions(sources),
        backfill_policy=bounded_backfill(sources.extract.max_days_per_run),
        kinds={"s3", "athena", "parquet"},
        tags={"view": spec.name, "destination": "athena"},
    )
    @redacted_step
    def _athena(
        context: dg.AssetExecutionContext, lake: LakeResource, athena: AthenaResource
    ) -> dg.MaterializeResult:
        target = athena.target()
        landed = {}
        for day in window_days(context.partition_time_window):
            rows = _read_view_day(lake, spec.name, day)
            write_id = f"{context.run.run_id[:8]}-{uuid.uuid4().hex[:8]}"
            try:
                if rows is None:
                    landed[day] = clear_partition(target, spec.name, day)
                else:
                    landed[day] = land_partition(target, spec.name, day, rows, write_id=write_id)
            except Exception as e:
                raise dg.Failure(
                    f"destination athena ({target.describe()}) failed for {spec.name} {day}: {e}"
                ) from e
        add_daily_metadata(context, {d: _day_metadata(m, m["rows"]) for d, m in landed.items()})
        return dg.MaterializeResult(metadata={"glue_table": f"{target.database}.{spec.name}"})

    return _athena


def _build_redshift_asset(spec: ViewSpec, sources: SourcesSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=destination_asset_key("redshift", spec.name),
        deps=[view_asset_key(spec.name)]
        + ([destination_asset_key("athena", spec.name)] if "athena" in spec.destinations else []),
        group_name="destinations",
        description=f"{spec.name} in Redshift: one table, each day replaced in one transaction.",
        automation_condition=DERIVED_REFRESH,
        partitions_def=platform_partitions(sources),
        backfill_policy=bounded_backfill(sources.extract.max_days_per_run),
        kinds={"redshift"},
        pool=REDSHIFT_POOL,
        tags={"view": spec.name, "destination": "redshift"},
    )
    @redacted_step
    def _redshift(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        redshift: RedshiftResource,
        athena: AthenaResource,
    ) -> dg.MaterializeResult:
        target = RedshiftTarget(
            dsn=redshift.dsn(),
            schema=redshift.schema_name,
            redshift=redshift.redshift,
            iam_role_arn=redshift.iam_role_arn,
        )
        loaded = {}
        for day in window_days(context.partition_time_window):
            rows = _read_view_day(lake, spec.name, day)
            staged = None
            if rows is not None and redshift.redshift:  # real Redshift COPYs what landed on S3
                staged = _athena_location(athena, spec.name, day)
            try:
                if rows is None:
                    loaded[day] = clear_day(target, spec.name, day)
                else:
                    loaded[day] = load_partition(
                        target, spec.name, day, rows, dist_key=spec.dist_key, staged_s3_uri=staged
                    )
            except Exception as e:
                raise dg.Failure(
                    f"destination redshift ({target.describe()}) failed for {spec.name} {day}: {e}"
                ) from None
        add_daily_metadata(
            context,
            {
                d: _day_metadata(
                    {k: v for k, v in m.items() if k != "statements"}, m["rows_loaded"]
                )
                for d, m in loaded.items()
            },
        )
        return dg.MaterializeResult(metadata={"table": f"{redshift.schema_name}.{spec.name}"})

    return _redshift


def _athena_location(athena: AthenaResource, view: str, day: dt.date) -> str:
    """The S3 prefix Glue points the day at: what Redshift's COPY reads."""
    if not athena.enabled:
        raise dg.Failure(
            "Redshift loads COPY the staged Parquet from S3: configure the athena destination "
            "(ETL_PLATFORM_S3_BUCKET) as well"
        )
    target = athena.target()
    glue = target._client("glue")
    part = glue.get_partition(
        DatabaseName=target.database, TableName=view, PartitionValues=[partition_key(day)]
    )
    return part["Partition"]["StorageDescriptor"]["Location"]


def _build_compat_asset(spec: ViewSpec, sources: SourcesSpec) -> dg.AssetsDefinition:
    """Backward compatibility, as the original system had: days already in Redshift (loaded
    by this platform or before it) copied into the S3/Athena layout, so consumers can move."""

    @dg.asset(
        key=compat_asset_key(spec.name),
        group_name="backward_compat",
        description=f"Days of Redshift's {spec.name} copied to S3 + Glue (the Athena layout).",
        partitions_def=platform_partitions(sources),
        kinds={"redshift", "s3", "athena"},
        pool=REDSHIFT_POOL,
        tags={"view": spec.name},
    )
    @redacted_step
    def _compat(
        context: dg.AssetExecutionContext, redshift: RedshiftResource, athena: AthenaResource
    ) -> dg.MaterializeResult:
        source = RedshiftTarget(dsn=redshift.dsn(), schema=redshift.schema_name)
        target = athena.target()
        copied = {}
        for day in window_days(context.partition_time_window):
            rows = read_day(source, spec.name, day)
            write_id = f"{context.run.run_id[:8]}-{uuid.uuid4().hex[:8]}"
            copied[day] = land_partition(target, spec.name, day, rows, write_id=write_id)
        add_daily_metadata(context, {d: _day_metadata(m, m["rows"]) for d, m in copied.items()})
        return dg.MaterializeResult(
            metadata={"from": f"{redshift.schema_name}.{spec.name} at {source.describe()}"}
        )

    return _compat


def build_destination_assets(spec: ViewSpec, sources: SourcesSpec) -> list[dg.AssetsDefinition]:
    """The spec's destinations, whatever this environment configures: the graph is the same
    everywhere, and an unconfigured destination fails its own asset with what to set."""
    assets = []
    with allow_beta_backfill_policy():
        if "athena" in spec.destinations:
            assets.append(_build_athena_asset(spec, sources))
        if "redshift" in spec.destinations:
            assets.append(_build_redshift_asset(spec, sources))
            assets.append(_build_compat_asset(spec, sources))
    return assets
