"""A dataset that is one Parquet file, not days: replaced whole by every run that writes it.

For what describes the table as it is now rather than a day of it (the keys of rows whose
cursor is NULL). Written in batches to a file staged as the lake stages a day (`StagingFolder`),
then the folder is swapped in whole: a reader sees the old file or the new one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
import pyarrow.parquet as pq

from etl_platform.load.atomic_swap import recover, swap_in
from etl_platform.load.lake import Dataset, parquet_write_options
from etl_platform.load.staging import StagingFolder

FILE_NAME = "part-00000.parquet"


def dataset_file(dataset: Dataset) -> Path:
    return dataset.dir / FILE_NAME


class ReplacedFileWriter:
    """Stream batches into the dataset's next file; `commit()` puts it in place of the old."""

    def __init__(self, dataset: Dataset, schema: pa.Schema) -> None:
        self.dataset = dataset
        self.schema = schema
        self._staging = StagingFolder(dataset)
        # A folder of its own inside the writer's: the writer's holds its lock file.
        self._folder = self._staging.path / "dataset"
        self._folder.mkdir()
        self.rows = 0
        self._writer = pq.ParquetWriter(
            self._folder / FILE_NAME, schema, **parquet_write_options(dataset.parts[0])
        )

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            self._writer.write_batch(batch)
            self.rows += batch.num_rows

    def commit(self) -> int:
        """Swap the new file in; the rows it holds."""
        self._writer.close()
        final = self.dataset.dir
        recover(final)
        swap_in(self._folder, final)
        self._staging.finish()
        return self.rows

    def abort(self) -> None:
        """Drop the staged file; the one in place is untouched."""
        self._writer.close()
        self._staging.remove()


def replace_with_table(
    dataset: Dataset, file_name: str, table: pa.Table, *, zone: str, **write_options: object
) -> int:
    """Write `table` as the dataset's one file, staged beside the lake, and swap it in whole;
    the file's size back. A reader sees the old file or the new one; a failed write leaves
    the old one. Callers that read, merge and replace hold the dataset's lock around it."""
    staging = StagingFolder(dataset)
    try:
        target = staging.path / "dataset"
        target.mkdir()
        pq.write_table(table, target / file_name, **parquet_write_options(zone), **write_options)
        size = (target / file_name).stat().st_size
        recover(dataset.dir)
        swap_in(target, dataset.dir)
    except BaseException:
        staging.remove()
        raise
    staging.finish()
    return size


@dataclasses.dataclass(frozen=True)
class DayManifestFile:
    """A one-file dataset whose footer records the days it was built from and what each day's
    files were then (`MANIFEST_KEY`), so an update reads only the days that changed."""

    dataset: Dataset
    FILE_NAME: ClassVar[str]
    MANIFEST_KEY: ClassVar[bytes]

    @property
    def name(self) -> str:
        return self.dataset.name

    @property
    def dir(self) -> Path:
        return self.dataset.dir

    @property
    def path(self) -> Path:
        return self.dir / self.FILE_NAME

    def exists(self) -> bool:
        recover(self.dir)
        return self.path.is_file()

    def schema(self) -> pa.Schema | None:
        return pq.read_schema(self.path) if self.exists() else None

    def footer(self, key: bytes) -> bytes | None:
        """A footer entry; None before the first build or when the file has none."""
        schema = self.schema()
        return (schema.metadata or {}).get(key) if schema is not None else None

    def manifest(self) -> dict[dt.date, str]:
        """The days the file was built from, with their fingerprints; empty before the first
        build."""
        raw = json.loads(self.footer(self.MANIFEST_KEY) or b"{}")
        return {dt.date.fromisoformat(d): fp for d, fp in raw.items()}
