"""A view's second partitioning (`partition_by`): which event day each current row belongs to,
and which event days changed since the layout was last written.

The layout is rewritten a day at a time, never patched, so all it needs from the previous run
is where each key was put and which version it was (its *placement*). A key whose day or
version differs from the current rows, or that appeared or vanished, touches its old day and
its new day; nothing else is rewritten.

An event day is a `datetime.date`, or None for rows whose column is NULL: those go to the Hive
default partition, which DuckDB, polars, Hive and Athena all read back as NULL.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence

import polars as pl

#: A day of the layout: a date, or None for the rows whose event date is NULL.
Day = dt.date | None

SHARD = "_shard"
#: The event day in the placement (a `_` name: never an output column).
EVENT_DAY = "_event_day"
#: What tells two versions of a key apart: the source row's cursor and the run that wrote it.
VERSION = ("_updated_at", "_run_id")
#: The folder value of NULL event days (Hive's, read back as NULL by every engine).
NULL_FOLDER_VALUE = "__HIVE_DEFAULT_PARTITION__"
#: The suffix of the folder key for a timestamp column (its UTC day).
TIMESTAMP_KEY_SUFFIX = "_day"


def folder_key(column: str, dtype: pl.DataType) -> str:
    """The Hive folder key of the layout.

    A date column is the key itself and is left out of the files, as Hive and Athena want
    (a partition column is not a data column). A timestamp column keeps its time in the files,
    so its day needs a name of its own (`occurred_at_day`): under the same name, DuckDB would
    read the folder's DATE over the file's timestamp and Athena would refuse the table.
    """
    if isinstance(dtype, pl.Date):
        return column
    if isinstance(dtype, pl.Datetime):
        return f"{column}{TIMESTAMP_KEY_SUFFIX}"
    raise TypeError(f"partition_by {column!r} is {dtype}, not a date or timestamp")


def stored_columns(columns: Sequence[str], column: str, dtype: pl.DataType) -> list[str]:
    """The columns a day file holds: all but a date partition column (its folder says it)."""
    if folder_key(column, dtype) != column:
        return list(columns)
    return [c for c in columns if c != column]


def event_day(column: str, dtype: pl.DataType) -> pl.Expr:
    """The event day of `column`: a date as is, a timestamp's UTC date (a naive timestamp is
    taken as UTC, as the platform stores them)."""
    if isinstance(dtype, pl.Date):
        return pl.col(column)
    if isinstance(dtype, pl.Datetime):
        value = pl.col(column)
        if dtype.time_zone is not None:
            value = value.dt.convert_time_zone("UTC")
        return value.dt.date()
    raise TypeError(f"partition_by {column!r} is {dtype}, not a date or timestamp")


def placement_columns(key: Sequence[str]) -> list[str]:
    """The current rows' columns the placement is computed from (besides the event column)."""
    return [SHARD, *key, *VERSION]


def placement_of(current: pl.DataFrame, key: Sequence[str], column: str) -> pl.DataFrame:
    """Where each current row goes: `_shard`, the unique key, `_event_day`, `_updated_at`,
    `_run_id`."""
    day = event_day(column, current.schema[column]).alias(EVENT_DAY)
    return current.select(SHARD, *key, day, *VERSION)


def days_of(placement: pl.DataFrame) -> set[Day]:
    return set(placement.get_column(EVENT_DAY).unique().to_list())


def touched_days(
    previous: pl.DataFrame | None, placement: pl.DataFrame, key: Sequence[str]
) -> set[Day]:
    """The event days whose rows changed between the `previous` placement (None: the first
    run, every day is touched) and the new one: for each key that appeared, vanished, moved
    day or changed version, its old day and its new day."""
    if previous is None:
        return days_of(placement)
    on = [SHARD, *key]
    old = previous.select(*on, EVENT_DAY, *VERSION).with_columns(pl.lit(True).alias("_old"))
    new = placement.select(*on, EVENT_DAY, *VERSION).with_columns(pl.lit(True).alias("_new"))
    both = old.join(new, on=on, how="full", nulls_equal=True, suffix="_n", coalesce=True)
    differs = pl.col("_old").is_null() | pl.col("_new").is_null()
    for name in (EVENT_DAY, *VERSION):
        differs = differs | pl.col(name).ne_missing(pl.col(f"{name}_n"))
    changed = both.filter(differs)
    before = changed.filter(pl.col("_old")).get_column(EVENT_DAY)
    after = changed.filter(pl.col("_new")).get_column(f"{EVENT_DAY}_n")
    return set(before.unique().to_list()) | set(after.unique().to_list())


def day_counts(placement: pl.DataFrame) -> dict[Day, int]:
    """Rows per event day."""
    counts = placement.group_by(EVENT_DAY).len()
    return dict(zip(counts.get_column(EVENT_DAY), counts.get_column("len"), strict=True))


def in_days(days: Iterable[Day]) -> pl.Expr:
    """Rows whose `_event_day` is one of `days` (None: a NULL event day)."""
    days = set(days)
    dates = [d for d in days if d is not None]
    keep = pl.col(EVENT_DAY).is_in(dates) if dates else pl.lit(False)
    if None in days:
        keep = keep | pl.col(EVENT_DAY).is_null()
    return keep


def day_value(day: Day) -> str:
    """A day as the folder writes it."""
    return NULL_FOLDER_VALUE if day is None else day.isoformat()


def day_folder(key: str, day: Day) -> str:
    """`event_day=2024-03-01`, or `event_day=__HIVE_DEFAULT_PARTITION__`."""
    return f"{key}={day_value(day)}"


@dataclasses.dataclass(frozen=True)
class DaySlice:
    """One day's rows: `length` rows from `offset` in the order `day_slices` gives."""

    day: Day
    offset: int
    length: int


def day_slices(index: pl.DataFrame, key: Sequence[str]) -> tuple[pl.Series, list[DaySlice]]:
    """How to cut rows into days with one gather: `index` holds the rows' `_event_day`,
    `_shard` and key; back come the row order (by day, then shard and key, so a day's file
    has one order whatever the current file's) and each day's run in it."""
    order = index.with_row_index("_row").sort(
        [EVENT_DAY, SHARD, *key], nulls_last=True, maintain_order=True
    )
    runs = order.get_column(EVENT_DAY).rle()
    slices, start = [], 0
    for length, day in runs.struct.unnest().iter_rows():
        slices.append(DaySlice(day, start, length))
        start += length
    return order.get_column("_row"), slices


def day_passes(days: Iterable[Day], counts: dict[Day, int], max_rows: int) -> list[list[Day]]:
    """Touched days grouped so that each read of the current rows holds at most `max_rows`
    (a day larger than that is a pass of its own); days without rows need no read."""
    passes: list[list[Day]] = []
    held = 0
    for day in sorted_days(d for d in days if counts.get(d)):
        if not passes or held + counts[day] > max_rows:
            passes.append([])
            held = 0
        passes[-1].append(day)
        held += counts[day]
    return passes


def sorted_days(days: Iterable[Day]) -> list[Day]:
    """Days in date order, the NULL day last (as its folder sorts)."""
    return sorted(days, key=lambda day: (day is None, day or dt.date.min))
