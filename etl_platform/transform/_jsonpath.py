"""Small JSON-text helpers shared by the JSON transforms (vectorised polars expressions).

Facts about polars' `str.json_path_match` (jsonpath_lib) that these helpers rely on,
pinned by tests in `test_jsonpath_helpers.py`:
- `$` is null exactly for invalid JSON and for the literal `null`;
- bracket keys `['k']` / `["k"]` reach any key except one containing a backslash;
- the filter `$...[?(@['k'] >= '')]` matches only when the value at `k` is a JSON string,
  which tells a string `"[1]"` from an array `[1]` (both come back as the text `[1]`).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

Path = tuple[str, ...]


def addressable(key: str) -> bool:
    """Whether a JSON path can name this key (no backslash, not both quote kinds)."""
    return "\\" not in key and not ("'" in key and '"' in key)


def _bracket(key: str) -> str:
    if not addressable(key):
        raise ValueError(f"JSON key {key!r} cannot be addressed by a JSON path")
    return f"['{key}']" if "'" not in key else f'["{key}"]'


def json_path(path: Sequence[str]) -> str:
    """JSONPath text for object keys, e.g. ("a", "b c") -> `$['a']['b c']`."""
    return "$" + "".join(_bracket(key) for key in path)


def string_test_path(path: Sequence[str]) -> str:
    """JSONPath that matches (non-null) exactly when the value at `path` is a JSON string."""
    *parent, last = path
    return f"{json_path(parent)}[?(@{_bracket(last)} >= '')]"


def dotted(path: Sequence[str]) -> str:
    """Human-readable path for messages: ("totals", "grand_total") -> totals.grand_total."""
    return ".".join(path)


def as_text(frame: pl.DataFrame, column: str) -> pl.Expr:
    """The column as String (all-null and categorical columns are cast); others are refused."""
    dtype = frame.schema[column]
    if dtype == pl.String:
        return pl.col(column)
    if dtype in (pl.Null, pl.Categorical) or isinstance(dtype, pl.Enum):
        return pl.col(column).cast(pl.String)
    raise ValueError(f"JSON column `{column}` must hold text, found dtype {dtype}")


def canonical_json(text: pl.Expr) -> pl.Expr:
    """Compact re-serialisation of each JSON text; null for invalid JSON and for `null`.

    Later JSON path reads run on this text: it is shorter than pretty or spaced JSON (one
    parse per read costs less), duplicate keys are already resolved (last wins) and keys
    need no unescaping. Materialise it as a column before deriving more from it: eager
    `with_columns` does not share this expensive subexpression between outputs.
    """
    return text.str.json_path_match("$")


def json_status(text: pl.Expr, canonical: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(is_object, is_invalid, is_not_object) from raw text and its `canonical_json`.

    NULL and the literal `null` are none of the three. Object-ness is read from the raw
    text: a JSON string holding an object's text (`"{\\"a\\":1}"`) is not an object.
    """
    parsed = canonical.is_not_null()
    null_literal = text.str.strip_chars() == "null"
    invalid = text.is_not_null() & ~parsed & ~null_literal
    is_object = parsed & text.str.strip_chars_start().str.starts_with("{")
    return is_object, invalid, parsed & ~is_object


def object_documents(df: pl.DataFrame, column: str) -> pl.Series:
    """Canonical JSON text of the column's values that are JSON objects, else null."""
    text = as_text(df, column)
    frame = df.select(text=text, canonical=canonical_json(text))
    is_object = json_status(pl.col("text"), pl.col("canonical"))[0]
    return frame.select(pl.when(is_object).then(pl.col("canonical"))).to_series().alias(column)


def quote_json(text: pl.Expr) -> pl.Expr:
    """JSON string literal of each value (`a"b` -> `"a\\"b"`); null stays null."""
    encoded = pl.struct(text.alias("v")).struct.json_encode()
    return pl.when(text.is_not_null()).then(encoded.str.slice(5, encoded.str.len_chars() - 6))


def describe_value(text: pl.Expr, limit: int = 80) -> pl.Expr:
    """Value as shown in reject reasons: quoted, cut to `limit` characters."""
    short = (
        pl.when(text.str.len_chars() > limit).then(text.str.slice(0, limit) + "...").otherwise(text)
    )
    return quote_json(short)


def fresh_name(base: str, taken: Sequence[str]) -> str:
    """`base` with underscores prepended until it is not in `taken` (temporary columns)."""
    while base in taken:
        base = "_" + base
    return base


def string_rows(documents: pl.Series, rows: pl.Series, path: Sequence[str]) -> pl.Series:
    """The subset of `rows` (indices into `documents`) whose value at `path` is a string.

    Costs one JSON parse per given row, so callers pass only the ambiguous rows.
    """
    if rows.len() == 0:
        return rows
    matched = documents.gather(rows).str.json_path_match(string_test_path(path))
    return rows.filter(matched.is_not_null())


def null_strings(height: int) -> pl.Series:
    """A String Series of `height` nulls, to scatter a subset's values into."""
    return pl.repeat(None, height, dtype=pl.String, eager=True)


def scatter_mask(height: int, rows: pl.Series) -> pl.Series:
    """Boolean Series of `height` that is True at the given row indices."""
    mask = pl.repeat(False, height, dtype=pl.Boolean, eager=True)
    return mask.scatter(rows, True) if rows.len() else mask


def parent_reasons(sources: pl.Series, path: Sequence[str]) -> pl.Series:
    """For each document: reason naming the first parent of `path` that is not an object."""
    frame = pl.DataFrame({"src": sources})
    checks = []
    for depth in range(1, len(path)):
        value = pl.col("src").str.json_path_match(json_path(path[:depth]))
        checks.append(
            pl.when(value.is_not_null() & ~value.str.starts_with("{")).then(
                pl.concat_str(
                    pl.lit(f"path {dotted(path)}: {dotted(path[:depth])} is "),
                    describe_value(value),
                    pl.lit(", not an object"),
                )
            )
        )
    return frame.select(pl.coalesce(checks)).to_series()
