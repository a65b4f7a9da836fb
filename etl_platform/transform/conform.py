"""Fit a frame to a schema written before it, when that loses nothing."""

from __future__ import annotations

import polars as pl


def conform(frame: pl.DataFrame, schema: pl.Schema) -> pl.DataFrame | None:
    """`frame` as `schema` (its columns in that order, missing ones null), or None when the
    schema would have to widen: a column it lacks, or a type that differs other than Null.

    Where it returns a frame, that frame is what `pl.concat(how="diagonal_relaxed")` of a
    frame of `schema` and `frame` would have made of `frame`'s rows.
    """
    for name, dtype in frame.schema.items():
        target = schema.get(name)
        if target is None or (dtype != target and dtype != pl.Null):
            return None
    return frame.select(
        pl.col(name).cast(dtype)
        if name in frame.columns
        else pl.repeat(None, frame.height, dtype=dtype).alias(name)
        for name, dtype in schema.items()
    )
