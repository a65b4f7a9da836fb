"""A report on disk: `<lake>/reports/<view>/report.parquet`, one file replaced whole.

A report is recomputed from all of its view's current rows each time, so there is nothing to
merge: the new file is staged beside the lake (`StagingFolder`) and its folder swapped in
(`atomic_swap`), under a lock so that two writers take turns. A reader sees the old file or
the new one; a crash leaves the old one.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from etl_platform.load.atomic_swap import recover, swap_in
from etl_platform.load.lake import Dataset, parquet_write_options
from etl_platform.load.staging import StagingFolder, dataset_lock

ZONE = "reports"
FILE_NAME = "report.parquet"


def report_dataset(root: Path, view: str) -> Dataset:
    return Dataset(root, (ZONE, view))


def report_path(root: Path, view: str) -> Path:
    return report_dataset(root, view).dir / FILE_NAME


def write_report(root: Path, view: str, report: pl.DataFrame) -> Path:
    """Write `report` and swap it in place of the previous one; its path back."""
    dataset = report_dataset(root, view)
    staging = StagingFolder(dataset)
    try:
        folder = staging.path / "report"
        folder.mkdir()
        # Compressed like the views: people and Athena read it.
        pq.write_table(report.to_arrow(), folder / FILE_NAME, **parquet_write_options("views"))
        with dataset_lock(dataset, ".report.lock"):
            recover(dataset.dir)
            swap_in(folder, dataset.dir)
    except BaseException:
        staging.remove()
        raise
    staging.finish()
    return dataset.dir / FILE_NAME


def read_report(root: Path, view: str) -> pl.DataFrame | None:
    """The report as last written, or None before the first."""
    dataset = report_dataset(root, view)
    recover(dataset.dir)
    path = dataset.dir / FILE_NAME
    return pl.read_parquet(path) if path.is_file() else None
