"""Report JSON keys a view does not know about, so new fields are noticed, not lost."""

from __future__ import annotations

from collections.abc import Collection

import polars as pl

from etl_platform.transform._jsonpath import Path, dotted, object_documents
from etl_platform.transform._key_paths import discover_key_paths


def json_key_drift(
    df: pl.DataFrame,
    json_column: str,
    *,
    known_paths: Collection[tuple[str, ...]],
    max_depth: int = 3,
) -> dict[str, int]:
    """Unknown key paths in the JSON objects of `json_column` and how many rows have each.

    Args:
        df: rows to scan; invalid JSON and non-objects are ignored (they are rejects).
        json_column: column holding JSON text.
        known_paths: paths the view reads; their prefixes and everything under them count
            as known too (a known `shipping.address` covers `shipping.address.city`).
        max_depth: deepest path reported.

    Returns:
        {dot-joined path: number of rows having it}, sorted by path.
    """
    if json_column not in df.columns:
        raise ValueError(f"drift: JSON column `{json_column}` not in frame columns")
    known = {tuple(path) for path in known_paths}
    documents = object_documents(df, json_column)
    found = discover_key_paths(documents, max_depth)
    drift = {
        tuple(row["path"]): row["rows"]
        for row in found.iter_rows(named=True)
        if not _is_known(tuple(row["path"]), known)
    }
    return {dotted(path): drift[path] for path in sorted(drift)}


def _is_known(path: Path, known: set[Path]) -> bool:
    """Known, a prefix of a known path, or under a known path."""
    return any(path[: len(k)] == k or k[: len(path)] == path for k in known)
