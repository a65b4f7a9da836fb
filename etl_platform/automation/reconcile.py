"""The key reconciliation job and its daily schedule (stopped until an operator starts it)."""

from __future__ import annotations

import dagster as dg

JOB_NAME = "reconcile_keys"
#: Daily, after midnight UTC, when the new day's state has just been folded.
SCHEDULE_CRON = "30 0 * * *"


def reconcile_schedule(
    assets: list[dg.AssetsDefinition],
) -> tuple[dg.UnresolvedAssetJobDefinition, dg.ScheduleDefinition]:
    """The job over every reconciliation asset, and its daily schedule (stopped until an
    operator starts it, like the views' schedules)."""
    job = dg.define_asset_job(
        JOB_NAME,
        selection=dg.AssetSelection.assets(*assets),
        description="Drop keys deleted at the source from the lookup state of opted-in tables.",
    )
    schedule = dg.ScheduleDefinition(
        name=f"{JOB_NAME}_schedule",
        cron_schedule=SCHEDULE_CRON,
        job=job,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    return job, schedule
