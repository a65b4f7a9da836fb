"""Find the key paths of many JSON objects at once, robust to rows that disagree.

Decoding with an inferred schema fails when one row has an object where another has a
scalar, so paths are found by lexing instead: a regex splits each (valid) document into
key, string and bracket tokens (strings are consumed whole, so braces inside them never
count), a running sum of brackets gives each key its depth, and forward-filling the last
key seen at each depth gives its full path. All of it is vectorised over the token stream.
"""

from __future__ import annotations

import json

import polars as pl

_STRING = r'"(?:[^"\\]|\\.)*"'
_TOKEN = rf"{_STRING}\s*:|{_STRING}|[{{}}\[\]]|null"

_SEPARATOR = "\x1f"  # cannot occur raw inside a valid JSON token
KINDS = ("objects", "empty_objects", "arrays", "scalars", "nulls")
"""Kinds of value a path can hold; discovery counts the documents having each."""


def discover_key_paths(documents: pl.Series, max_depth: int) -> pl.DataFrame:
    """One row per object key path of depth <= max_depth found in `documents`.

    Args:
        documents: JSON text that is a valid object, or null (callers null out the rest).
        max_depth: deepest path to report (1 = top-level keys only).

    Returns:
        Columns `path` (List(String) of decoded keys), `rows` (documents that have the
        path) and one count per kind in KINDS (documents whose value there is of that kind).
        Keys inside arrays are not paths: an array is a value.
    """
    levels = [f"k{level}" for level in range(1, max_depth + 1)]
    # Value strings only keep the lexer aligned; without them most documents share a
    # skeleton (keys, brackets, nulls), so the path work runs once per distinct skeleton.
    element = pl.element()
    skeletons = (
        documents.str.extract_all(_TOKEN)
        .list.eval(element.filter(element.str.ends_with(":") | ~element.str.starts_with('"')))
        .list.join(_SEPARATOR)
        .drop_nulls()
        .rename("text")
        .value_counts(name="documents")
        .with_row_index("skeleton")
    )
    if skeletons.height == 0:
        return pl.DataFrame(
            schema={"path": pl.List(pl.String), **dict.fromkeys(["rows", *KINDS], pl.UInt32)}
        )
    tokens = skeletons.select(
        "skeleton", "documents", token=pl.col("text").str.split(_SEPARATOR)
    ).explode("token")
    token = pl.col("token")
    step = (token == "{").cast(pl.Int32) - (token == "}").cast(pl.Int32)
    array_step = (token == "[").cast(pl.Int32) - (token == "]").cast(pl.Int32)
    following = token.shift(-1)
    keys = (
        tokens.with_columns(
            depth=step.cum_sum(),
            in_array=array_step.cum_sum() > 0,
            kind=pl.when(following == "{")
            .then(
                pl.when(token.shift(-2) == "}").then(pl.lit(KINDS[1])).otherwise(pl.lit(KINDS[0]))
            )
            .when(following == "[")
            .then(pl.lit(KINDS[2]))
            .when(following == "null")
            .then(pl.lit(KINDS[4]))
            .otherwise(pl.lit(KINDS[3])),
        )
        .filter(token.str.ends_with(":") & ~pl.col("in_array") & (pl.col("depth") <= max_depth))
        .with_columns(key=token.str.replace(r"\s*:$", ""))
    )
    keys = keys.with_columns(
        pl.when(pl.col("depth") >= level)
        .then(pl.when(pl.col("depth") == level).then(pl.col("key")).forward_fill())
        .alias(name)
        for level, name in enumerate(levels, start=1)
    ).unique(["skeleton", *levels, "kind"])
    per_path = (
        keys.unique(["skeleton", *levels]).group_by(levels).agg(rows=pl.col("documents").sum())
    )
    per_kind = keys.group_by(levels).agg(
        pl.col("documents").filter(pl.col("kind") == kind).sum().alias(kind) for kind in KINDS
    )
    counts = per_path.join(per_kind, on=levels, nulls_equal=True).select(
        path=pl.concat_list(levels).list.drop_nulls(), rows="rows", **{k: k for k in KINDS}
    )
    return _decode_keys(counts).select(
        "path", *(pl.col(c).cast(pl.UInt32) for c in ["rows", *KINDS])
    )


def _decode_keys(counts: pl.DataFrame) -> pl.DataFrame:
    """Turn raw key tokens (`"a\\u00e9"`) into key names; merge paths that decode alike.

    Only keys with a backslash need a JSON decode, done in Python over the distinct paths.
    """
    raw = pl.col("path")
    plain = ~raw.list.eval(pl.element().str.contains("\\", literal=True)).list.any()
    simple = counts.filter(plain).with_columns(
        raw.list.eval(pl.element().str.slice(1, pl.element().str.len_chars() - 2))
    )
    escaped = counts.filter(~plain)
    if escaped.height == 0:
        return simple
    decoded = escaped.with_columns(
        pl.Series("path", [[json.loads(k) for k in p] for p in escaped["path"].to_list()])
    )
    merged = pl.concat([simple, decoded.cast(simple.schema)])
    return merged.group_by("path").agg(pl.exclude("path").sum())
