"""The raw zone: one Hive-style folder of Parquet per shard x table x cursor day.

A write stages every day of its window under `_staging/` and then swaps each day's folder in
whole, so re-running a window replaces it (same rows, no duplicates) and a crash mid-write leaves
the previous files readable. A day with no rows still gets a folder with an empty file, so a
day whose rows all moved on is emptied rather than left stale.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from etl_platform.load.atomic_swap import recover, swap_in

PARTITION_COLUMN = "updated_at"
_STALE_STAGING_SECONDS = 24 * 3600


def parquet_write_options() -> dict:
    """Parquet as Athena, DuckDB and polars all read it: zstd, microsecond INT64 timestamps."""
    return {
        "compression": "zstd",
        "coerce_timestamps": "us",
        "use_deprecated_int96_timestamps": False,
        "allow_truncated_timestamps": False,
    }


@dataclasses.dataclass(frozen=True)
class RawZone:
    """A local folder holding `raw/<shard>/<table>/updated_at=YYYY-MM-DD/part-*.parquet`."""

    root: Path

    def table_dir(self, shard: str, table: str) -> Path:
        return self.root / "raw" / shard / table

    def partition_dir(self, shard: str, table: str, day: dt.date) -> Path:
        return self.table_dir(shard, table) / f"{PARTITION_COLUMN}={day.isoformat()}"

    def open_window(
        self,
        shard: str,
        table: str,
        days: Iterable[dt.date],
        schema: pa.Schema,
        *,
        row_group_rows: int = 128_000,
    ) -> WindowWriter:
        return WindowWriter(self, shard, table, list(days), schema, row_group_rows)


@dataclasses.dataclass
class DayStats:
    rows: int = 0
    bytes: int = 0


class WindowWriter:
    """Routes batches to their cursor day; `commit()` swaps every day of the window in."""

    def __init__(
        self,
        zone: RawZone,
        shard: str,
        table: str,
        days: list[dt.date],
        schema: pa.Schema,
        row_group_rows: int,
    ) -> None:
        self.zone, self.shard, self.table = zone, shard, table
        self.days = sorted(days)
        self.schema = schema
        self.row_group_rows = row_group_rows
        self.staging = zone.root / "_staging" / "raw" / shard / table / uuid.uuid4().hex
        self._writers: dict[dt.date, pq.ParquetWriter] = {}
        self._buffers: dict[dt.date, list[pa.RecordBatch]] = {}
        self._buffered_rows = 0
        self.stats: dict[dt.date, DayStats] = {d: DayStats() for d in self.days}
        _remove_stale_staging(self.staging.parent)

    def _staged_dir(self, day: dt.date) -> Path:
        return self.staging / f"{PARTITION_COLUMN}={day.isoformat()}"

    def write(self, batch: pa.RecordBatch, day_of_row: pa.Array) -> None:
        """Add a batch; `day_of_row` gives each row's cursor day (date32)."""
        if batch.num_rows == 0:
            return
        for day in pc.unique(day_of_row).to_pylist():
            if day not in self.stats:
                raise ValueError(
                    f"raw/{self.shard}/{self.table}: a row's cursor day {day} is outside the "
                    f"window {self.days[0]}..{self.days[-1]}"
                )
            part = batch.filter(pc.equal(day_of_row, pa.scalar(day, pa.date32())))
            self._buffers.setdefault(day, []).append(part)
            self._buffered_rows += part.num_rows
            self.stats[day].rows += part.num_rows
        if self._buffered_rows >= self.row_group_rows:
            self._flush()

    def _flush(self) -> None:
        for day, parts in self._buffers.items():
            writer = self._writers.get(day)
            if writer is None:
                target = self._staged_dir(day)
                target.mkdir(parents=True, exist_ok=True)
                writer = pq.ParquetWriter(
                    target / "part-00000.parquet", self.schema, **parquet_write_options()
                )
                self._writers[day] = writer
            writer.write_table(pa.Table.from_batches(parts, schema=self.schema))
        self._buffers.clear()
        self._buffered_rows = 0

    def commit(self) -> dict[dt.date, DayStats]:
        """Finish every day's file and swap each day's folder into place."""
        self._flush()
        for day in self.days:
            writer = self._writers.pop(day, None)
            target = self._staged_dir(day)
            if writer is None:
                target.mkdir(parents=True, exist_ok=True)
                pq.write_table(
                    self.schema.empty_table(),
                    target / "part-00000.parquet",
                    **parquet_write_options(),
                )
            else:
                writer.close()
            self.stats[day].bytes = sum(f.stat().st_size for f in target.iterdir())
        for day in self.days:
            final = self.zone.partition_dir(self.shard, self.table, day)
            recover(final)
            swap_in(self._staged_dir(day), final)
        shutil.rmtree(self.staging, ignore_errors=True)
        return self.stats

    def abort(self) -> None:
        """Drop what was staged; the folders in place are untouched."""
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
        self._buffers.clear()
        shutil.rmtree(self.staging, ignore_errors=True)


def _remove_stale_staging(parent: Path) -> None:
    """Staging left by a crashed run is removed once it is old enough to be surely dead."""
    if not parent.is_dir():
        return
    cutoff = time.time() - _STALE_STAGING_SECONDS
    for child in parent.iterdir():
        if child.is_dir() and child.stat().st_mtime < cutoff:
            shutil.rmtree(child, ignore_errors=True)
