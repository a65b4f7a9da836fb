"""A view's second partitioning on disk: its current rows laid out by an event day.

`<lake>/views/<view>__by_<column>/<key>=YYYY-MM-DD/part-00000.parquet` holds the current rows
whose `<column>` falls on that day (NULL: `<key>=__HIVE_DEFAULT_PARTITION__`); `<key>` is the
column for a date, `<column>_day` for a timestamp (`transform.by_column.folder_key`). Beside
the days, in folders that no Hive reader or day glob takes for data:

- `_placement/placement.parquet`: where each key was put and which version, as of the last
  completed sync, with the layout's folder key and file schema in its footer;
- `_pending/days.json`: the folders a sync is rewriting, written before the first of them.

A sync rewrites the touched days whole (staged, then swapped in like a lake day), removes the
folders of days left without rows, writes the placement, then drops the pending list. Killed
anywhere, the next sync rewrites every pending folder from the current rows it reads, so it
converges whatever changed in between; rewriting a day is idempotent. One sync at a time: it
holds the dataset's lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from etl_platform.load.atomic_swap import recover, swap_in, swap_out
from etl_platform.load.current_rows import current_path
from etl_platform.load.lake import Dataset, dictionary_columns, parquet_write_options
from etl_platform.load.staging import StagingFolder, dataset_lock
from etl_platform.transform.by_column import (
    EVENT_DAY,
    SHARD,
    Day,
    day_counts,
    day_folder,
    day_passes,
    day_slices,
    days_of,
    event_day,
    folder_key,
    in_days,
    placement_columns,
    placement_of,
    sorted_days,
    stored_columns,
    touched_days,
)

PLACEMENT_DIR = "_placement"
PLACEMENT_FILE = "placement.parquet"
PENDING_DIR = "_pending"
PENDING_FILE = "days.json"
DAY_FILE = "part-00000.parquet"
#: The placement's footer key: the folder key and the day files' schema it was written with.
LAYOUT_KEY = b"etl_platform.by_column"
LOCK_NAME = ".by_column.lock"
#: Current rows held at once while days are rewritten: a first sync of a large view reads
#: the current file once per this many rows rather than holding it whole.
ROWS_PER_PASS = 2_000_000


class CurrentRowsMissing(FileNotFoundError):
    """The view's current rows were never built: there is nothing to lay out."""


def by_column_dataset(root: Path, view: str, column: str) -> Dataset:
    return Dataset(root, ("views", f"{view}__by_{column}"))


@dataclasses.dataclass(frozen=True)
class LayoutReport:
    """What a sync did: the rows laid out, the folder key, the days rewritten (NULL as None),
    the folders removed (by their value) and the day files' schema."""

    rows: int
    days: int
    key: str
    rewritten: list[Day]
    removed: list[str]
    schema: pa.Schema
    rebuilt: bool


@dataclasses.dataclass(frozen=True)
class ByColumnLayout:
    """One view's layout by one column, under the lake's `views/` zone."""

    dataset: Dataset

    @property
    def dir(self) -> Path:
        return self.dataset.dir

    @property
    def placement_path(self) -> Path:
        return self.dir / PLACEMENT_DIR / PLACEMENT_FILE

    def folders(self) -> dict[str, Path]:
        """The day folders on disk (`key=value`, whatever the key), by name."""
        if not self.dir.is_dir():
            return {}
        return {p.name: p for p in self.dir.iterdir() if p.is_dir() and "=" in p.name}

    def read_placement(self) -> tuple[pl.DataFrame | None, str | None]:
        """The last completed sync's placement and layout signature; None, None before it."""
        recover(self.dir / PLACEMENT_DIR)
        if not self.placement_path.is_file():
            return None, None
        table = pq.read_table(self.placement_path)
        signature = (table.schema.metadata or {}).get(LAYOUT_KEY)
        return pl.from_arrow(table), signature.decode() if signature else None

    def read_pending(self) -> set[str]:
        """The folders an interrupted sync was rewriting."""
        recover(self.dir / PENDING_DIR)
        path = self.dir / PENDING_DIR / PENDING_FILE
        return set(json.loads(path.read_text())) if path.is_file() else set()

    def locked(self) -> contextlib.AbstractContextManager[None]:
        return dataset_lock(self.dataset, LOCK_NAME)


class LayoutWriter:
    """One sync's writes, each staged in the writer's folder and swapped in whole."""

    def __init__(self, layout: ByColumnLayout) -> None:
        self.layout = layout
        self._staging = StagingFolder(layout.dataset)
        self.staging = self._staging.path

    def _swap_in(self, staged: Path, name: str) -> None:
        final = self.layout.dir / name
        recover(final)
        swap_in(staged, final)

    def write_pending(self, folders: set[str]) -> None:
        staged = self.staging / PENDING_DIR
        staged.mkdir()
        (staged / PENDING_FILE).write_text(json.dumps(sorted(folders)))
        self._swap_in(staged, PENDING_DIR)

    def clear_pending(self) -> None:
        swap_out(self.layout.dir / PENDING_DIR, self.staging / f"removed-{PENDING_DIR}")

    def replace_folder(self, name: str, rows: pa.Table) -> None:
        """Replace day folder `name` with one file of `rows`."""
        staged = self.staging / name
        staged.mkdir()
        pq.write_table(
            rows,
            staged / DAY_FILE,
            use_dictionary=dictionary_columns(rows),
            **parquet_write_options("views"),
        )
        self._swap_in(staged, name)

    def remove_folder(self, name: str) -> bool:
        return swap_out(self.layout.dir / name, self.staging / f"removed-{name}")

    def replace_placement(self, placement: pl.DataFrame, signature: str) -> None:
        table = placement.to_arrow()
        table = table.replace_schema_metadata({LAYOUT_KEY: signature.encode()})
        staged = self.staging / PLACEMENT_DIR
        staged.mkdir()
        pq.write_table(table, staged / PLACEMENT_FILE, **parquet_write_options("state"))
        self._swap_in(staged, PLACEMENT_DIR)

    def finish(self) -> None:
        self._staging.finish()

    def abort(self) -> None:
        self._staging.remove()


def layout_signature(key: str, schema: pa.Schema) -> str:
    """What the day files were written as: a change (a view column added, a type changed)
    rewrites every day, so no day keeps the old columns."""
    return json.dumps({"key": key, "schema": [[f.name, str(f.type)] for f in schema]})


def _polars_type(schema: pa.Schema, column: str) -> pl.DataType:
    if column not in schema.names:
        raise KeyError(f"partition_by {column!r} is not a column of the view's current rows")
    return pl.from_arrow(pa.schema([schema.field(column)]).empty_table()).schema[column]


def _rows_of_days(
    file: pq.ParquetFile, days: list[Day], column: str, dtype: pl.DataType, key: Sequence[str]
) -> tuple[pa.Table, pl.DataFrame]:
    """The current rows of `days` (in the file's own types) and their day, shard and key. Each
    row group's event column is read first; only a group holding some of the days is read
    whole."""
    keep = in_days(days)
    read = list(dict.fromkeys([column, SHARD, *key]))
    tables, indexes = [], []
    for group in range(file.num_row_groups):
        index = pl.from_arrow(file.read_row_group(group, columns=read))
        index = index.select(event_day(column, dtype).alias(EVENT_DAY), SHARD, *key)
        mask = index.select(keep).to_series()
        if not mask.any():
            continue
        tables.append(file.read_row_group(group).filter(mask.to_arrow()))
        indexes.append(index.filter(mask))
    return pa.concat_tables(tables), pl.concat(indexes)


def _write_days(
    writer: LayoutWriter,
    file: pq.ParquetFile,
    days: list[Day],
    *,
    key: str,
    column: str,
    dtype: pl.DataType,
    unique_key: Sequence[str],
    stored: list[str],
) -> None:
    rows, index = _rows_of_days(file, days, column, dtype, unique_key)
    order, slices = day_slices(index, unique_key)
    rows = rows.select(stored).take(order.to_arrow())
    for part in slices:
        writer.replace_folder(day_folder(key, part.day), rows.slice(part.offset, part.length))


def sync_layout(root: Path, view: str, column: str, unique_key: Sequence[str]) -> LayoutReport:
    """Bring `views/<view>__by_<column>` up to date with the view's current rows, rewriting
    only the event days whose rows changed since the last sync (every day on the first, or
    when the layout's columns changed)."""
    layout = ByColumnLayout(by_column_dataset(root, view, column))
    source = current_path(root, view)
    with layout.locked():
        try:
            handle = source.open("rb")  # one open file: all reads see one version
        except FileNotFoundError:
            raise CurrentRowsMissing(
                f"{source}: the view's current rows were never built"
            ) from None
        with handle:
            file = pq.ParquetFile(handle)
            return _sync(layout, file, column, list(unique_key))


def _sync(
    layout: ByColumnLayout, file: pq.ParquetFile, column: str, unique_key: list[str]
) -> LayoutReport:
    schema = file.schema_arrow
    dtype = _polars_type(schema, column)
    key = folder_key(column, dtype)
    if key != column and key in schema.names:
        raise ValueError(
            f"partition_by {column!r} is a timestamp, whose day folders are named {key!r}, "
            f"and the view has a column {key!r} already: partition by that date column instead"
        )
    stored = stored_columns(schema.names, column, dtype)
    signature = layout_signature(key, pa.schema([schema.field(c) for c in stored]))
    read = list(dict.fromkeys([*placement_columns(unique_key), column]))
    current = pl.from_arrow(file.read(columns=read))
    placement = placement_of(current, unique_key, column)
    previous, previous_signature = layout.read_placement()
    rebuilt = previous is None or previous_signature != signature
    touched = touched_days(None if rebuilt else previous, placement, unique_key)
    wanted = {day_folder(key, d): d for d in days_of(placement)}
    folders = {day_folder(key, d) for d in touched} | layout.read_pending()
    folders |= set(layout.folders()) - set(wanted)  # strays: another key's, or a lost day's
    rewrite = sorted_days(wanted[f] for f in folders if f in wanted)
    remove = sorted(f for f in folders if f not in wanted)
    report = LayoutReport(
        rows=placement.height,
        days=len(wanted),
        key=key,
        rewritten=rewrite,
        removed=[],
        schema=pa.schema([schema.field(c) for c in stored]),
        rebuilt=rebuilt,
    )
    if not folders and not rebuilt:
        return report  # nothing changed: the placement is the same too
    writer = LayoutWriter(layout)
    try:
        if folders:
            writer.write_pending(folders)
        for days in day_passes(rewrite, day_counts(placement), ROWS_PER_PASS):
            _write_days(
                writer,
                file,
                days,
                key=key,
                column=column,
                dtype=dtype,
                unique_key=unique_key,
                stored=stored,
            )
        removed = [f.split("=", 1)[1] for f in remove if writer.remove_folder(f)]
        writer.replace_placement(placement, signature)
        writer.clear_pending()
    except BaseException:
        writer.abort()
        raise
    writer.finish()
    return dataclasses.replace(report, removed=removed)
