"""A looked-up table's versions (SCD type 2) and what they say as of a day's end.

Every version a raw day held is kept, tagged with that day (`_day`); a deleted key gets a
tombstone (`_deleted`). "As of the end of day D" is the latest version per key among those of
days up to D, a tombstone meaning the key is gone: the same rows, ties broken the same way,
as folding each day into the day before's state, without a copy of the table per day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from etl_platform.transform.dedupe import latest_rows

#: The raw day a version came from (tombstones: the day the delete was seen).
DAY = "_day"
#: True for a tombstone: the key was gone from the shard at its `valid_from`.
DELETED = "_deleted"
#: Where a version came from: a raw day (`raw`), a key reconciliation, a snapshot diff.
ORIGIN = "_origin"
#: When the version took effect (its cursor) and when the next one did (null: still current).
VALID_FROM = "valid_from"
VALID_TO = "valid_to"
#: The columns the versions table adds to the state's own.
META = (DAY, DELETED, ORIGIN, VALID_FROM, VALID_TO)

RAW = "raw"


def day_versions(
    rows: pl.DataFrame, day: dt.date, *, key: Sequence[str], origin: str = RAW
) -> pl.DataFrame:
    """One raw day's rows as versions. Rows with a null key are dropped: no view row can ever
    join to them."""
    keyed = rows.filter(pl.all_horizontal(pl.col(k).is_not_null() for k in key)) if key else rows
    return keyed.with_columns(
        pl.lit(day, pl.Date).alias(DAY),
        pl.lit(False).alias(DELETED),
        pl.lit(origin).alias(ORIGIN),
    )


def tombstones(
    keys: pl.DataFrame, *, at: dt.datetime, cursor: str, schema: pl.Schema, origin: str
) -> pl.DataFrame:
    """A version per key saying it is gone from `at` on: its cursor is `at` in the cursor's
    type (a DATE cursor gets the day), every other column null."""
    cursor_type = schema[cursor]
    stamp: object = at.date() if cursor_type == pl.Date else at.replace(tzinfo=None)
    frame = keys.with_columns(
        pl.lit(stamp).cast(cursor_type).alias(cursor),
        pl.lit(at.date(), pl.Date).alias(DAY),
        pl.lit(True).alias(DELETED),
        pl.lit(origin).alias(ORIGIN),
    )
    return pl.concat([pl.DataFrame(schema=schema), frame], how="diagonal_relaxed").select(
        list(schema)
    )


def with_validity(versions: pl.DataFrame, *, key: Sequence[str], cursor: str) -> pl.DataFrame:
    """Versions sorted by key and cursor, with `valid_from` (the cursor) and `valid_to` (the
    next version's, null for the current one). Sorted so that a reader's filter on a key range
    skips row groups."""
    key = list(key)
    body = versions.drop([c for c in (VALID_FROM, VALID_TO) if c in versions.columns])
    ordered = body.sort([*key, cursor, DAY], nulls_last=False, maintain_order=True)
    return ordered.with_columns(
        pl.col(cursor).alias(VALID_FROM),
        pl.col(cursor).shift(-1).over(key).alias(VALID_TO),
    )


def as_of(versions: pl.DataFrame, day: dt.date, *, key: Sequence[str], cursor: str) -> pl.DataFrame:
    """The rows as they stood at the end of `day`: the latest version per key among those of
    days up to `day` (ties broken on the row's values, a tombstone winning), deleted keys out,
    without the versions' own columns."""
    own = [c for c in versions.columns if c not in META]
    seen = versions.filter(pl.col(DAY) <= day).select([*own, DELETED])
    latest = latest_rows(seen, list(key), cursor)
    return latest.filter(~pl.col(DELETED)).drop(DELETED)
