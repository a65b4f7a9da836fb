"""The automation conditions assets carry; the sensors in `sensors.py` evaluate them."""

from __future__ import annotations

import datetime as dt

import dagster as dg

#: How often raw data is read from the shards once the automation sensor is on.
RAW_CRON = "*/15 * * * *"
#: Raw extracts refresh today's partition on this cadence.
RAW_REFRESH = dg.AutomationCondition.on_cron(RAW_CRON)
#: A snapshot table (not partitioned) is read whole on the same cadence, one read per tick.
SNAPSHOT_REFRESH = (
    dg.AutomationCondition.on_cron(RAW_CRON) & ~dg.AutomationCondition.in_progress()
).with_label(f"whole table on cron {RAW_CRON}")
#: The days derived assets follow: today's and yesterday's (a day that lands late, a shard that
#: comes back after midnight); older days are a backfill's.
RECENT_DAYS = dg.AutomationCondition.in_latest_time_window(lookback_delta=dt.timedelta(days=2))
#: Lookup state and destinations follow their inputs, day by day: `eager()` over the recent days.
#: A day whose inputs failed a blocking check is not taken further.
DERIVED_REFRESH = (
    dg.AutomationCondition.eager().replace("in_latest_time_window", RECENT_DAYS)
    & dg.AutomationCondition.all_deps_blocking_checks_passed()
).with_label("eager, today and yesterday, behind blocking checks")
#: What is built from all of a view's days at once (its current rows, report and layout by
#: another date) follows any day that lands. `eager()` would wait until every day since
#: `start` exists, which a view built for its recent days never has.
WHOLE_REFRESH = (
    (
        dg.AutomationCondition.newly_missing() | dg.AutomationCondition.any_deps_updated()
    ).since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("after any day of its inputs lands")
#: Views build from the shards whose inputs are there (a shard that is down leaves its part
#: out, named in a warning check) and rebuild when its day lands: eager over the recent days,
#: without waiting for every input.
VIEW_REFRESH = (
    RECENT_DAYS
    & (
        dg.AutomationCondition.newly_missing() | dg.AutomationCondition.any_deps_updated()
    ).since_last_handled()
    & ~dg.AutomationCondition.all_deps_match(dg.AutomationCondition.missing())
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("eager, from the shards that are there")
