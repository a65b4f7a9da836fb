"""The daily partitions shared by every asset, and the one helper that turns a window into days."""

from __future__ import annotations

import contextlib
import datetime as dt
import warnings
from collections.abc import Iterator

import dagster as dg

PARTITION_TIMEZONE = "UTC"


def daily_partitions(start: dt.date) -> dg.DailyPartitionsDefinition:
    """Days in UTC from `start`, today included (end_offset=1) so the current day can refresh."""
    return dg.DailyPartitionsDefinition(
        start_date=start.isoformat(), timezone=PARTITION_TIMEZONE, end_offset=1
    )


def partition_key(day: dt.date) -> str:
    """The key of `day`'s partition in `daily_partitions` (Dagster's default format: ISO dates)."""
    return day.isoformat()


#: Definition metadata of an asset whose every day holds the whole table as of that day (lookup
#: state), not the day's own rows: a run's size is its last day's count, not a sum of days.
SNAPSHOT_DAYS = "etl_platform/day_is_snapshot"


def window_days(window: dg.TimeWindow) -> list[dt.date]:
    """The calendar days a [start, end) partition time window covers."""
    start = window.start.astimezone(dt.UTC).date()
    end = window.end.astimezone(dt.UTC).date()
    return [start + dt.timedelta(days=i) for i in range((end - start).days)]


def bounded_backfill(max_days: int) -> dg.BackfillPolicy:
    """A backfill reads at most `max_days` partitions per run, in one query per asset."""
    return dg.BackfillPolicy.multi_run(max_partitions_per_run=max_days)


@contextlib.contextmanager
def allow_beta_backfill_policy() -> Iterator[None]:
    """BackfillPolicy is the documented way to bound a backfill's reads; Dagster still labels
    the parameter beta, which would print once per asset at every load."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Parameter `backfill_policy`", dg.BetaWarning)
        yield


#: Raw extracts refresh today's partition on this cadence once the automation sensor is on.
RAW_REFRESH = dg.AutomationCondition.on_cron("*/15 * * * *")
#: Everything derived (state, views, destinations) follows its inputs, day by day.
DERIVED_REFRESH = dg.AutomationCondition.eager()
