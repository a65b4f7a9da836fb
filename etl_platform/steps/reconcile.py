"""Key reconciliation of a lookup state: the keys the shard no longer has get a tombstone.

A batch read never sees a delete, so a deleted row's last version would stay current for ever.
This compares the shard's key set with the versions table's current keys and adds, for each
key gone, a tombstone dated now: lookups as of today and later find nothing, earlier days keep
the history as it was, and a key that comes back with a newer version is current again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence

import polars as pl
import pyarrow as pa

from etl_platform.load.versions import VersionsTable
from etl_platform.transform.versions import as_of, tombstones, with_validity

#: The origin of a reconciliation's tombstones in the versions table.
RECONCILE = "reconcile"
#: Dropped keys shown in the metadata.
SAMPLE_KEYS = 20


@dataclasses.dataclass(frozen=True)
class ReconcileReport:
    #: When the tombstones took effect (None: no key was gone).
    at: dt.datetime | None
    #: Current keys of the versions table compared with the shard's.
    state_keys: int
    source_keys: int
    dropped: int
    dropped_sample: list[dict]


def vanished_keys(
    state_keys: pl.DataFrame, source: Iterable[pa.RecordBatch]
) -> tuple[pl.DataFrame, int]:
    """The state's keys that no source batch holds, and how many source keys were read.

    One batch at a time is anti-joined away from the keys not seen yet, so memory holds the
    state's keys and one batch, not the shard's key set.
    """
    unseen = state_keys.unique()
    read = 0
    for batch in source:
        seen = pl.DataFrame(pl.from_arrow(batch)).cast(dict(unseen.schema))
        read += seen.height
        if unseen.height:
            unseen = unseen.join(seen, on=unseen.columns, how="anti")
    return unseen, read


def reconcile_versions(
    versions: VersionsTable,
    key: Sequence[str],
    cursor: str,
    source: Iterable[pa.RecordBatch],
    *,
    at: dt.datetime,
) -> ReconcileReport:
    """Add a tombstone at `at` for each current key of `versions` that `source` (the shard's
    key set) lacks. With no versions yet there is nothing to compare: `source` is not read."""
    key = list(key)
    with versions.locked():
        frame = versions.read()
        if frame is None:
            return ReconcileReport(None, 0, 0, 0, [])
        current = as_of(frame, dt.date.max, key=key, cursor=cursor).select(key)
        vanished, source_keys = vanished_keys(current, source)
        if vanished.height:
            gone = tombstones(vanished, at=at, cursor=cursor, schema=frame.schema, origin=RECONCILE)
            merged = with_validity(
                pl.concat([frame, gone], how="vertical_relaxed"), key=key, cursor=cursor
            )
            versions.replace(
                merged.to_arrow(), versions.manifest(), snapshot_at=versions.applied_snapshot()
            )
    return ReconcileReport(
        at=at if vanished.height else None,
        state_keys=current.height,
        source_keys=source_keys,
        dropped=vanished.height,
        dropped_sample=vanished.head(SAMPLE_KEYS).to_dicts(),
    )
