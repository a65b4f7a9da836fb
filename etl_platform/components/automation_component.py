"""The automation component: the platform's jobs, the sensors that evaluate conditions, and the
sensor that posts alerts."""

from __future__ import annotations

import dagster as dg

from etl_platform.automation.alerts import ALERT_SENSORS
from etl_platform.automation.jobs import PLATFORM_JOBS
from etl_platform.automation.sensors import AUTOMATION_SENSORS


class AutomationComponent(dg.Component, dg.Model, dg.Resolvable):
    """Produces the jobs `extract_raw`, `extract_raw_monthly`, `build_views`,
    `land_destinations`, `etl_all` and `copy_redshift_to_athena`, the sensors
    `raw_extract_automation` and `derived_assets_automation`, and `platform_alerts`, which
    posts to a webhook (all stopped until an operator starts them)."""

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        return dg.Definitions(jobs=PLATFORM_JOBS, sensors=[*AUTOMATION_SENSORS, *ALERT_SENSORS])
