"""How many rows of a sample a view would reject, and because of which column: the view
scaffold measures its guesses with the view's own row-by-row transform (`shape_rows`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import polars as pl

from etl_platform.specs.views import ColumnSpec, ViewSpec
from etl_platform.transform.view_shape import SHARD, shape_rows

#: The output name of the probe that finds texts that are no JSON object.
_PROBE = "_sample_probe"


@dataclasses.dataclass(frozen=True)
class Rejected:
    """One cause of rejects: rows it rejects, rows it had a value in, and one reason."""

    rows: int
    present: int
    example: str | None = None

    @property
    def mostly(self) -> bool:
        """Whether most of the values it had were rejected."""
        return self.rows * 2 > self.present


@dataclasses.dataclass(frozen=True)
class SampleRejects:
    rows: int
    #: Rows the whole spec rejects (a row with several problems counts once).
    rejected: int
    #: JSON column -> its texts that are not a JSON object (every path of it rejects those).
    documents: dict[str, Rejected]
    #: Output column -> rows its own value rejects (a bad document aside).
    columns: dict[str, Rejected]

    @property
    def ratio(self) -> float:
        return self.rejected / self.rows if self.rows else 0.0


def measure_rejects(
    spec: ViewSpec, sample: pl.DataFrame, *, primary_key: Sequence[str], cursor: str
) -> SampleRejects:
    """Shape `sample` (raw rows of the spec's source) with the whole spec, then with each
    column alone, to tell which columns reject and how many of their values."""
    raw = sample.with_columns(pl.lit("sample").alias(SHARD))

    def shape(columns: dict[str, ColumnSpec]) -> tuple[pl.DataFrame, pl.DataFrame]:
        alone = spec.model_copy(update={"columns": columns})
        return shape_rows(alone, raw, primary_key=primary_key, cursor=cursor)

    _, all_rejects = shape(dict(spec.columns))
    documents: dict[str, Rejected] = {}
    bad_documents: dict[str, pl.DataFrame] = {}
    for column in sorted({c.json_column for c in spec.columns.values() if c.json_column}):
        probe = ColumnSpec.model_validate({"json": column, "path": "x", "type": "json"})
        _, rejects = shape({_PROBE: probe})
        bad_documents[column] = rejects
        present = int(raw[column].is_not_null().sum())
        documents[column] = Rejected(rejects.height, present, _example(rejects))
    columns: dict[str, Rejected] = {}
    for name, col in spec.columns.items():
        if not (col.from_ or col.json_column):
            continue
        kept, rejects = shape({name: col})
        if col.json_column:
            rejects = rejects.join(bad_documents[col.json_column], on="key", how="anti")
        present = int(kept[name].is_not_null().sum()) + rejects.height
        columns[name] = Rejected(rejects.height, present, _example(rejects))
    return SampleRejects(raw.height, all_rejects.height, documents, columns)


def _example(rejects: pl.DataFrame) -> str | None:
    return rejects["reason"][0] if rejects.height else None
