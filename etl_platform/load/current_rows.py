"""A view's current rows on disk: the latest version of each `_shard` + unique key across all
of the view's days, in one Parquet file that its report and its second partitioning read.

`<lake>/current/<view>/current.parquet` holds the view's columns plus `_day`, the view day the
version came from, sorted by `_shard` and the key. Its footer has the view days it was built
from with what each day's files were then (its manifest), so an update reads only the days
that changed, and the key it is one row per, so a changed `unique_key` rebuilds it. The folder
is staged and swapped in whole (`atomic_swap`), so a reader sees the old file or the new one;
writers take turns on a lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from etl_platform.load.lake import Dataset, dictionary_columns
from etl_platform.load.replaced_file import DayManifestFile, replace_with_table
from etl_platform.load.staging import dataset_lock
from etl_platform.transform.current_rows import DAY

#: The lake zone of current rows.
ZONE = "current"
FILE_NAME = "current.parquet"
#: The view day (its `updated_at` partition) each current row came from.
DAY_COLUMN = DAY
#: The footer key of the manifest: {view day: fingerprint of its files when read}.
MANIFEST_KEY = b"etl_platform.view_days"
#: The footer key of the columns the table is one row per (`_shard` and the unique key).
GROUP_KEY = b"etl_platform.current_key"
#: Rows per row group: a reader filtering on keys skips the others (the file is sorted by them).
ROW_GROUP_ROWS = 64_000


def current_dir(root: Path, view: str) -> Path:
    return root / ZONE / view


def current_path(root: Path, view: str) -> Path:
    return current_dir(root, view) / FILE_NAME


def read_current(
    root: Path, view: str, columns: Sequence[str] | None = None
) -> pl.DataFrame | None:
    """The view's current rows (only `columns` when given); None before the first build."""
    path = current_path(root, view)
    if not path.is_file():
        return None
    return pl.read_parquet(path, columns=list(columns) if columns is not None else None)


@dataclasses.dataclass(frozen=True)
class CurrentTable(DayManifestFile):
    """One view's current rows, under the lake's `current/` zone."""

    FILE_NAME: ClassVar[str] = FILE_NAME
    MANIFEST_KEY: ClassVar[bytes] = MANIFEST_KEY

    def group(self) -> list[str] | None:
        """The columns the file is one row per; None before the first build."""
        raw = self.footer(GROUP_KEY)
        return None if raw is None else json.loads(raw)

    def read(self, columns: Sequence[str] | None = None) -> pl.DataFrame | None:
        """The current rows (only `columns` when given), or None before the first build."""
        if not self.exists():
            return None
        return pl.read_parquet(
            self.path,
            columns=list(columns) if columns is not None else None,
            hive_partitioning=False,
        )

    def rows(self) -> int:
        return pq.ParquetFile(self.path).metadata.num_rows if self.exists() else 0

    def locked(self) -> contextlib.AbstractContextManager[None]:
        """One writer at a time: an update reads the file, merges and replaces it."""
        return dataset_lock(self.dataset, ".current.lock")

    def replace(self, rows: pa.Table, manifest: dict[dt.date, str], *, group: Sequence[str]) -> int:
        """Write `rows` with `manifest` and `group` in its footer and swap it in; the file's
        size back. Call under `locked()`."""
        meta = dict(rows.schema.metadata or {})
        meta[MANIFEST_KEY] = json.dumps({str(d): fp for d, fp in sorted(manifest.items())})
        meta[GROUP_KEY] = json.dumps(list(group))
        table = rows.replace_schema_metadata(meta)
        return replace_with_table(
            self.dataset,
            FILE_NAME,
            table,
            zone="views",
            row_group_size=ROW_GROUP_ROWS,
            use_dictionary=dictionary_columns(table),
        )


def current_table(root: Path, view: str) -> CurrentTable:
    """The current rows of `view` in the lake at `root` (`current_path(root, view)`)."""
    return CurrentTable(Dataset(root, (ZONE, view)))
