"""A CDC table's change files on one shard: `<lake>/changes/<shard>/<table>/updated_at=D/`.

Each file holds committed changes of the day (docs/cdc.md), named by its first and last
`_log_pos` (`c-<first>-<last>.parquet`), written beside its final name and renamed into place,
never changed after; compaction removes the files it passed into the day file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Iterable
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from etl_platform.layout import PARTITION_FOLDER_GLOB, folder_day, partition_folder
from etl_platform.load.atomic_swap import fsync_path, make_folders
from etl_platform.load.lake import parquet_write_options
from etl_platform.transform.changes import POS

PREFIX = "c-"
SUFFIX = ".parquet"
TEMP_SUFFIX = ".tmp"


def file_name(first: str, last: str) -> str:
    return f"{PREFIX}{first}-{last}{SUFFIX}"


def file_positions(path: Path) -> tuple[str, str]:
    """The first and last `_log_pos` a change file's name holds. Both positions have the same
    number of `-`-separated parts, so the name splits in half."""
    parts = path.name.removeprefix(PREFIX).removesuffix(SUFFIX).split("-")
    if not path.name.startswith(PREFIX) or len(parts) % 2:
        raise ValueError(f"{path}: not a change file name ({file_name('<first>', '<last>')})")
    half = len(parts) // 2
    return "-".join(parts[:half]), "-".join(parts[half:])


@dataclasses.dataclass(frozen=True)
class ChangeLog:
    """One shard x table's change files, a folder per day."""

    dir: Path

    @property
    def name(self) -> str:
        return "/".join(self.dir.parts[-3:])

    def day_dir(self, day: dt.date) -> Path:
        return self.dir / partition_folder(day)

    def files(self, day: dt.date) -> list[Path]:
        """The day's change files in position order (a file being written is not one)."""
        folder = self.day_dir(day)
        return sorted(folder.glob(f"{PREFIX}*{SUFFIX}")) if folder.is_dir() else []

    def days(self) -> set[dt.date]:
        """Days that have change files."""
        if not self.dir.is_dir():
            return set()
        found = self.dir.glob(f"{PARTITION_FOLDER_GLOB}/{PREFIX}*{SUFFIX}")
        return {d for d in (folder_day(f.parent.name) for f in found) if d is not None}

    def write(self, day: dt.date, table: pa.Table) -> Path:
        """Put `table`'s changes in place as one file of `day`, atomically: a crash leaves the
        file whole or absent. The same changes written again (a replay) replace their file."""
        if table.num_rows == 0:
            raise ValueError(f"{self.name} {day}: a change file needs at least one change")
        positions = table.column(POS)
        if positions.null_count:
            raise ValueError(f"{self.name} {day}: every change needs a {POS}")
        bounds = pc.min_max(positions)
        folder = self.day_dir(day)
        make_folders(folder)
        final = folder / file_name(bounds["min"].as_py(), bounds["max"].as_py())
        temp = final.with_name(final.name + TEMP_SUFFIX)
        pq.write_table(table, temp, **parquet_write_options("raw"))
        fsync_path(temp)
        os.replace(temp, final)
        fsync_path(folder)
        return final

    def read(
        self, day: dt.date, columns: list[str] | None = None, *, files: list[Path] | None = None
    ) -> pl.DataFrame | None:
        """The day's changes (of `files`, by default all), or None when it has none. A file
        written before an ALTER TABLE added a column reads it as null. A file removed meanwhile
        (compaction) is a `FileNotFoundError`."""
        files = self.files(day) if files is None else files
        if not files:
            return None
        frames = [
            pl.read_parquet(
                f,
                columns=None if columns is None else _present(f, columns),
                hive_partitioning=False,
            )
            for f in files
        ]
        return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")

    def bytes(self, day: dt.date) -> int:
        """The size of the day's change files."""
        total = 0
        for f in self.files(day):
            try:
                total += f.stat().st_size
            except FileNotFoundError:
                continue
        return total

    def remove(self, files: Iterable[Path]) -> None:
        """Delete change files (passed into their day file), each deletion flushed to disk."""
        folders = set()
        for f in files:
            f.unlink(missing_ok=True)
            folders.add(f.parent)
        for folder in folders:
            if folder.is_dir():
                fsync_path(folder)


def _present(path: Path, columns: list[str]) -> list[str]:
    names = set(pq.read_schema(path).names)
    return [c for c in columns if c in names]
