"""Sensors that evaluate the assets' automation conditions; they start stopped."""

from __future__ import annotations

import dagster as dg

from etl_platform.automation.selections import (
    DESTINATION_ASSETS,
    NOTIFICATION_ASSETS,
    RAW_ASSETS,
    VIEW_ASSETS,
)

AUTOMATION_SENSORS = [
    dg.AutomationConditionSensorDefinition(
        "raw_extract_automation",
        target=RAW_ASSETS,
        description=(
            "Re-extract today's partition of every shard x table every 15 minutes, and "
            "yesterday's within extract.late_commit_grace after midnight UTC."
        ),
    ),
    dg.AutomationConditionSensorDefinition(
        "derived_assets_automation",
        target=VIEW_ASSETS | DESTINATION_ASSETS | NOTIFICATION_ASSETS,
        description=(
            "Rebuild a day's lookup state, views and destinations, and send its notifications, "
            "when its inputs change."
        ),
    ),
]
