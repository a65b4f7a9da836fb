"""Texts copied out of the buffers they were selected from.

Polars keeps strings as views into shared buffers: a filtered or gathered String column points
into its source's buffers, so keeping a few of its rows keeps all of the source's text. What
outlives its source (reject records, drift samples) is copied into buffers of its own.
"""

from __future__ import annotations

import polars as pl


def copied_texts(texts: pl.Series) -> pl.Series:
    """`texts` in buffers of their own (nulls kept)."""
    return pl.Series(texts.name, texts.to_list(), dtype=pl.String)


def with_copied_texts(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with each String column copied: for a few rows that outlive a large source."""
    return frame.with_columns(
        copied_texts(frame[name]) for name, dtype in frame.schema.items() if dtype == pl.String
    )
