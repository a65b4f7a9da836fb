"""The platform's jobs: extract, build, land, everything; and each scheduled view's refresh."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from etl_platform.asset_keys import rejects_asset_key, view_asset_key
from etl_platform.automation.selections import (
    BACKWARD_COMPAT_ASSETS,
    DAILY_RAW_ASSETS,
    DESTINATION_ASSETS,
    MONTHLY_RAW_ASSETS,
    VIEW_ASSETS,
)
from etl_platform.layout import partition_key

#: The job of the raw assets partitioned by month (`partitions: monthly`): one job takes one
#: partitioning, so `etl-platform run` runs it over the range's months before a daily job.
MONTHLY_EXTRACT_JOB = "extract_raw_monthly"
#: The daily jobs that read the monthly raw assets' days too.
JOBS_WITH_MONTHLY_RAW = frozenset({"extract_raw", "etl_all"})

PLATFORM_JOBS = [
    dg.define_asset_job(
        "extract_raw",
        selection=DAILY_RAW_ASSETS,
        description="Extract every shard x table for the selected days into the raw zone.",
    ),
    dg.define_asset_job(
        MONTHLY_EXTRACT_JOB,
        selection=MONTHLY_RAW_ASSETS,
        description=(
            "Extract the tables partitioned by month (`partitions: monthly`) for the selected "
            "months into the raw zone."
        ),
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
        selection=DAILY_RAW_ASSETS | VIEW_ASSETS | DESTINATION_ASSETS,
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
    (stopped until an operator starts it) that refreshes the tick's UTC day. Raw assets
    partitioned by month are left to their own automation (a job takes one partitioning)."""
    job = dg.define_asset_job(
        f"refresh_{name}",
        selection=dg.AssetSelection.assets(view_asset_key(name), rejects_asset_key(name)).upstream()
        - MONTHLY_RAW_ASSETS,
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
