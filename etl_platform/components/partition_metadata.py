"""Metadata per partition: in a range run each day's event describes that day.

A run over a range of daily partitions (a backfill, `etl-platform run`) records one
materialization per day. Metadata returned with the `MaterializeResult` goes on every one of
them, so a window's total row count read as each day's. What differs by day (its row count,
its balance, its preview) is added per partition; what the whole read shares (the query, the
schema, the path) goes on the result, or, when the run covers several days, once on its last
day's event (`range_metadata`): copied onto each of years of days it would be most of the
event log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dagster as dg

from etl_platform.layout import partition_key


def add_daily_metadata(
    context: dg.AssetExecutionContext,
    per_day: Mapping[dt.date, Mapping[str, Any]],
    *,
    asset_key: dg.AssetKey | None = None,
) -> None:
    """Attach each day's metadata to that day's materialization event only."""
    for day, metadata in per_day.items():
        context.add_asset_metadata(
            dict(metadata), asset_key=asset_key, partition_key=partition_key(day)
        )


def day_row_counts(counts: Mapping[dt.date, int]) -> dict[dt.date, dict[str, Any]]:
    """Each day's `dagster/row_count` alone, for `add_daily_metadata`."""
    return {day: {"dagster/row_count": dg.MetadataValue.int(n)} for day, n in counts.items()}


def range_metadata(
    context: dg.AssetExecutionContext,
    days: Sequence[dt.date],
    own: Mapping[dt.date, Mapping[str, Any]],
    *,
    shared: Mapping[str, Any],
    empty: Mapping[str, Any],
    asset_key: dg.AssetKey | None = None,
    partition_of: Callable[[dt.date], dt.date] | None = None,
) -> dict[str, Any]:
    """The result's metadata for a run over `days`, after attaching to their events what only
    some days have.

    `empty` is what a day with nothing to say reports (no rows): on the result, so on every
    day's event. `own` holds the days that say more; their metadata is added to their event
    alone, and Dagster checks the run's range at each call, so a sparse history of thousands of
    days costs calls for its few days with rows, not for every day. `shared` goes on the result
    for a single day and on the last day's event otherwise.

    With `partition_of` (a day -> the first day of its partition, for monthly partitions) the
    days' own metadata is summed into their partition's event (`summed_by_partition`).
    """
    if partition_of is not None:
        own = summed_by_partition(own, partition_of)
        days = sorted({partition_of(day) for day in days})
    days = sorted(days)
    last = days[-1] if days else None
    per_day = {day: dict(metadata) for day, metadata in own.items()}
    if last is not None and len(days) > 1:
        per_day[last] = {**shared, **per_day.get(last, {})}
    add_daily_metadata(context, dict(sorted(per_day.items())), asset_key=asset_key)
    return {**empty, **(shared if len(days) <= 1 else {})}


def summed_by_partition(
    own: Mapping[dt.date, Mapping[str, Any]], partition_of: Callable[[dt.date], dt.date]
) -> dict[dt.date, dict[str, Any]]:
    """Days' metadata as their partitions': integer values summed, and `days_with_rows` added
    (how many of the partition's days had something to report)."""
    merged: dict[dt.date, dict[str, Any]] = {}
    for day, metadata in sorted(own.items()):
        into = merged.setdefault(partition_of(day), {"days_with_rows": dg.MetadataValue.int(0)})
        into["days_with_rows"] = dg.MetadataValue.int(into["days_with_rows"].value + 1)
        for name, value in metadata.items():
            before = into.get(name)
            if isinstance(value, dg.IntMetadataValue) and isinstance(before, dg.IntMetadataValue):
                into[name] = dg.MetadataValue.int((before.value or 0) + (value.value or 0))
            else:
                into[name] = value
    return merged
