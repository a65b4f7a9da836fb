"""Lookup state's days: the latest version of each looked-up row as of each day's end."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator

import polars as pl
import pyarrow as pa

from etl_platform.errors import PartitionMissing
from etl_platform.load.lake import Dataset
from etl_platform.load.lake_reads import days_before, partition_days, read_frame
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


def missing_history(present: Iterable[dt.date], start: dt.date, first: dt.date) -> list[dt.date]:
    """The days from `start` to the day before `first` that `present` lacks, in order."""
    have = set(present)
    days = (start + dt.timedelta(days=i) for i in range((first - start).days))
    return [day for day in days if day not in have]


def _ranges(days: list[dt.date]) -> list[str]:
    """Consecutive days as `first..last` (a lone day as itself)."""
    runs: list[list[dt.date]] = []
    for day in days:
        if runs and day - runs[-1][-1] == dt.timedelta(days=1):
            runs[-1].append(day)
        else:
            runs.append([day])
    return [f"{r[0]}..{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs]


def require_history(
    raw: Dataset, state: Dataset, first: dt.date, *, start: dt.date, shard: str, table: str
) -> None:
    """Refuse to fold a state from a history the raw zone lacks.

    Without the previous day's state, `fold_days` folds every earlier raw day: a day never
    extracted would leave the rows last changed on it out, and most lookups NULL while the run
    still succeeds. So every raw day from the table's start to `first` must be there, unless
    `first` is the table's first day.
    """
    if first <= start or state.partition_files(first - dt.timedelta(days=1)):
        return
    missing = missing_history(partition_days(raw), start, first)
    if not missing:
        return
    ranges = _ranges(missing)
    more = f" and {len(ranges) - 5} more range(s)" if len(ranges) > 5 else ""
    shown = ", ".join(ranges[:5]) + more
    raise PartitionMissing(
        f"{state.name}: {raw.name} lacks {len(missing)} day(s) before {first} ({shown}); the "
        f"lookup state of {table} on {shard} is folded from its whole history since its start, "
        f"{start}, so without them most lookups would be NULL. Extract them first: "
        f"`etl-platform run --job extract_raw --start {missing[0]} --end {missing[-1]}` "
        f"(every table; for this one alone, backfill {raw.name} over those days from the UI), "
        "then run this again."
    )


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
