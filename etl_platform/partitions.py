"""The daily partitions shared by every asset, and the one helper that turns a window into days."""

from __future__ import annotations

import datetime as dt

import dagster as dg

PARTITION_TIMEZONE = "UTC"


def daily_partitions(start: dt.date) -> dg.DailyPartitionsDefinition:
    """Days in UTC from `start`, today included (end_offset=1) so the current day can refresh."""
    return dg.DailyPartitionsDefinition(
        start_date=start.isoformat(), timezone=PARTITION_TIMEZONE, end_offset=1
    )


def window_days(window: dg.TimeWindow) -> list[dt.date]:
    """The calendar days a [start, end) partition time window covers."""
    start = window.start.astimezone(dt.UTC).date()
    end = window.end.astimezone(dt.UTC).date()
    return [start + dt.timedelta(days=i) for i in range((end - start).days)]
