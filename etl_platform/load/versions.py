"""A lookup table's versions on disk: one Parquet file per shard x table, replaced whole.

`state/<shard>/<table>/versions.parquet` holds every version (`transform.versions`) and, in its
footer, which raw days it was built from and what each day's files were then (its manifest),
so an update reads only the raw days that changed. The folder is staged and swapped in whole
(`atomic_swap`), so a reader sees the old file or the new one; writers take turns on a lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import ClassVar

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from etl_platform.load.replaced_file import DayManifestFile, replace_with_table
from etl_platform.load.staging import dataset_lock
from etl_platform.transform.versions import seen_by

FILE_NAME = "versions.parquet"
#: The footer key of the manifest: {raw day: fingerprint of its files when read}.
MANIFEST_KEY = b"etl_platform.raw_days"
#: The footer key of a snapshot table's state: when the snapshot it last applied was taken.
SNAPSHOT_KEY = b"etl_platform.snapshot_at"
#: Versions per row group: a reader filtering on keys or days skips the others.
ROW_GROUP_ROWS = 64_000


def day_fingerprint(files: list[Path]) -> str:
    """What a raw day's files were: names, sizes and modification times. A re-extracted day is
    swapped in as new files, so its fingerprint changes."""
    parts = []
    for f in files:
        stat = f.stat()
        parts.append(f"{f.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return "|".join(parts)


@dataclasses.dataclass(frozen=True)
class VersionsTable(DayManifestFile):
    """One shard x table's versions, under the lake's `state/` zone."""

    FILE_NAME: ClassVar[str] = FILE_NAME
    MANIFEST_KEY: ClassVar[bytes] = MANIFEST_KEY

    def applied_snapshot(self) -> dt.datetime | None:
        """For a snapshot table: when the snapshot it was last brought up to date with was
        taken; None before the first (or for a table read by day)."""
        stamp = self.footer(SNAPSHOT_KEY)
        return None if stamp is None else dt.datetime.fromisoformat(stamp.decode())

    def read(
        self, columns: list[str] | None = None, *, through: dt.date | None = None
    ) -> pl.DataFrame | None:
        """The versions (of days up to `through`), or None before the first build."""
        if not self.exists():
            return None
        frame = pl.scan_parquet(self.path, hive_partitioning=False)
        if through is not None:
            frame = frame.filter(seen_by(through, frame.collect_schema().names()))
        if columns is not None:
            frame = frame.select(columns)
        return frame.collect()

    def rows(self) -> int:
        return pq.ParquetFile(self.path).metadata.num_rows if self.exists() else 0

    def locked(self) -> contextlib.AbstractContextManager[None]:
        """One writer at a time: an update reads the file, merges and replaces it."""
        return dataset_lock(self.dataset, ".versions.lock")

    def replace(
        self,
        versions: pa.Table,
        manifest: dict[dt.date, str],
        *,
        snapshot_at: dt.datetime | None = None,
    ) -> int:
        """Write `versions` with `manifest` (and the applied snapshot's time) in its footer and
        swap it in; the file's size back. Call under `locked()`."""
        meta = dict(versions.schema.metadata or {})
        meta[MANIFEST_KEY] = json.dumps({str(d): fp for d, fp in sorted(manifest.items())})
        meta.pop(SNAPSHOT_KEY, None)
        if snapshot_at is not None:
            meta[SNAPSHOT_KEY] = snapshot_at.astimezone(dt.UTC).isoformat()
        table = versions.replace_schema_metadata(meta)
        return replace_with_table(
            self.dataset, FILE_NAME, table, zone="state", row_group_size=ROW_GROUP_ROWS
        )
