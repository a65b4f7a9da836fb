"""Metadata per partition: in a range run each day's event describes that day.

A run over a range of daily partitions (a backfill, `etl-platform run`) records one
materialization per day. Metadata returned with the `MaterializeResult` goes on every one of
them, so a window's total row count read as each day's. What differs by day (its row count,
its balance, its preview) is added per partition; what the whole read shares (the query, the
schema, the path) stays on the result.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
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
