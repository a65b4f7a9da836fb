"""A view's current rows on disk: the latest version of each `_shard` + unique key across all
of the view's days, in one Parquet file that its report and its second partitioning read.

`<lake>/current/<view>/current.parquet` holds the view's columns plus `_day`, the view day the
version came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

#: The lake zone of current rows.
ZONE = "current"
FILE_NAME = "current.parquet"
#: The view day (its `updated_at` partition) each current row came from.
DAY_COLUMN = "_day"


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
