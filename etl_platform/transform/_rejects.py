"""The one shape of reject records, shared by the JSON transforms."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import polars as pl

from etl_platform.transform.texts import with_copied_texts

REJECTS_SCHEMA: Final = pl.Schema(
    {
        "_shard": pl.String(),
        "key": pl.String(),
        "column": pl.String(),
        "raw_value": pl.String(),
        "reason": pl.String(),
    }
)
"""Columns of every rejects frame, even an empty one, so rejects of all views concatenate."""


def key_json(key_columns: Sequence[str]) -> pl.Expr:
    """The row's key as compact JSON object text, e.g. `{"id":5}` (vectorised)."""
    if not key_columns:
        return pl.repeat(pl.lit("{}"), pl.len())
    return pl.struct(list(key_columns)).struct.json_encode()


def build_rejects(
    rows: pl.DataFrame, details: pl.DataFrame, *, key_columns: Sequence[str]
) -> pl.DataFrame:
    """Reject records: `_shard` and `key` from `rows`, column/raw_value/reason from `details`.

    `rows` are the rejected input rows and `details` has one row per rejected row with
    columns `column`, `raw_value` and `reason`; kept apart so no input column name clashes.
    The texts are copied: a raw value selected from a slice's JSON column points into that
    column's buffers, and a day's rejects are kept until the day is written, so a few rejects
    would keep every slice's JSON text alive.
    """
    shard = pl.col("_shard") if "_shard" in rows.columns else pl.repeat(None, pl.len())
    head = rows.select(shard.cast(pl.String).alias("_shard"), key_json(key_columns).alias("key"))
    tail = details.select(
        pl.col(name).cast(pl.String) for name in ("column", "raw_value", "reason")
    )
    return with_copied_texts(pl.concat([head, tail], how="horizontal"))


def empty_rejects() -> pl.DataFrame:
    """A rejects frame with no rows (still REJECTS_SCHEMA)."""
    return pl.DataFrame(schema=REJECTS_SCHEMA)


def check_columns(frame: pl.DataFrame, columns: Sequence[str], role: str) -> None:
    """Raise ValueError naming every column in `columns` that the frame lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{role} column(s) {missing} not in frame columns {frame.columns}")
