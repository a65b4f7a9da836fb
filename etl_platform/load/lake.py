"""The lake: Hive-style folders of Parquet, one per dataset and UTC day.

Datasets: `raw/<shard>/<table>` (extracted rows by cursor day), `state/<shard>/<table>` (every
version of a looked-up table, one file: `load.versions`), `views/<name>` and
`views/<name>__rejects`; a snapshot table's raw dataset is one file (`SnapshotFile`); a CDC
table's change files sit apart, in `changes/<shard>/<table>` (`load.change_files`). A write
stages every day of its window in `<lake>.staging/` and then swaps each day's folder in whole,
so re-running a window replaces it (same rows, no duplicates) and a crash mid-write leaves the
previous files readable. A day with no rows leaves no folder: its old folder is removed and
the day is listed in the dataset's `_empty_days.json` (`empty_days`), so a day whose rows all
moved on is emptied, not left stale, and readers still tell "written, no rows" from "never
written" (`Dataset.written_days`).

Staging sits beside the lake, not in it, each writer's folder locked while it lives, so a
write removes what dead writers staged and never a live one's (`staging`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from etl_platform.layout import PARTITION_FOLDER_GLOB, folder_day, partition_folder
from etl_platform.load.atomic_swap import recover, swap_in, swap_out
from etl_platform.load.empty_days import read_empty_days, record_days
from etl_platform.load.staging import StagingFolder, staging_root
from etl_platform.runtime.parallel import default_threads, ordered_map

if TYPE_CHECKING:
    from etl_platform.load.change_files import ChangeLog
    from etl_platform.load.versions import VersionsTable

#: Codec per zone. Raw and state files are written and read back once per run by the platform
#: itself: lz4, cheap in CPU for somewhat larger files. Views are what people and Athena read:
#: zstd at level 1, most of its ratio for less CPU than its default level.
CODECS = {"raw": ("lz4", None), "state": ("lz4", None), "views": ("zstd", 1)}


def parquet_write_options(zone: str = "views") -> dict:
    """Parquet as Athena, DuckDB and polars all read it: microsecond INT64 timestamps."""
    codec, level = CODECS[zone]
    return {
        "compression": codec,
        "compression_level": level,
        "coerce_timestamps": "us",
        "use_deprecated_int96_timestamps": False,
        "allow_truncated_timestamps": False,
    }


#: Rows that decide which columns are dictionary-encoded: of a file's first row group, or for a
#: window's days of the largest day in its first flush (`WindowWriter`).
DICTIONARY_SAMPLE_ROWS = 2_048


def dictionary_columns(table: pa.Table) -> list[str]:
    """Columns worth a dictionary: at most one distinct value in ten in a sample.

    pyarrow's default encodes every column with a dictionary and falls back after a megabyte
    of distinct values, so unique ids, e-mails and JSON would be hashed for nothing, making
    writes slower and files larger.
    """
    sample = table.slice(0, DICTIONARY_SAMPLE_ROWS)
    chosen = []
    for field, column in zip(sample.schema, sample.columns, strict=True):
        if pa.types.is_dictionary(field.type):
            chosen.append(field.name)  # already a dictionary (a polars Categorical)
            continue
        if pa.types.is_nested(field.type) or pa.types.is_null(field.type) or not sample.num_rows:
            continue
        try:
            distinct = pc.count_distinct(column, mode="all").as_py()
        except pa.ArrowNotImplementedError:  # no kernel for the type (string views): default
            chosen.append(field.name)
            continue
        if distinct * 10 <= sample.num_rows:
            chosen.append(field.name)
    return chosen


def files_rows(files: Iterable[Path]) -> int:
    """Rows in Parquet files, from their footers."""
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


@dataclasses.dataclass(frozen=True)
class Lake:
    """A local folder holding every dataset of the platform."""

    root: Path

    def raw(self, shard: str, table: str) -> Dataset:
        return Dataset(self.root, ("raw", shard, table))

    def versions(self, shard: str, table: str) -> VersionsTable:
        """A looked-up table's versions on one shard (lookup state)."""
        from etl_platform.load.versions import VersionsTable  # it builds on Dataset

        return VersionsTable(Dataset(self.root, ("state", shard, table)))

    def changes(self, shard: str, table: str) -> ChangeLog:
        """A CDC table's change files on one shard (`load.change_files`)."""
        from etl_platform.load.change_files import ChangeLog  # it builds on this module

        return ChangeLog(self.root / "changes" / shard / table)

    def snapshot(self, shard: str, table: str) -> SnapshotFile:
        """A snapshot table's raw dataset: the whole table as last read (`mode: snapshot`)."""
        return SnapshotFile(Dataset(self.root, ("raw", shard, table)))

    def view(self, name: str) -> Dataset:
        return Dataset(self.root, ("views", name))

    def rejects(self, name: str) -> Dataset:
        return Dataset(self.root, ("views", f"{name}__rejects"))


@dataclasses.dataclass(frozen=True)
class Dataset:
    """One dataset's folder, partitioned by day as `updated_at=YYYY-MM-DD/`."""

    root: Path
    parts: tuple[str, ...]

    @property
    def name(self) -> str:
        return "/".join(self.parts)

    @property
    def dir(self) -> Path:
        return self.root.joinpath(*self.parts)

    @property
    def staging_dir(self) -> Path:
        """Where this dataset's writers stage their days, one folder each."""
        return staging_root(self.root).joinpath(*self.parts)

    def partition_dir(self, day: dt.date) -> Path:
        return self.dir / partition_folder(day)

    def partition_files(self, day: dt.date) -> list[Path]:
        folder = self.partition_dir(day)
        return sorted(folder.glob("*.parquet")) if folder.is_dir() else []

    def days_with_files(self) -> set[dt.date]:
        """Days whose folder holds data files."""
        if not self.dir.is_dir():
            return set()
        days = (
            folder_day(f.parent.name) for f in self.dir.glob(f"{PARTITION_FOLDER_GLOB}/*.parquet")
        )
        return {d for d in days if d is not None}

    def written_days(self) -> set[dt.date]:
        """Days written, with rows (files) or without (listed in `_empty_days.json`)."""
        return self.days_with_files() | read_empty_days(self.dir)

    def is_written(self, day: dt.date) -> bool:
        """Whether `day` was written, if only with no rows; False means never written."""
        return bool(self.partition_files(day)) or day in read_empty_days(self.dir)

    def partition_rows(self, day: dt.date) -> int:
        """The day's row count from the files' footers, without reading their data."""
        return files_rows(self.partition_files(day))

    def read_partition(self, day: dt.date, columns: list[str] | None = None) -> pa.Table | None:
        """The day's rows, or None when it has no files: never written, or written with no
        rows (`is_written` tells which)."""
        files = self.partition_files(day)
        if not files:
            return None
        return pa.concat_tables(
            [pq.read_table(f, columns=columns) for f in files], promote_options="permissive"
        )

    def open_window(
        self, days: Iterable[dt.date], schema: pa.Schema, *, row_group_rows: int = 128_000
    ) -> WindowWriter:
        return WindowWriter(self, list(days), schema, row_group_rows)

    def open_day(self, day: dt.date) -> DayWriter:
        return DayWriter(self, day)

    def write_partitions(
        self, tables: dict[dt.date, pa.Table], schema: pa.Schema
    ) -> dict[dt.date, DayStats]:
        """Replace each given day with its table (one file per day), atomically per day."""
        writer = self.open_window(tables, schema)
        try:
            for day, table in tables.items():
                for batch in table.cast(schema).to_batches():
                    writer.write(batch, pa.repeat(pa.scalar(day, pa.date32()), batch.num_rows))
            return writer.commit()
        except BaseException:
            writer.abort()
            raise


@dataclasses.dataclass
class DayStats:
    rows: int = 0
    bytes: int = 0


#: What a window writer holds before writing row groups (all days together).
BUFFER_BYTES = 64 * 2**20
#: Threads that encode one flush's days (at most `parallel.default_threads()`).
FLUSH_THREADS = 2


def _write_row_group(job: tuple[pq.ParquetWriter, pa.Table]) -> None:
    writer, table = job
    writer.write_table(table)


def _split_by_day(
    batch: pa.RecordBatch, day_of_row: pa.Array
) -> Iterator[tuple[dt.date, pa.RecordBatch]]:
    """The batch's rows of each day, in their order. One sort and one gather, then slices: a
    batch read in key order spans every day of the window, and a filter per day would scan it
    once per day. A batch of one day (a view's day) is not copied."""
    runs = pc.run_end_encode(day_of_row)
    if len(runs.values) == 1:
        yield runs.values[0].as_py(), batch
        return
    order = pc.sort_indices(day_of_row)  # stable: rows keep their order within a day
    ordered = batch.take(order)
    runs = pc.run_end_encode(day_of_row.take(order))
    start = 0
    for day, end in zip(runs.values.to_pylist(), runs.run_ends.to_pylist(), strict=True):
        yield day, ordered.slice(start, end - start)
        start = end


def commit_days(
    dataset: Dataset, staged: dict[dt.date, Path], empty: list[dt.date], *, aside: Path
) -> None:
    """Put days in place in the one order a crash cannot turn into stale rows: the `staged`
    folders swapped in, then the folders of the `empty` days moved into `aside` (the writer's
    staging folder) and deleted, then the dataset's list of empty days updated. Interrupted,
    a day can only look unwritten, and is demanded again."""
    for day, folder in staged.items():
        final = dataset.partition_dir(day)
        recover(final)
        swap_in(folder, final)
    for day in empty:
        swap_out(dataset.partition_dir(day), aside / f"removed-{partition_folder(day)}")
    record_days(dataset, empty=empty, filled=staged)


class WindowWriter:
    """Routes batches to their cursor day; `commit()` swaps every day of the window in."""

    def __init__(
        self, dataset: Dataset, days: list[dt.date], schema: pa.Schema, row_group_rows: int
    ) -> None:
        self.dataset = dataset
        self.days = sorted(days)
        self.schema = schema
        self.row_group_rows = row_group_rows
        self._staging = StagingFolder(dataset)
        self.staging = self._staging.path
        self._writers: dict[dt.date, pq.ParquetWriter] = {}
        self._buffers: dict[dt.date, list[pa.RecordBatch]] = {}
        self._buffered_rows = 0
        self._buffered_bytes = 0
        self._dictionary: list[str] | None = None
        self.stats: dict[dt.date, DayStats] = {d: DayStats() for d in self.days}

    def _staged_dir(self, day: dt.date) -> Path:
        return self.staging / partition_folder(day)

    def write(self, batch: pa.RecordBatch, day_of_row: pa.Array) -> None:
        """Add a batch; `day_of_row` gives each row's cursor day (date32)."""
        if batch.num_rows == 0:
            return
        for day, part in _split_by_day(batch, day_of_row):
            if day not in self.stats:
                raise ValueError(
                    f"{self.dataset.name}: a row's day {day} is outside the "
                    f"window {self.days[0]}..{self.days[-1]}"
                )
            self._buffers.setdefault(day, []).append(part)
            self._buffered_rows += part.num_rows
            self._buffered_bytes += part.nbytes
            self.stats[day].rows += part.num_rows
        # Bounded by bytes as well as rows: wide rows (1 KB of JSON) must not hold 128k rows.
        if self._buffered_rows >= self.row_group_rows or self._buffered_bytes >= BUFFER_BYTES:
            self._flush()

    def _flush(self) -> None:
        tables = {
            day: pa.Table.from_batches(parts, schema=self.schema)
            for day, parts in self._buffers.items()
        }
        if self._dictionary is None and tables:
            # Chosen once a window, from its largest day of the first flush, so distinct values
            # are counted once rather than for every day of a long window.
            self._dictionary = dictionary_columns(max(tables.values(), key=len))
        jobs = [(self._writer_for(day), table) for day, table in tables.items()]
        # Days are separate files: their row groups are encoded on two threads (pyarrow
        # releases the GIL) instead of one after another on this one.
        workers = min(FLUSH_THREADS, default_threads(), len(jobs))
        for _ in ordered_map(_write_row_group, jobs, workers=workers):
            pass
        self._buffers.clear()
        self._buffered_rows = 0
        self._buffered_bytes = 0

    def _writer_for(self, day: dt.date) -> pq.ParquetWriter:
        writer = self._writers.get(day)
        if writer is None:
            target = self._staged_dir(day)
            target.mkdir(parents=True, exist_ok=True)
            writer = pq.ParquetWriter(
                target / "part-00000.parquet",
                self.schema,
                use_dictionary=self._dictionary,
                **parquet_write_options(self.dataset.parts[0]),
            )
            self._writers[day] = writer
        return writer

    def commit(self) -> dict[dt.date, DayStats]:
        """Finish every day's file and put the window in place: days with rows swapped in,
        days without removed and listed (`commit_days`)."""
        self._flush()
        staged = {}
        for day in self.days:
            writer = self._writers.pop(day, None)
            if writer is None:
                continue
            writer.close()
            staged[day] = self._staged_dir(day)
            self.stats[day].bytes = sum(f.stat().st_size for f in staged[day].iterdir())
        empty = [day for day in self.days if day not in staged]
        commit_days(self.dataset, staged, empty, aside=self.staging)
        self._staging.finish()
        return self.stats

    def abort(self) -> None:
        """Drop what was staged; the folders in place are untouched."""
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
        self._buffers.clear()
        self._staging.remove()


class DayWriter:
    """One day's file written in parts as they come (a view day, shard by shard), so the day
    is never held whole; swapped in whole on `commit()`, like a window.

    The file's schema is the first part's. A part that does not fit it is the caller's to
    merge: `read_back()` what was written, then `restart()` with the merged rows.
    """

    def __init__(self, dataset: Dataset, day: dt.date) -> None:
        self.dataset = dataset
        self.day = day
        self._staging = StagingFolder(dataset)
        self.staging = self._staging.path
        self.schema: pa.Schema | None = None
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None

    @property
    def _file(self) -> Path:
        return self.staging / partition_folder(self.day) / "part-00000.parquet"

    def write(self, table: pa.Table) -> None:
        """Append `table` (cast to the file's schema once the first part has set it)."""
        if self._writer is None:
            if self.schema is not None:
                raise RuntimeError(f"{self.dataset.name} {self.day}: written after read_back()")
            self._file.parent.mkdir(parents=True, exist_ok=True)
            self.schema = table.schema
            self._writer = pq.ParquetWriter(
                self._file,
                self.schema,
                use_dictionary=dictionary_columns(table),
                **parquet_write_options(self.dataset.parts[0]),
            )
        self._writer.write_table(table.cast(self.schema))
        self.rows += table.num_rows

    def read_back(self) -> pa.Table:
        """The rows written so far (the file is closed: `restart()` comes next)."""
        self._close()
        if self.schema is None:
            raise RuntimeError(f"{self.dataset.name} {self.day}: nothing written to read back")
        return pq.read_table(self._file)

    def restart(self, table: pa.Table) -> None:
        """Replace what was written with `table`, whose schema becomes the file's."""
        self._close()
        self._file.unlink(missing_ok=True)
        self.schema, self.rows = None, 0
        self.write(table)

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def commit(self) -> DayStats:
        """Finish the file and swap the day's folder into place; a day of no rows (or nothing
        written) leaves no file and is listed as empty (`commit_days`)."""
        self._close()
        folder = self._file.parent
        if self.rows:
            stats = DayStats(self.rows, sum(f.stat().st_size for f in folder.iterdir()))
            commit_days(self.dataset, {self.day: folder}, [], aside=self.staging)
        else:
            stats = DayStats()
            commit_days(self.dataset, {}, [self.day], aside=self.staging)
        self._staging.finish()
        return stats

    def abort(self) -> None:
        """Drop what was staged; the folder in place is untouched."""
        self._close()
        self._staging.remove()


#: A snapshot table's one raw file, and the footer key of when it was read (ISO, UTC).
SNAPSHOT_FILE = "snapshot.parquet"
SNAPSHOT_AT_KEY = b"etl_platform.snapshot_at"


@dataclasses.dataclass(frozen=True)
class SnapshotFile:
    """`raw/<shard>/<table>/snapshot.parquet`: a table read whole, replaced whole by each read.
    Its footer says when it was read, which dates the changes the lookup state finds in it."""

    dataset: Dataset

    @property
    def name(self) -> str:
        return self.dataset.name

    @property
    def path(self) -> Path:
        return self.dataset.dir / SNAPSHOT_FILE

    def exists(self) -> bool:
        recover(self.dataset.dir)
        return self.path.is_file()

    def schema(self) -> pa.Schema | None:
        return pq.read_schema(self.path) if self.exists() else None

    def taken_at(self) -> dt.datetime | None:
        """When the snapshot in place was read, or None before the first."""
        schema = self.schema()
        stamp = (schema.metadata or {}).get(SNAPSHOT_AT_KEY) if schema is not None else None
        return None if stamp is None else dt.datetime.fromisoformat(stamp.decode())

    def read(self, columns: list[str]) -> tuple[pa.Table, dt.datetime]:
        """The snapshot's `columns` and when it was read, from one open file (a snapshot
        swapped in meanwhile is the next reader's). A column it lacks is a `KeyError`."""
        file = pq.ParquetFile(self.path)
        missing = [c for c in columns if c not in file.schema_arrow.names]
        if missing:
            raise KeyError(", ".join(missing))
        stamp = (file.schema_arrow.metadata or {})[SNAPSHOT_AT_KEY]
        return file.read(columns=columns), dt.datetime.fromisoformat(stamp.decode())

    def open(self, schema: pa.Schema, taken_at: dt.datetime) -> SnapshotWriter:
        return SnapshotWriter(self, schema, taken_at)


class SnapshotWriter:
    """Streams a snapshot's batches into a staged file; `commit()` swaps the dataset's folder
    in whole, so a reader sees the previous snapshot or the new one."""

    def __init__(self, target: SnapshotFile, schema: pa.Schema, taken_at: dt.datetime) -> None:
        if taken_at.utcoffset() is None:
            raise ValueError(f"{target.name}: a snapshot's time must be timezone-aware (UTC)")
        stamp = taken_at.astimezone(dt.UTC).isoformat().encode()
        self.target = target
        self.schema = schema.with_metadata({**(schema.metadata or {}), SNAPSHOT_AT_KEY: stamp})
        self._staging = StagingFolder(target.dataset)
        self._folder = self._staging.path / "dataset"  # the writer's own folder holds its lock
        self._folder.mkdir()
        self.stats = DayStats()
        self._writer = pq.ParquetWriter(
            self._folder / SNAPSHOT_FILE, self.schema, **parquet_write_options("raw")
        )

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            self._writer.write_batch(batch)
            self.stats.rows += batch.num_rows

    def commit(self) -> DayStats:
        self._writer.close()
        self.stats.bytes = (self._folder / SNAPSHOT_FILE).stat().st_size
        final = self.target.dataset.dir
        recover(final)
        swap_in(self._folder, final)
        self._staging.finish()
        return self.stats

    def abort(self) -> None:
        """Drop the staged file; the snapshot in place is untouched."""
        self._writer.close()
        self._staging.remove()
