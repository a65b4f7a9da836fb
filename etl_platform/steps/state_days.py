"""Lookup state's days: the latest version of each looked-up row as of each day's end."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator

import polars as pl
import pyarrow as pa

from etl_platform.load.lake import Dataset
from etl_platform.load.lake_reads import days_before, read_frame
from etl_platform.runtime.memory import release_free_memory
from etl_platform.runtime.parallel import default_threads, ordered_map
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.views import ViewSpec
from etl_platform.transform.lookups import fold_latest

log = logging.getLogger(__name__)


def state_columns(table: str, views: Iterable[ViewSpec], sources: SourcesSpec) -> list[str]:
    """What the state keeps: the key, the cursor, and every column a lookup reads or joins on."""
    spec = sources.tables[table]
    wanted = [*spec.primary_key, spec.cursor]
    for view in views:
        for lookup in view.lookups:
            if lookup.table == table:
                wanted.extend(lookup.on.values())
                wanted.extend(lookup.columns)
    return list(dict.fromkeys(wanted))


def fold_days(
    raw: Dataset,
    state: Dataset,
    days: list[dt.date],
    *,
    columns: list[str],
    key: list[str],
    cursor: str,
    schema: pa.Schema,
    log_to: logging.Logger | logging.LoggerAdapter | None = None,
) -> dict[dt.date, int]:
    """Write state for each day from the previous day's state and the day's raw rows; each
    day's size back. Without a previous state, it is folded once from every earlier raw day."""
    first = days[0]
    previous = read_frame(state, first - dt.timedelta(days=1), columns)
    if previous is None:
        bootstrap = days_before(raw, first)
        if bootstrap:  # the usual start of a range whose day before was never built: not a fault
            (log_to or log).info(
                f"{state.name}: no state for {first - dt.timedelta(days=1)}; folding it from the "
                f"{len(bootstrap)} raw day(s) before {first}"
            )
        previous = pl.from_arrow(pa.Table.from_batches([], schema))  # empty_table() imports pandas
        for day in bootstrap:
            rows = read_frame(raw, day, columns)
            if rows is not None:
                previous = fold_latest(previous, rows, key=key, cursor=cursor)

    def folded() -> Iterator[tuple[dt.date, pl.DataFrame]]:
        state_before = previous
        for day in days:
            rows = read_frame(raw, day, columns)
            current = (
                state_before
                if rows is None
                else fold_latest(state_before, rows, key=key, cursor=cursor)
            )
            yield day, current
            state_before = current

    def write(item: tuple[dt.date, pl.DataFrame]) -> tuple[dt.date, int]:
        day, current = item
        state.write_partitions({day: current.to_arrow()}, schema)
        return day, current.height

    # A day's state is written (encoded, compressed) while the next is folded.
    sizes = dict(ordered_map(write, folded(), workers=min(2, default_threads())))
    release_free_memory()
    return sizes
