"""What a snapshot of a whole table adds to its versions: changed rows, and deleted keys.

A snapshot table (`mode: snapshot`) has no cursor, so its versions are ordered by the time of
the snapshot that saw them (`SNAPSHOT_AT`). Against the versions table's current rows, a
snapshot's new or changed rows become versions at its time, the keys it no longer has become
tombstones at its time, and unchanged rows add nothing, so applying the same snapshot twice
adds nothing the second time. The first snapshot has no earlier one to be compared with: it
is dated at the table's start, so a lookup as of any day since then finds its rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from etl_platform.specs.sources import SNAPSHOT_AT
from etl_platform.transform.versions import META, as_of, day_versions, tombstones

#: The origin of the versions and tombstones a snapshot adds.
SNAPSHOT = "snapshot"


def start_of(day: dt.date) -> dt.datetime:
    """Midnight UTC at the start of `day`: when a table's first snapshot takes effect."""
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def snapshot_versions(
    rows: pl.DataFrame, *, key: Sequence[str], at: dt.datetime, version: str = SNAPSHOT_AT
) -> pl.DataFrame:
    """A snapshot's rows as versions that took effect at `at` (UTC), on its day."""
    stamped = rows.with_columns(pl.lit(at, pl.Datetime("us", "UTC")).alias(version))
    return day_versions(stamped, at.astimezone(dt.UTC).date(), key=key, origin=SNAPSHOT)


def first_snapshot(
    rows: pl.DataFrame, *, key: Sequence[str], start: dt.date, version: str = SNAPSHOT_AT
) -> pl.DataFrame:
    """The versions of a table's first snapshot: its rows, as they were since `start`."""
    return snapshot_versions(rows, key=key, at=start_of(start), version=version)


def diff_snapshot(
    versions: pl.DataFrame,
    rows: pl.DataFrame,
    *,
    key: Sequence[str],
    at: dt.datetime,
    version: str = SNAPSHOT_AT,
) -> pl.DataFrame:
    """The versions the snapshot `rows` taken at `at` adds to `versions`: its rows that differ
    from the current ones (by every column it has) and a tombstone for each current key it
    lacks; empty when nothing changed. In the versions' columns, without validity."""
    key = list(key)
    own = [c for c in versions.columns if c not in META]
    current = as_of(versions, dt.date.max, key=key, cursor=version).drop(version)
    compared = [c for c in rows.columns if c in current.columns]
    keyed = rows.filter(pl.all_horizontal(pl.col(k).is_not_null() for k in key))
    # Compared in the snapshot's types: a column the shard retyped shows as changed.
    before = current.select(pl.col(c).cast(keyed.schema[c], strict=False) for c in compared)
    changed = keyed.join(before, on=compared, how="anti", nulls_equal=True)
    gone = current.select(key).join(keyed.select(key).unique(), on=key, how="anti")
    added = snapshot_versions(changed, key=key, at=at, version=version)
    body = versions.select([*own, *(c for c in META if c in versions.columns)]).schema
    deleted = tombstones(gone, at=at, cursor=version, schema=body, origin=SNAPSHOT)
    return pl.concat([pl.DataFrame(schema=body), added, deleted], how="diagonal_relaxed").select(
        list(body)
    )
