"""The automation conditions assets carry; the sensors in `sensors.py` evaluate them."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from etl_platform.asset_keys import PROVIDERS_GROUP

#: Minutes between two raw reads once the automation sensor is on.
RAW_TICK_MINUTES = 15
#: How often raw data is read from the shards once the automation sensor is on.
RAW_CRON = f"*/{RAW_TICK_MINUTES} * * * *"
#: Raw extracts refresh today's partition on this cadence (no late-commit grace).
RAW_REFRESH = dg.AutomationCondition.on_cron(RAW_CRON)
#: Yesterday's partition, and only it: within two days of the end of the latest partition
#: (today's, as the partitions end at tomorrow 00:00 UTC), but not the latest.
YESTERDAY = (
    dg.AutomationCondition.in_latest_time_window(lookback_delta=dt.timedelta(days=2))
    & ~dg.AutomationCondition.in_latest_time_window()
)

#: For monthly partitions: the month before the current one. The lookback holds the partitions
#: wholly inside it: 62 days always hold the current and previous months (31 + 31 at most) and
#: never three (89 at least).
PREVIOUS_MONTH = (
    dg.AutomationCondition.in_latest_time_window(lookback_delta=dt.timedelta(days=62))
    & ~dg.AutomationCondition.in_latest_time_window()
)


def late_commit_crons(grace: dt.timedelta) -> list[str]:
    """The crons whose ticks are the raw ticks (every `RAW_TICK_MINUTES`, UTC) in
    [midnight, midnight + grace): for 2h `*/15 0-1 * * *`, for 90m also `0-29/15 1 * * *`.
    A grace of a day or more is every raw tick."""
    if grace <= dt.timedelta(0):
        return []
    if grace >= dt.timedelta(days=1):
        return [RAW_CRON]
    hours, rest = divmod(grace, dt.timedelta(hours=1))
    crons = [f"*/{RAW_TICK_MINUTES} 0-{hours - 1} * * *"] if hours else []
    # ticks at minute m of the last hour with m minutes < rest
    minutes = -(-rest // dt.timedelta(minutes=1))  # ceil: a tick at m counts when m min < rest
    if minutes:
        crons.append(f"0-{minutes - 1}/{RAW_TICK_MINUTES} {hours} * * *")
    return crons


def raw_refresh(grace: dt.timedelta, *, monthly: bool = False) -> dg.AutomationCondition:
    """The raw assets' condition: today's partition on every raw tick (`RAW_REFRESH`), and
    yesterday's on every raw tick before midnight UTC + `grace` (`extract.late_commit_grace`),
    so a row committed after midnight with a cursor on yesterday still lands. Each partition is
    requested at most once per tick (a tick counts until the partition is requested or
    materialized). A grace of 0 is `RAW_REFRESH`. For monthly partitions "today's" is the
    current month's, and yesterday's differs from it only on the first of a month: the previous
    month is re-read in that day's grace."""
    crons = late_commit_crons(grace)
    if not crons:
        return RAW_REFRESH
    if monthly:
        crons = [cron.removesuffix(" * * *") + " 1 * *" for cron in crons]
    ticks = dg.AutomationCondition.cron_tick_passed(crons[0], "UTC")
    for cron in crons[1:]:
        ticks = ticks | dg.AutomationCondition.cron_tick_passed(cron, "UTC")
    if monthly:
        late = (PREVIOUS_MONTH & ticks.since_last_handled()).with_label(
            f"the previous month until {grace} after midnight UTC on the 1st"
        )
        return (RAW_REFRESH | late).with_label(
            f"this month on cron {RAW_CRON}, the previous month too until {grace} after "
            "midnight UTC on the 1st"
        )
    yesterday = (YESTERDAY & ticks.since_last_handled()).with_label(
        f"yesterday until {grace} after midnight UTC"
    )
    return (RAW_REFRESH | yesterday).with_label(
        f"today on cron {RAW_CRON}, yesterday too until {grace} after midnight UTC"
    )


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


def provider_refresh(cron: str) -> dg.AutomationCondition:
    """Read whole once per tick of the provider's `refresh_cron` (UTC), never twice at once."""
    return (
        dg.AutomationCondition.on_cron(cron, "UTC") & ~dg.AutomationCondition.in_progress()
    ).with_label(f"whole provider on cron {cron}")


#: What a view with `refresh:` adds to its automation: it is not built while one of its
#: providers was never read or its latest read failed (Dagster would otherwise build it from
#: the older file, as if the provider were fresh). `any_deps_in_progress` in `VIEW_REFRESH`
#: already holds it while a provider runs.
PROVIDERS_READY = ~dg.AutomationCondition.any_deps_match(
    dg.AutomationCondition.missing() | dg.AutomationCondition.execution_failed()
).allow(dg.AssetSelection.groups(PROVIDERS_GROUP)).with_label("providers read and not failed")
