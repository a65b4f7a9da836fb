"""A raw day as views and lookup state read it; for a CDC table, its day file and change files
read as one (docs/cdc.md).

Per primary key the highest `_log_pos` wins (a batch row's null lowest); a winning `delete`
removes the key and a winning `move` is kept only with `history`. Memory follows the day's
change rows, not the day file: the changes are read whole and reduced to a winner per key,
the day file is streamed in slices, each losing the keys a change outranks, and the winning
changes come last.

The order of reads is what makes this safe beside compaction, which swaps a merged day file
in and only then removes the change files it holds: the changes are read first, then the day
file is opened (and held open, so a later swap cannot change it under the reader). Old day
file and old changes, or merged day file and any of its changes, read the same; a change file
removed between listing and reading means the swap is done: the day is read again, once.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from etl_platform.errors import ColumnMissing
from etl_platform.load.change_files import ChangeLog
from etl_platform.load.lake import Dataset, Lake, files_rows
from etl_platform.load.lake_reads import read_day_slices, read_frame
from etl_platform.specs.sources import TableSpec
from etl_platform.transform.changes import (
    CHANGE_COLUMNS,
    COMMIT_TS,
    OP,
    POS,
    latest_per_key,
    visible,
)

#: A table's spec, or for a table known to be CDC its primary key.
TableOrKey = TableSpec | Sequence[str]
#: Rows of a slice that holds the whole day.
WHOLE = 2**62
#: The position of the change a day-file row is measured against.
_AGAINST = "__change_pos"
#: The types of the change columns, for day files written before they had them.
CHANGE_TYPES = {OP: pl.String, POS: pl.String, COMMIT_TS: pl.Datetime("us", "UTC")}


def cdc_key(table: TableOrKey) -> list[str] | None:
    """The key a day is read as one by, or None for a table that has no change files."""
    if isinstance(table, TableSpec):
        return list(table.primary_key) if table.is_cdc else None
    return list(table)


def raw_day_written(lake: Lake, shard: str, table: str, day: dt.date) -> bool:
    """Whether the raw day exists for a reader: written by the extract, or holding changes."""
    return lake.raw(shard, table).is_written(day) or bool(lake.changes(shard, table).files(day))


def raw_day_rows(lake: Lake, shard: str, table: str, day: dt.date) -> int:
    """The rows of the day's files and change files, from their footers: the day's rows for a
    batch day, at most what it reads as for a day with changes."""
    try:
        return _rows(lake, shard, table, day)
    except FileNotFoundError:  # compacted meanwhile
        return _rows(lake, shard, table, day)


def _rows(lake: Lake, shard: str, table: str, day: dt.date) -> int:
    return files_rows(lake.raw(shard, table).partition_files(day)) + files_rows(
        lake.changes(shard, table).files(day)
    )


def raw_day_files(raw: Dataset, log: ChangeLog, day: dt.date) -> list[Path]:
    """What a CDC table's raw day is made of: its day files, then its change files."""
    return [*raw.partition_files(day), *log.files(day)]


def read_raw_day_slices(
    lake: Lake,
    shard: str,
    table: TableOrKey,
    table_name: str,
    day: dt.date,
    columns: list[str],
    rows: int,
    *,
    history: bool,
) -> Iterator[pl.DataFrame]:
    """The raw day's `columns` in slices of about `rows`, as `lake_reads.read_day_slices` gives
    a batch day (which it is for a table that is not CDC, or a day with no changes)."""
    key = cdc_key(table)
    raw = lake.raw(shard, table_name)
    if key is None:
        yield from read_day_slices(raw, day, raw.partition_files(day), columns, rows)
        return
    log = lake.changes(shard, table_name)
    for frame in read_day_winners(raw, log, key, day, columns, rows):
        yield visible(frame, history=history).select(columns)


def read_raw_day_frame(
    raw: Dataset, log: ChangeLog, key: Sequence[str], day: dt.date, columns: list[str]
) -> pl.DataFrame | None:
    """A CDC table's raw day whole (lookup state holds a day): its winning rows with `_op`
    (deletes and moves included), or None when the day was never written and has no changes."""
    if not raw.is_written(day) and not log.files(day):
        return None
    frames = list(read_day_winners(raw, log, key, day, columns, WHOLE))
    if not frames:
        return read_frame(raw, day, columns)
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")


def read_day_winners(
    raw: Dataset,
    log: ChangeLog,
    key: Sequence[str],
    day: dt.date,
    columns: list[str],
    rows: int,
) -> Iterator[pl.DataFrame]:
    """The day's winning rows per key in slices, with `_op` when the day has one (change files
    or a compacted day file): `delete` and `move` rows are the caller's to drop (`visible`).
    A day with neither is `read_day_slices` exactly."""
    key = list(key)
    changes, opened = _open_day_retrying(raw, log, key, day, columns)
    if changes is None and not any(OP in f.schema_arrow.names for f in opened):
        held = {n for f in opened for n in f.schema_arrow.names}
        for f in opened:
            f.close()
        # A change column the day's files lack (a batch day) comes back null.
        own = [c for c in columns if c in held or c not in CHANGE_COLUMNS]
        for part in read_day_slices(raw, day, raw.partition_files(day), own, rows):
            yield _output(part, columns) if own != columns else part
        return
    against = None if changes is None else changes.select(*key, pl.col(POS).alias(_AGAINST))
    outranked: list[pl.DataFrame] = []
    try:
        for file in opened:
            for part in _file_slices(file, raw.name, day, [*columns, *key], rows):
                if against is not None:
                    part, beaten = _against_changes(part, against, key)
                    outranked.append(beaten)
                yield _output(part, columns)
    finally:
        for f in opened:
            f.close()
    if changes is None:
        return
    if outranked:
        beaten_keys = pl.concat(outranked, how="vertical_relaxed").unique()
        changes = changes.join(beaten_keys, on=key, how="anti", nulls_equal=True)
    out = _output(changes, columns)
    for start in range(0, max(out.height, 1), rows):
        yield out.slice(start, rows)


#: Waits before reading a day again when a change file vanished under the reader: compaction
#: removes a day's merged files one by one after swapping the day file in.
_REOPEN_WAITS = (0.0, 0.05, 0.2, 0.5, 1.0)


def _open_day_retrying(
    raw: Dataset, log: ChangeLog, key: list[str], day: dt.date, columns: list[str]
) -> tuple[pl.DataFrame | None, list[pq.ParquetFile]]:
    for wait in _REOPEN_WAITS:
        time.sleep(wait)
        try:
            return _open_day(raw, log, key, day, columns)
        except FileNotFoundError:  # compaction swapped the day in: read again
            continue
    return _open_day(raw, log, key, day, columns)


def _open_day(
    raw: Dataset, log: ChangeLog, key: list[str], day: dt.date, columns: list[str]
) -> tuple[pl.DataFrame | None, list[pq.ParquetFile]]:
    """The winning changes of the day, then its day files opened (in that order: see the
    module's docstring)."""
    changes = _read_changes(log, day, [*columns, *key, OP, POS])
    opened: list[pq.ParquetFile] = []
    try:
        for path in raw.partition_files(day):
            opened.append(pq.ParquetFile(path))
    except BaseException:
        for f in opened:
            f.close()
        raise
    return (None if changes is None else latest_per_key(changes, key)), opened


def _read_changes(log: ChangeLog, day: dt.date, wanted: list[str]) -> pl.DataFrame | None:
    files = log.files(day)
    if not files:
        return None
    frames = []
    for path in files:
        names = pq.read_schema(path).names
        frames.append(
            pl.read_parquet(
                path,
                columns=[c for c in dict.fromkeys(wanted) if c in names],
                hive_partitioning=False,
            )
        )
    changes = frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
    missing = [c for c in dict.fromkeys(wanted) if c not in changes.columns]
    if missing:
        raise ColumnMissing(f"{log.name} day {day} has no column(s) {', '.join(missing)}")
    return changes


def _file_slices(
    file: pq.ParquetFile, dataset: str, day: dt.date, columns: list[str], rows: int
) -> Iterator[pl.DataFrame]:
    """A day file's `columns` (with `_op` and `_log_pos` when it has them) in slices of about
    `rows`, whole row groups at a time, read through the file already open."""
    names = file.schema_arrow.names
    wanted = list(dict.fromkeys([*columns, *(c for c in (OP, POS) if c in names)]))
    read = [c for c in wanted if c in names]
    missing = [c for c in wanted if c not in names and c not in CHANGE_COLUMNS]
    if missing:
        raise ColumnMissing(f"{dataset} day {day} has no column(s) {', '.join(missing)}")
    meta = file.metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    groups: list[int] = []
    held = 0
    for i, size in enumerate(sizes):
        if size > 2 * rows:  # a row group much larger than a slice: streamed in batches
            if groups:
                yield _from_arrow(file.read_row_groups(groups, columns=read))
                groups, held = [], 0
            for batch in file.iter_batches(batch_size=rows, row_groups=[i], columns=read):
                yield _from_arrow(batch)
            continue
        groups.append(i)
        held += size
        if held >= rows:
            yield _from_arrow(file.read_row_groups(groups, columns=read))
            groups, held = [], 0
    if groups:
        yield _from_arrow(file.read_row_groups(groups, columns=read))
    if not sizes:
        yield _from_arrow(pa.Table.from_batches([], file.schema_arrow).select(read))


def _from_arrow(data: pa.Table | pa.RecordBatch) -> pl.DataFrame:
    return pl.DataFrame(pl.from_arrow(data))


def _against_changes(
    part: pl.DataFrame, against: pl.DataFrame, key: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The day file's rows that no change outranks, and the keys whose change they outrank or
    repeat (a day file merged from changes still listed: its position is theirs or higher)."""
    casts = {k: part.schema[k] for k in key if against.schema[k] != part.schema[k]}
    if casts:
        against = against.cast(casts)
    joined = part.join(against, on=key, how="left", nulls_equal=True, maintain_order="left")
    if POS in part.columns:
        stands = pl.col(POS).is_not_null() & (pl.col(POS) >= pl.col(_AGAINST))
    else:
        stands = pl.lit(False)
    changed = pl.col(_AGAINST).is_not_null()
    beaten = joined.filter(changed & stands).select(key)
    return joined.filter(~changed | stands).drop(_AGAINST), beaten


def _output(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """`columns` (a change column the frame lacks is null) and `_op` when the frame has it."""
    wanted = list(dict.fromkeys([*columns, *([OP] if OP in frame.columns else [])]))
    return frame.select(
        pl.col(c) if c in frame.columns else pl.lit(None, CHANGE_TYPES[c]).alias(c) for c in wanted
    )
