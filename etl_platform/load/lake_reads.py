"""Reading the lake's day partitions back: whole (small frames) or in slices (a view's raw rows).

No Hive inference anywhere: the raw files carry the cursor under the folder key's name.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from etl_platform.errors import ColumnMissing
from etl_platform.layout import PARTITION_FOLDER_GLOB, folder_day
from etl_platform.load.lake import Dataset


def read_frame(dataset: Dataset, day: dt.date, columns: list[str]) -> pl.DataFrame | None:
    """The day's rows as polars reads them (faster than pyarrow + `from_arrow`, one copy of
    the text), or None when the day was never written. A day written with no rows is an empty
    frame (`empty_frame`)."""
    files = dataset.partition_files(day)
    if not files:
        return empty_frame(dataset, day, columns) if dataset.is_written(day) else None
    for f in files:
        _require_columns(dataset.name, day, pq.read_schema(f).names, columns)
    frames = [pl.read_parquet(f, columns=columns, hive_partitioning=False) for f in files]
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")


def read_slices(files: Sequence[Path], columns: list[str], rows: int) -> Iterator[pl.DataFrame]:
    """A day's rows (its `files`) in slices of about `rows`, so a reader holds a slice, not
    the day.

    Row groups are read whole by polars (only those a slice covers), several to a slice; one
    much larger than a slice is streamed in batches instead. Files that hold no rows give one
    empty frame (their schema); no files give nothing.
    """
    for path in files:
        file = pq.ParquetFile(path)
        _require_columns(*_partition_of(path), file.schema_arrow.names, columns)
        meta = file.metadata
        sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] or [0]
        frame = pl.scan_parquet(path, hive_partitioning=False).select(columns)
        start = taken = 0
        for i, size in enumerate(sizes):
            if size > 2 * rows:
                if taken:
                    yield frame.slice(start, taken).collect()
                    start, taken = start + taken, 0
                for batch in file.iter_batches(batch_size=rows, row_groups=[i], columns=columns):
                    yield pl.DataFrame(pl.from_arrow(batch))
                start += size
                continue
            taken += size
            if taken >= rows or i == len(sizes) - 1:
                yield frame.slice(start, taken).collect()
                start, taken = start + taken, 0


def read_day_slices(
    dataset: Dataset, day: dt.date, files: Sequence[Path], columns: list[str], rows: int
) -> Iterator[pl.DataFrame]:
    """`read_slices` of the day's `files`; a day written with no rows gives one empty frame,
    so an empty shard still brings its columns (in the order shards are merged). Nothing when
    no file of the table has a schema to give."""
    if files:
        yield from read_slices(files, columns, rows)
        return
    schema = file_schema(dataset, day)
    if schema is not None:
        _require_columns(dataset.name, day, schema.names, columns)
        yield _empty(schema, columns)


def empty_frame(dataset: Dataset, day: dt.date, columns: list[str]) -> pl.DataFrame:
    """No rows, in the columns' types as the table's files have them (`file_schema`); with no
    file anywhere to tell, every column is of type Null."""
    schema = file_schema(dataset, day)
    if schema is None:
        return pl.DataFrame(schema=dict.fromkeys(columns, pl.Null))
    _require_columns(dataset.name, day, schema.names, columns)
    return _empty(schema, columns)


def _empty(schema: pa.Schema, columns: list[str]) -> pl.DataFrame:
    table = pa.Table.from_batches([], schema).select(columns)  # empty_table() imports pandas
    return pl.DataFrame(pl.from_arrow(table))


def file_schema(dataset: Dataset, day: dt.date) -> pa.Schema | None:
    """The schema a file of `day` would have: of the dataset's file nearest to the day, else of
    the same table's on another shard (same zone); None when no file of the table exists.
    A window of thousands of empty days asks this once a day: the listings are cached until
    their folder changes."""
    days = _days_with_files(dataset.dir, _mtime(dataset.dir))
    if days:
        i = bisect.bisect_left(days, day)
        nearest = min(days[max(0, i - 1) : i + 1], key=lambda d: (abs((d - day).days), d))
        return _schema_of(*_stamped(dataset.partition_files(nearest)[0]))
    zone = dataset.dir.parent.parent
    shards = tuple(sorted(zone.glob(f"*/{dataset.dir.name}")))
    sibling = _latest_sibling_file(shards, tuple(_mtime(d) for d in shards))
    return _schema_of(*_stamped(sibling)) if sibling is not None else None


def _mtime(folder: Path) -> int:
    try:
        return folder.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


@functools.lru_cache(maxsize=64)
def _days_with_files(folder: Path, mtime: int) -> list[dt.date]:
    """The sorted days of `folder`'s dataset that hold files, as of the folder's `mtime` (a
    day swapped in or out renames a folder in it, which changes it)."""
    return sorted(Dataset(folder, ()).days_with_files())


@functools.lru_cache(maxsize=64)
def _latest_sibling_file(shards: tuple[Path, ...], mtimes: tuple[int, ...]) -> Path | None:
    files = [f for d in shards for f in d.glob(f"{PARTITION_FOLDER_GLOB}/*.parquet")]
    return max(files, key=lambda f: (f.parent.name, str(f))) if files else None


def _stamped(path: Path) -> tuple[Path, int]:
    return path, _mtime(path)


@functools.lru_cache(maxsize=256)
def _schema_of(path: Path, mtime: int) -> pa.Schema:
    """The file's schema, read once per version of the file."""
    return pq.read_schema(path)


def _require_columns(
    dataset: str, day: dt.date | None, names: Sequence[str], columns: Sequence[str]
) -> None:
    """A column the reader needs that the day's file lacks is named, not left to polars'
    `ColumnNotFoundError` on a file path; in the raw zone it was most likely dropped at the
    source, which the extract's `schema_drift` metadata shows."""
    missing = [c for c in columns if c not in names]
    if not missing:
        return
    hint = (
        f" (dropped at the source? see the schema_drift metadata of {dataset})"
        if dataset.startswith("raw/")
        else ""
    )
    noun = "column" if len(missing) == 1 else "columns"
    raise ColumnMissing(f"{dataset} day {day} has no {noun} {', '.join(missing)}{hint}")


def _partition_of(path: Path) -> tuple[str, dt.date | None]:
    """The dataset and day of a partition file, from the lake's layout
    (`<zone>/<shard>/<table>/updated_at=D/<file>`)."""
    return "/".join(path.parent.parent.parts[-3:]), folder_day(path.parent.name)


def partition_days(dataset: Dataset) -> list[dt.date]:
    """The days a dataset has written, with rows or without (`Dataset.written_days`), in order."""
    return sorted(dataset.written_days())
