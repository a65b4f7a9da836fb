"""The platform's jobs: extract, build, land, everything; and each scheduled view's refresh."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from etl_platform.asset_keys import rejects_asset_key, view_asset_key
from etl_platform.automation.selections import (
    BACKWARD_COMPAT_ASSETS,
    DESTINATION_ASSETS,
    RAW_ASSETS,
    VIEW_ASSETS,
)
from etl_platform.layout import partition_key

PLATFORM_JOBS = [
    dg.define_asset_job(
        "extract_raw",
        selection=RAW_ASSETS,
        description="Extract every shard x table for the selected days into the raw zone.",
    ),
    dg.define_asset_job(
        "build_views",
        selection=VIEW_ASSETS,
        description="Lookup state and every view for the selected days, from the raw zone.",
    ),
    dg.define_asset_job(
        "land_destinations",
        selection=DESTINATION_ASSETS,
        description="Land the selected days of every view in its destinations.",
    ),
    dg.define_asset_job(
        "etl_all",
        selection=RAW_ASSETS | VIEW_ASSETS | DESTINATION_ASSETS,
        description="Extract, build every view and land it in its destinations.",
    ),
    dg.define_asset_job(
        "copy_redshift_to_athena",
        selection=BACKWARD_COMPAT_ASSETS,
        description="Copy days of Redshift-landed views into the S3/Athena layout.",
    ),
]


def view_refresh(
    name: str, cron: str
) -> tuple[dg.UnresolvedAssetJobDefinition, dg.ScheduleDefinition]:
    """A view's `schedule:`: a job over the view and everything it reads, and its schedule
    (stopped until an operator starts it) that refreshes the tick's UTC day."""
    job = dg.define_asset_job(
        f"refresh_{name}",
        selection=dg.AssetSelection.assets(
            view_asset_key(name), rejects_asset_key(name)
        ).upstream(),
        description=f"Today's partition of {name} and everything it reads.",
    )

    @dg.schedule(
        name=f"refresh_{name}_schedule",
        cron_schedule=cron,
        job=job,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        tick = context.scheduled_execution_time.astimezone(dt.UTC)
        return dg.RunRequest(partition_key=partition_key(tick.date()), run_key=tick.isoformat())

    return job, _schedule
