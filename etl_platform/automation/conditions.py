"""The automation conditions assets carry; the sensors in `sensors.py` evaluate them."""

from __future__ import annotations

import dagster as dg

#: Raw extracts refresh today's partition on this cadence once the automation sensor is on.
RAW_REFRESH = dg.AutomationCondition.on_cron("*/15 * * * *")
#: Everything derived (state, views, destinations) follows its inputs, day by day.
DERIVED_REFRESH = dg.AutomationCondition.eager()
