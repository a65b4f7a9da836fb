"""A dataset that is one Parquet file, not days: replaced whole by every run that writes it.

For what describes the table as it is now rather than a day of it (the keys of rows whose
cursor is NULL). Written in batches to a file staged as the lake stages a day (`StagingFolder`),
then the folder is swapped in whole: a reader sees the old file or the new one.
"""

from __future__ import annotations

from pathlib import Path

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
