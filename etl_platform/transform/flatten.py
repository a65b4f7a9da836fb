"""Flatten a JSON column into one text column per key path found in the data.

For `flatten: [{json: payload, prefix: payload_, max_depth: 2}]`: analysts get every key as
a column without declaring it. Values stay text (typing is what declared columns are for):
scalars as their literal (strings unquoted), arrays and objects below max_depth as compact
JSON. A path that is an object in one row and anything else in another is a leaf, so a
change of structure between rows never fails the view. Invalid JSON gives nulls here;
rejecting rows is `extract_json_fields`' job.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence

import polars as pl

from etl_platform.transform._jsonpath import (
    Path,
    addressable,
    dotted,
    json_path,
    object_documents,
)
from etl_platform.transform._key_paths import discover_key_paths

_PLAIN = re.compile(r"[A-Za-z0-9_]+")


def flatten_json(
    df: pl.DataFrame, json_column: str, *, prefix: str, max_depth: int, max_columns: int = 1000
) -> tuple[pl.DataFrame, list[str]]:
    """Add one String column per leaf key path of `json_column` (sorted by name).

    Args:
        df: input rows; row count and existing columns are never changed.
        json_column: column holding JSON text; only rows holding an object contribute.
        prefix: prepended to every added name, e.g. `payload_` -> `payload_shipping_city`.
        max_depth: longest path; an object at this depth is kept as JSON text.
        max_columns: refuse (ValueError) to add more columns than this: keys that are data
            (ids as keys) would otherwise turn into thousands of columns; lower max_depth.

    Returns:
        (df with the added columns after its own, the added names in that sorted order).

    Naming: `prefix + "_".join(path)` when every key is [A-Za-z0-9_]+. Otherwise the keys
    are sanitised (other characters become `_`) and `_` + 8 hex digits of the SHA-1 of the
    path's JSON are appended, so the name is the same whatever else the batch holds. A
    plain name that collides (case-insensitively, as Athena compares) with an existing
    column or an earlier path in sorted path order gets the same hash suffix.
    """
    if json_column not in df.columns:
        raise ValueError(f"flatten: JSON column `{json_column}` not in frame columns")
    if max_depth < 1:
        raise ValueError(f"flatten `{json_column}`: max_depth must be >= 1, got {max_depth}")
    if prefix and not _PLAIN.fullmatch(prefix):
        raise ValueError(f"flatten `{json_column}`: prefix {prefix!r} must be [A-Za-z0-9_]")
    documents = object_documents(df, json_column)
    leaves = _leaf_paths(discover_key_paths(documents, max_depth), max_depth)
    if len(leaves) > max_columns:
        raise ValueError(
            f"flatten `{json_column}`: {len(leaves)} key paths at max_depth {max_depth} exceed "
            f"max_columns {max_columns}, e.g. {[dotted(p) for p in leaves[:5]]}"
        )
    if not leaves:
        return df, []
    names = column_names(leaves, prefix, existing=df.columns)
    values = _leaf_values(documents, leaves)
    order = sorted(range(len(leaves)), key=lambda i: names[leaves[i]])
    added = values.select(pl.col(f"n{i}").alias(names[leaves[i]]) for i in order)
    return pl.concat([df, added], how="horizontal"), added.columns


def _leaf_paths(found: pl.DataFrame, max_depth: int) -> list[Path]:
    """Leaf paths, sorted, from the discovered paths.

    Interior: shallower than max_depth, an object wherever it is not null and non-empty
    in some row. Leaf: not interior, under interior paths only (a leaf's descendants are
    inside its JSON text).
    """
    interiors: set[Path] = set()
    candidates: list[Path] = []
    for row in found.iter_rows(named=True):
        path = tuple(row["path"])
        candidates.append(path)
        if len(path) < max_depth and row["objects"] and not (row["arrays"] or row["scalars"]):
            interiors.add(path)
    leaves = [
        path
        for path in sorted(candidates)
        if path not in interiors and all(path[:i] in interiors for i in range(1, len(path)))
    ]
    return leaves


def column_names(paths: Sequence[Path], prefix: str, existing: Sequence[str]) -> dict[Path, str]:
    """Deterministic column name per path (see `flatten_json` for the rule)."""
    taken = {name.lower() for name in existing}
    names: dict[Path, str] = {}
    for path in sorted(paths):
        plain = all(_PLAIN.fullmatch(key) for key in path)
        base = prefix + "_".join(
            path if plain else [re.sub(r"[^A-Za-z0-9_]", "_", k) for k in path]
        )
        name = base if plain and base.lower() not in taken else f"{base}_{_path_hash(path)}"
        counter = 2
        while name.lower() in taken:
            name, counter = f"{base}_{_path_hash(path)}_{counter}", counter + 1
        taken.add(name.lower())
        names[path] = name
    return names


def _path_hash(path: Path) -> str:
    return hashlib.sha1(json.dumps(list(path)).encode()).hexdigest()[:8]


def _leaf_values(documents: pl.Series, leaves: list[Path]) -> pl.DataFrame:
    """Column `n{i}` = text of leaves[i], reading each interior object once per level.

    A child is read from its parent's (short) compact text instead of the whole document,
    which is safe because an interior path is an object in every row that has it.
    """
    nodes = sorted(
        {p[:i] for p in leaves for i in range(1, len(p) + 1) if all(map(addressable, p[:i]))},
        key=len,
    )
    node_name = {(): "doc"} | {path: f"t{i}" for i, path in enumerate(nodes)}
    frame = pl.DataFrame({"doc": documents})
    for depth in range(1, max((len(p) for p in nodes), default=0) + 1):
        frame = frame.with_columns(
            pl.col(node_name[p[:-1]]).str.json_path_match(json_path(p[-1:])).alias(node_name[p])
            for p in nodes
            if len(p) == depth and p[:-1] in node_name
        )
    columns = []
    for i, path in enumerate(leaves):
        if path in node_name:
            columns.append(pl.col(node_name[path]).alias(f"n{i}"))
        else:
            columns.append(pl.lit(_python_values(documents, path)).alias(f"n{i}"))
    return frame.select(columns)


def _python_values(documents: pl.Series, path: Path) -> pl.Series:
    """Values at a path no JSON path can address (a key with a backslash or both quotes).

    Such keys are always written with a backslash escape, so only documents containing a
    backslash are decoded in Python.
    """
    values: list[str | None] = [None] * documents.len()
    candidates = documents.str.contains("\\", literal=True).fill_null(False)
    for row in candidates.arg_true().to_list():
        value = json.loads(documents[row])
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            compact = isinstance(value, (dict, list, bool))
            values[row] = (
                json.dumps(value, separators=(",", ":"), ensure_ascii=False)
                if compact
                else str(value)
            )
    return pl.Series(values, dtype=pl.String)
