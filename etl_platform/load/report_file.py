"""A report on disk: `<lake>/reports/<view>/report.parquet`, one file replaced whole.

A report is recomputed from all of its view's current rows each time, so there is nothing to
merge: the new file is staged beside the lake (`StagingFolder`) and its folder swapped in
(`atomic_swap`), under a lock so that two writers take turns. A reader sees the old file or
the new one; a crash leaves the old one.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from etl_platform.load.atomic_swap import recover
from etl_platform.load.lake import Dataset
from etl_platform.load.replaced_file import replace_with_table
from etl_platform.load.staging import dataset_lock

ZONE = "reports"
FILE_NAME = "report.parquet"


def report_dataset(root: Path, view: str) -> Dataset:
    return Dataset(root, (ZONE, view))


def report_path(root: Path, view: str) -> Path:
    return report_dataset(root, view).dir / FILE_NAME


def write_report(root: Path, view: str, report: pl.DataFrame) -> Path:
    """Write `report` and swap it in place of the previous one; its path back."""
    dataset = report_dataset(root, view)
    with dataset_lock(dataset, ".report.lock"):
        # Compressed like the views: people and Athena read it.
        replace_with_table(dataset, FILE_NAME, report.to_arrow(), zone="views")
    return dataset.dir / FILE_NAME


def read_report(root: Path, view: str) -> pl.DataFrame | None:
    """The report as last written, or None before the first."""
    dataset = report_dataset(root, view)
    recover(dataset.dir)
    path = dataset.dir / FILE_NAME
    return pl.read_parquet(path) if path.is_file() else None
