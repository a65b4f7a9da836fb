"""One day of a draft view, shaped by the view's own `build_view_day`, with nothing written to
the lake.

`build_view_day` reads the raw day and the lookup state from the lake and, with
`write_view=False`, keeps the view's rows in memory. Its rejects are only handed back as a
count, so the day's rejects are written, but to a scratch folder outside the lake (the
lake's `rejects()` dataset is pointed there), read back and deleted with it. The lookup state
is read as the view's runs read it; a shard whose state or raw day is not there is left out
and named, as a run would, and nothing is extracted or folded for the preview.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

from etl_platform.errors import PartitionMissing
from etl_platform.load.lake import Dataset, Lake
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.views import ViewSpec
from etl_platform.steps.view_days import ViewInputs, build_view_day

#: Reject rows the page shows.
REJECT_ROWS = 20
RUN_ID = "studio-preview"


@dataclasses.dataclass(frozen=True)
class _ScratchLake(Lake):
    """The lake, read as is; a view's own datasets (days, rejects) in a scratch folder."""

    scratch: Path = Path()

    def view(self, name: str) -> Dataset:
        return Dataset(self.scratch, ("views", name))

    def rejects(self, name: str) -> Dataset:
        return Dataset(self.scratch, ("views", f"{name}__rejects"))


@dataclasses.dataclass(frozen=True)
class _PreviewInputs(ViewInputs):
    """The view's inputs on the shards the analyst picked."""

    only: tuple[str, ...] = ()

    @functools.cached_property
    def shards(self) -> list[str]:
        return [s for s in self.sources.shards_for(self.spec.source) if s in self.only]


def raw_days(lake_root: Path, sources: SourcesSpec, table: str) -> list[str]:
    """The days of `table` that some shard has in the lake, newest first."""
    lake = Lake(lake_root)
    days: set[dt.date] = set()
    for shard in sources.shards_for(table):
        days |= lake.raw(shard, table).days_with_files()
    return [str(d) for d in sorted(days, reverse=True)]


def preview_day(
    spec: ViewSpec,
    sources: SourcesSpec,
    lake_root: Path,
    day: dt.date,
    shards: list[str],
) -> dict[str, Any]:
    """The day's first rows, its rejects with their reasons, its counts and column types."""
    known = sources.shards_for(spec.source)
    unknown = [s for s in shards if s not in known]
    if unknown or not shards:
        return {"error": f"pick shards among {known} (got {shards})"}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="etl_studio_preview_") as scratch:
        inputs = _PreviewInputs(
            spec=spec,
            sources=sources,
            lake=_ScratchLake(lake_root, Path(scratch)),
            run_id=RUN_ID,
            write_view=False,
            write_rejects=True,  # to the scratch folder: read back below
            only=tuple(shards),
        )
        try:
            result = build_view_day(inputs, day)
        except PartitionMissing as e:
            return {"error": str(e)}
        rejects_table = inputs.lake.rejects(spec.name).read_partition(day)
    rejects = (
        pl.DataFrame()
        if rejects_table is None
        else pl.from_arrow(rejects_table).drop("_run_id", strict=False)
    )
    assert isinstance(rejects, pl.DataFrame)
    rows = result.preview if result.preview is not None else pl.DataFrame()
    stats = {
        shard: {
            "in": s.rows_in,
            "out": s.rows_out,
            "rejected": s.rejected,
            "duplicates": s.duplicates,
            "orphans": sum(s.orphans.values()),
        }
        for shard, s in result.stats.items()
    }
    total = {
        k: sum(s[k] for s in stats.values())
        for k in ("in", "out", "rejected", "duplicates", "orphans")
    }
    return {
        "day": str(day),
        "shards": shards,
        "seconds": round(time.monotonic() - started, 2),
        "counts": total,
        "per_shard": stats,
        "missing": result.missing,
        "columns": [{"name": n, "type": str(t)} for n, t in rows.schema.items()],
        "rows": _cells(rows),
        "rejects": _cells(rejects.head(REJECT_ROWS)),
        "reject_columns": rejects.columns,
    }


def _cells(frame: pl.DataFrame) -> list[list[str | None]]:
    """Rows as text for the page: decimals, instants and nested values as Python prints them."""
    return [[None if v is None else str(v) for v in row] for row in frame.rows()]
