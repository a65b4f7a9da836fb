"""Compaction: a CDC day's change files passed into its day file (docs/cdc.md).

Readers merge a day's changes on every read (`load.raw_day_reads`); past a number of files or
bytes the day is merged once instead. The merged day file keeps `_op`, `_log_pos` and
`_commit_ts` and keeps `delete` and `move` rows, so reading it gives what the day file and the
changes gave. It is swapped in whole (`DayWriter`), and only then are the change files removed:
a crash in between leaves changes the merged file already holds, which read the same (a day
file row at a change's position or above stands).

Memory: compaction holds the day (its file and its changes); it runs once per threshold.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from etl_platform.load.change_files import ChangeLog, file_positions
from etl_platform.load.lake import Dataset, Lake
from etl_platform.load.staging import dataset_lock
from etl_platform.load.versions import day_fingerprint
from etl_platform.specs.sources import CdcSettings
from etl_platform.transform.changes import POS, latest_per_key

#: Rows per row group of a merged day file, as the extract writes them.
ROW_GROUP_ROWS = 128_000
_ROW = "__row"


@dataclasses.dataclass(frozen=True)
class CompactResult:
    day: dt.date
    #: The change files passed into the day file (and removed).
    merged: tuple[Path, ...] = ()
    #: Rows of the merged day file (deletes and moves included).
    rows: int = 0
    #: Why nothing was merged, if so.
    skipped: str | None = None


def compaction_due(changes: ChangeLog, day: dt.date, settings: CdcSettings) -> bool:
    """Whether the day holds more change files, or more bytes of them, than `settings` allow."""
    files = changes.files(day)
    if len(files) > settings.compact_files:
        return True
    return changes.bytes(day) > settings.compact_bytes


#: Held by a batch re-read of a CDC table for its whole read (`mysql_sources`).
REREAD_LOCK = "cdc-reread.lock"


def compact_day(
    lake: Lake, shard: str, table: str, key: Sequence[str], day: dt.date, *, upto: str
) -> CompactResult:
    """Merge the day file and the change files whose last position is at or before `upto`
    (the checkpoint's) into a new day file, then remove those change files.

    Skipped while a batch re-read of the table holds `REREAD_LOCK` (it would swap its older
    read over the merge); a day file replaced meanwhile otherwise (checked just before the
    swap) is left as it is, and the next compaction starts again from it.
    """
    log, raw = lake.changes(shard, table), lake.raw(shard, table)
    with dataset_lock(raw, REREAD_LOCK, wait=False) as free:
        if not free:
            return CompactResult(day, skipped=f"a batch re-read of {raw.name} is running")
        return _compact(log, raw, key, day, upto)


def _compact(
    log: ChangeLog, raw: Dataset, key: Sequence[str], day: dt.date, upto: str
) -> CompactResult:
    files = [f for f in log.files(day) if file_positions(f)[1] <= upto]
    if not files:
        return CompactResult(day, skipped=f"no change file at or before {upto}")
    before = _fingerprint(raw, day)
    merged = merged_day(raw.read_partition(day), [pq.read_table(f) for f in files], list(key))
    writer = raw.open_day(day)
    try:
        for start in range(0, merged.num_rows, ROW_GROUP_ROWS):
            writer.write(merged.slice(start, ROW_GROUP_ROWS))
        if _fingerprint(raw, day) != before:
            writer.abort()
            return CompactResult(day, skipped=f"{raw.name} {day} was replaced while compacting")
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    log.remove(files)
    return CompactResult(day, tuple(files), merged.num_rows)


def _fingerprint(raw: Dataset, day: dt.date) -> str:
    return day_fingerprint(raw.partition_files(day))


def merged_day(base: pa.Table | None, changes: list[pa.Table], key: list[str]) -> pa.Table:
    """The winning row per key of a day file and its changes (`latest_per_key`), in the
    tables' own types: the day file's columns, then those only changes have (`_op`...)."""
    parts = [t for t in [base, *changes] if t is not None]
    combined = pa.concat_tables(parts, promote_options="permissive")
    order = pl.DataFrame(pl.from_arrow(combined.select([*key, POS]))).with_row_index(_ROW)
    winners = latest_per_key(order, key).get_column(_ROW)
    return combined.take(winners.to_arrow())
