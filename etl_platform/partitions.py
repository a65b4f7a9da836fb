"""The daily partitions every asset shares, the monthly ones a long-history table may take, and
the helpers that turn a window into days and a day into its partition."""

from __future__ import annotations

import contextlib
import datetime as dt
import warnings
from collections.abc import Iterator

import dagster as dg

from etl_platform.layout import partition_key
from etl_platform.specs.sources import SourcesSpec

PARTITION_TIMEZONE = "UTC"
#: The tag on monthly raw assets: jobs select them apart, as one job takes one partitioning.
MONTHLY_TAG = {"partitions": "monthly"}


def daily_partitions(start: dt.date) -> dg.DailyPartitionsDefinition:
    """Days in UTC from `start`, today included (end_offset=1) so the current day can refresh."""
    return dg.DailyPartitionsDefinition(
        start_date=start.isoformat(), timezone=PARTITION_TIMEZONE, end_offset=1
    )


def platform_partitions(sources: SourcesSpec) -> dg.DailyPartitionsDefinition:
    """One partitions definition for every asset, so any selection can run as one job: from the
    earliest `start` of sources.yaml. A table with a later `start` of its own has its earlier
    days written empty, unread."""
    starts = [sources.start, *(t.start for t in sources.tables.values() if t.start)]
    return daily_partitions(min(starts))


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def monthly_partitions(start: dt.date) -> dg.MonthlyPartitionsDefinition:
    """Months in UTC from the one holding `start`, the current month included (end_offset=1).
    Its keys are the months' first days, in the daily keys' format."""
    return dg.MonthlyPartitionsDefinition(
        start_date=month_start(start).isoformat(),
        timezone=PARTITION_TIMEZONE,
        end_offset=1,
        fmt="%Y-%m-%d",
    )


def table_partitions(
    sources: SourcesSpec, table: str
) -> dg.DailyPartitionsDefinition | dg.MonthlyPartitionsDefinition:
    """The raw assets' partitions of `table`: the platform's days, or months from the same
    start (`partitions: monthly`)."""
    days = platform_partitions(sources)
    if sources.tables[table].partitions == "monthly":
        return monthly_partitions(days.start.date())
    return days


def is_monthly(sources: SourcesSpec, table: str) -> bool:
    return sources.tables[table].partitions == "monthly"


def table_partition_key(sources: SourcesSpec, table: str, day: dt.date) -> str:
    """The key of the raw partition of `table` that holds `day`."""
    return partition_key(month_start(day) if is_monthly(sources, table) else day)


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
