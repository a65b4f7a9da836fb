"""Lookup state of a snapshot table: its versions brought up to date with its latest snapshot.

The raw zone holds one file per shard x snapshot table, the table as last read. Each update
diffs it against the versions' current rows (`transform.snapshot_diff`) and adds what changed,
dated by the snapshot's time: history builds up one snapshot at a time, so lookups as of a day
see the rows as the latest snapshot taken by the end of that day had them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import polars as pl

from etl_platform.errors import ColumnMissing, PartitionMissing
from etl_platform.load.lake import SnapshotFile
from etl_platform.load.versions import VersionsTable
from etl_platform.specs.sources import SNAPSHOT_AT
from etl_platform.transform.snapshot_diff import diff_snapshot, first_snapshot
from etl_platform.transform.versions import DAY, DELETED, META, ORIGIN, SEEN, with_validity


@dataclasses.dataclass(frozen=True)
class SnapshotSyncReport:
    #: When the applied snapshot was taken.
    snapshot_at: dt.datetime
    #: Versions and tombstones it added (0: nothing changed, or it was applied already).
    added: int
    deleted: int
    #: The versions (re)started from this snapshot, dated at the table's start: the first
    #: one, or the first after the views asked for other columns.
    restarted: bool
    versions: int
    keys: int
    bytes: int


def sync_snapshot(
    snapshot: SnapshotFile,
    versions: VersionsTable,
    *,
    columns: list[str],
    key: list[str],
    start: dt.date,
) -> SnapshotSyncReport:
    """Apply the latest snapshot to `versions`. `columns` are the state's, its version column
    (`SNAPSHOT_AT`) among them. The first snapshot, or the first after the views asked for
    other columns, starts the versions again, dated at `start`: there is no older snapshot to
    tell what changed before it. A snapshot already applied adds nothing."""
    taken = snapshot.taken_at()
    if taken is None:
        raise PartitionMissing(f"{snapshot.name} has no snapshot yet; materialize it first")
    read = [c for c in columns if c != SNAPSHOT_AT]
    with versions.locked():
        current = versions.read()
        same_columns = current is not None and [
            c for c in current.columns if c not in META
        ] == list(columns)
        if same_columns and versions.applied_snapshot() == taken:
            return _report(versions, taken, added=0, deleted=0, restarted=False, key=key)
        rows, taken = _read_snapshot(snapshot, read)
        if current is not None and same_columns:
            fresh = diff_snapshot(current, rows, key=key, at=taken)
            merged = pl.concat([current, fresh], how="vertical_relaxed")
        else:
            fresh = first_snapshot(rows, key=key, start=start).select(
                [*columns, DAY, SEEN, DELETED, ORIGIN]
            )
            merged = fresh
        merged = with_validity(merged, key=key, cursor=SNAPSHOT_AT)
        versions.replace(merged.to_arrow(), {}, snapshot_at=taken)
        deleted = int(fresh[DELETED].sum())
        return _report(
            versions,
            taken,
            added=fresh.height - deleted,
            deleted=deleted,
            restarted=not same_columns,
            key=key,
        )


def _read_snapshot(snapshot: SnapshotFile, columns: list[str]) -> tuple[pl.DataFrame, dt.datetime]:
    """The snapshot's rows and its time, read together; a column it lacks is named."""
    try:
        table, taken = snapshot.read(columns)
    except KeyError as e:
        raise ColumnMissing(
            f"{snapshot.name} has no column(s) {e.args[0]} (dropped at the source? "
            f"see the schema_drift metadata of {snapshot.name})"
        ) from None
    return pl.DataFrame(pl.from_arrow(table)), taken


def _report(
    versions: VersionsTable,
    taken: dt.datetime,
    *,
    added: int,
    deleted: int,
    restarted: bool,
    key: list[str],
) -> SnapshotSyncReport:
    frame = versions.read(key)
    return SnapshotSyncReport(
        snapshot_at=taken,
        added=added,
        deleted=deleted,
        restarted=restarted,
        versions=0 if frame is None else frame.height,
        keys=0 if frame is None else frame.unique().height,
        bytes=versions.path.stat().st_size if versions.exists() else 0,
    )
