"""Report JSON keys a view does not know about, so new fields are noticed, not lost."""

from __future__ import annotations

from collections.abc import Collection

import polars as pl

from etl_platform.transform._jsonpath import Path, as_text, dotted
from etl_platform.transform.json_read import key_paths


def json_key_drift(
    df: pl.DataFrame,
    json_column: str,
    *,
    known_paths: Collection[tuple[str, ...]],
    max_depth: int = 3,
    sample_rows: int | None = None,
) -> dict[str, int]:
    """Unknown key paths in the JSON objects of `json_column` and how many rows have each.

    Args:
        df: rows to scan; invalid JSON and non-objects are ignored (they are rejects).
        json_column: column holding JSON text.
        known_paths: paths the view reads; their prefixes and everything under them count
            as known too (a known `shipping.address` covers `shipping.address.city`).
        max_depth: deepest path reported.
        sample_rows: look at about this many evenly spaced rows only (None: all). Drift is a
            signal that a new key exists, not an exact count; a bounded sample keeps its cost
            flat however large the day is.

    Returns:
        {dot-joined path: number of (sampled) rows having it}, sorted by path.
    """
    if json_column not in df.columns:
        raise ValueError(f"drift: JSON column `{json_column}` not in frame columns")
    known = {tuple(path) for path in known_paths}
    texts = df.select(as_text(df, json_column)).to_series()
    if sample_rows is not None and texts.len() > sample_rows:
        texts = texts.gather_every(-(-texts.len() // sample_rows))
    found = key_paths(texts, max_depth=max_depth, skip=sorted(known))
    drift = {
        tuple(row["path"]): row["rows"]
        for row in found.iter_rows(named=True)
        if not _is_known(tuple(row["path"]), known)
    }
    return {dotted(path): drift[path] for path in sorted(drift)}


def _is_known(path: Path, known: set[Path]) -> bool:
    """Known, a prefix of a known path, or under a known path."""
    return any(path[: len(k)] == k or k[: len(path)] == path for k in known)
