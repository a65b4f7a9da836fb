"""A looked-up table's versions (SCD type 2) and what they say as of a day's end.

Every version a raw day held is kept, tagged with that day (`_day`); a deleted key gets a
tombstone (`_deleted`). "As of the end of day D" is the latest version per key among those
seen by D's end (`_seen`), a tombstone meaning the key is gone: the same rows, ties broken the
same way, as folding each day into the day before's state, without a copy of the table per day.

`_day` says which raw day a version was read from (a re-read day replaces its versions);
`_seen` says from which day's end it counts. They differ only for a CDC delete: it is filed
on the removed version's day, but the key is gone only from its commit's day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from etl_platform.transform.dedupe import latest_rows

#: The raw day a version came from (tombstones: the day the delete was seen).
DAY = "_day"
#: The day from whose end the version counts (its `_day`, a CDC delete's: its commit's day).
#: Older versions tables lack it: `_day` stands in.
SEEN = "_seen"
#: True for a tombstone: the key was gone from the shard at its `valid_from`.
DELETED = "_deleted"
#: Where a version came from: a raw day (`raw`), a key reconciliation, a snapshot diff.
ORIGIN = "_origin"
#: A CDC table's binlog position of the change or read that gave the version (null for rows
#: read before the capture): of a key's versions tied on the cursor, the later one wins.
LOG_POS = "_log_pos"
#: When the version took effect (its cursor) and when the next one did (null: still current).
VALID_FROM = "valid_from"
VALID_TO = "valid_to"
#: The columns the versions table adds to the state's own.
META = (DAY, SEEN, DELETED, ORIGIN, LOG_POS, VALID_FROM, VALID_TO)

RAW = "raw"


def day_versions(
    rows: pl.DataFrame, day: dt.date, *, key: Sequence[str], origin: str = RAW
) -> pl.DataFrame:
    """One raw day's rows as versions. Rows with a null key are dropped: no view row can ever
    join to them."""
    keyed = rows.filter(pl.all_horizontal(pl.col(k).is_not_null() for k in key)) if key else rows
    return keyed.with_columns(
        pl.lit(day, pl.Date).alias(DAY),
        pl.lit(day, pl.Date).alias(SEEN),
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
        pl.lit(at.date(), pl.Date).alias(SEEN),
        pl.lit(True).alias(DELETED),
        pl.lit(origin).alias(ORIGIN),
    )
    return _in_schema(frame, schema)


def commit_tombstones(
    deleted: pl.DataFrame,
    *,
    day: dt.date,
    key: Sequence[str],
    cursor: str,
    commit: str,
    schema: pl.Schema,
    origin: str,
    timezone: str = "UTC",
) -> pl.DataFrame:
    """A tombstone per CDC delete in `deleted` (its key, the removed version's cursor, its
    `commit` time and its `_log_pos`), filed on the raw `day` and seen from the commit's UTC
    day. Its cursor is the commit time in the cursor's type (a DATE cursor: the commit's date
    in the shard's `timezone`, as the shard dates rows), never before the removed version's,
    so it outranks what it deletes; a later change tied with it wins by its position."""
    cursor_type = schema[cursor]
    utc = pl.col(commit).dt.convert_time_zone("UTC")
    at = utc.dt.replace_time_zone(None).fill_null(pl.lit(dt.datetime.combine(day, dt.time())))
    local_date = utc.dt.convert_time_zone(timezone).dt.date().fill_null(pl.lit(day, pl.Date))
    stamp = local_date if cursor_type == pl.Date else at
    position = [pl.col(LOG_POS)] if LOG_POS in deleted.columns else []
    frame = deleted.select(
        *key,
        pl.max_horizontal(stamp.cast(cursor_type), pl.col(cursor).cast(cursor_type)).alias(cursor),
        pl.lit(day, pl.Date).alias(DAY),
        at.dt.date().alias(SEEN),
        pl.lit(True).alias(DELETED),
        pl.lit(origin).alias(ORIGIN),
        *position,
    )
    return _in_schema(frame, schema)


def _in_schema(frame: pl.DataFrame, schema: pl.Schema) -> pl.DataFrame:
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
    # Of a key's versions tied on the cursor, the later binlog position wins, then a
    # tombstone.
    order = [LOG_POS, DELETED] if LOG_POS in versions.columns else [DELETED]
    seen = versions.filter(seen_by(day, versions.columns)).select([*order, *own])
    latest = latest_rows(seen, list(key), cursor)
    return latest.filter(~pl.col(DELETED)).drop(order)


def seen_by(day: dt.date, columns: Sequence[str]) -> pl.Expr:
    """The versions (of a table with `columns`) that count at the end of `day`."""
    seen = pl.coalesce(pl.col(SEEN), pl.col(DAY)) if SEEN in columns else pl.col(DAY)
    return seen <= day
