"""One output row per element of a JSON array (e.g. an order's line items).

The array text comes back from polars as compact JSON, which a regex lexer splits at its
top-level commas (strings are consumed whole, so commas inside them never split), giving
one JSON text per element; the element fields are then read like any declared JSON field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from etl_platform.transform._jsonpath import (
    addressable,
    as_text,
    canonical_json,
    describe_value,
    dotted,
    fresh_name,
    json_path,
    json_status,
    null_strings,
    parent_reasons,
    scatter_mask,
    string_rows,
)
from etl_platform.transform._rejects import build_rejects, check_columns
from etl_platform.transform.dtypes import storage_dtype
from etl_platform.transform.json_fields import JsonField, extract_json_fields

ITEM_INDEX = "_item_index"
_LEXEME = r'"(?:[^"\\]|\\.)*"|[{}\[\],]|[^"{}\[\],]+'


@dataclass(frozen=True)
class ElementField:
    """A typed output column read from each array element (an object) at `path`."""

    output: str
    path: tuple[str, ...]
    dtype: pl.DataType


def explode_json_array(
    df: pl.DataFrame,
    json_column: str,
    path: tuple[str, ...],
    element_fields: Sequence[ElementField],
    *,
    key_columns: Sequence[str],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One row per element of the array at `path` in `json_column`, plus rejects.

    Args:
        df: parent rows; all their columns are kept on every element row.
        json_column: column holding the parent's JSON text.
        path: object keys to the array, e.g. ("items",).
        element_fields: typed columns read from each element object.
        key_columns: identify a parent in rejects (`_item_index` is added for elements).

    Returns:
        (element rows in parent order then `_item_index` (Int32, 0-based), rejects). A parent
        with a missing, null or empty array gives no rows. Rejected: a parent whose JSON is
        invalid or not an object, or whose value at `path` is not an array; an element that
        is not an object or has a field of the wrong type (only that element is dropped).
    """
    check_columns(df, [json_column], "JSON")
    check_columns(df, key_columns, "key")
    outputs = [f.output for f in element_fields]
    clashes = [o for o in outputs if o in (ITEM_INDEX, *df.columns)]
    if clashes or len(set(outputs)) < len(outputs):
        raise ValueError(f"explode `{json_column}`: output column(s) clash: {clashes}")
    if not path or not all(map(addressable, path)):
        raise ValueError(f"explode `{json_column}`: bad array path {path!r}")

    arrays, parent_problem = _arrays(df, json_column, tuple(path))
    parent_rejects = build_rejects(
        df.filter(parent_problem.is_not_null()),
        pl.DataFrame({"reason": parent_problem.drop_nulls()}).with_columns(
            column=pl.lit(json_column),
            raw_value=df.filter(parent_problem.is_not_null())[json_column].cast(pl.String),
        ),
        key_columns=key_columns,
    )
    elements = _split_elements(arrays)
    if elements.height == 0:
        return _empty_output(df, element_fields), parent_rejects

    row = fresh_name("__row", [*key_columns, ITEM_INDEX, json_column, "_shard", *outputs])
    carried = list(dict.fromkeys([*key_columns, *(["_shard"] if "_shard" in df.columns else [])]))
    frame = elements.select(
        pl.col("row").alias(row),
        pl.col("index").cast(pl.Int32).alias(ITEM_INDEX),
        pl.col("text").alias(json_column),
    )
    if carried:
        frame = pl.concat([df.select(carried).gather(frame[row]), frame], how="horizontal")
    element_key = [*key_columns, ITEM_INDEX]
    is_object = pl.col(json_column).str.starts_with("{")
    not_object = frame.filter(~is_object)
    element_rejects = build_rejects(
        not_object,
        not_object.select(
            column=pl.lit(json_column),
            raw_value=pl.col(json_column),
            reason=_where(path) + pl.lit("not a JSON object"),
        ),
        key_columns=element_key,
    )
    fields = [JsonField(f.output, json_column, f.path, f.dtype) for f in element_fields]
    kept, field_rejects = extract_json_fields(
        frame.filter(is_object), fields, key_columns=element_key
    )
    field_rejects = _prefix_reasons(field_rejects, path)
    out = pl.concat(
        [df.gather(kept[row]), kept.select(ITEM_INDEX, *(f.output for f in element_fields))],
        how="horizontal",
    )
    rejects = pl.concat([parent_rejects, element_rejects, field_rejects])
    return out, rejects


def _arrays(
    df: pl.DataFrame, json_column: str, path: tuple[str, ...]
) -> tuple[pl.Series, pl.Series]:
    """(array text per parent or null, reason per rejected parent or null)."""
    text = as_text(df, json_column)
    frame = df.select(text=text, canonical=canonical_json(text))
    is_object, invalid, not_object = json_status(pl.col("text"), pl.col("canonical"))
    frame = frame.select(
        src=pl.when(is_object).then(pl.col("canonical")),
        invalid=invalid,
        not_object=not_object,
    ).with_columns(value=pl.col("src").str.json_path_match(json_path(path)))
    value = pl.col("value")
    candidates = frame.select(pl.arg_where(value.str.starts_with("["))).to_series()
    is_string = scatter_mask(frame.height, string_rows(frame["src"], candidates, path))
    is_array = value.str.starts_with("[") & ~is_string
    missing = frame.select(pl.arg_where(pl.col("src").is_not_null() & value.is_null())).to_series()
    parents = null_strings(frame.height)
    if len(path) > 1 and missing.len():
        parents = parents.scatter(missing, parent_reasons(frame["src"].gather(missing), path))
    result = frame.select(
        array=pl.when(is_array).then(value),
        reason=pl.when(pl.col("invalid"))
        .then(pl.lit("invalid JSON"))
        .when(pl.col("not_object"))
        .then(pl.lit("not a JSON object"))
        .when(value.is_not_null() & ~is_array)
        .then(pl.lit(f"path {dotted(path)}: ") + describe_value(value) + pl.lit(" is not an array"))
        .otherwise(pl.lit(parents)),
    )
    return result["array"], result["reason"]


def _split_elements(arrays: pl.Series) -> pl.DataFrame:
    """Columns row (parent index), index (element index), text (element's compact JSON)."""
    lexemes = (
        pl.DataFrame({"array": arrays})
        .with_row_index("row")
        .select("row", lexeme=pl.col("array").str.extract_all(_LEXEME))
        .explode("lexeme")
        .drop_nulls("lexeme")
    )
    lexeme = pl.col("lexeme")
    nesting = {"{": 1, "[": 1, "}": -1, "]": -1}
    depth = lexeme.replace_strict(nesting, default=0, return_dtype=pl.Int32).cum_sum()
    lexemes = lexemes.with_columns(depth=depth).with_columns(
        separator=(lexeme == ",") & (pl.col("depth") == 1),
        outer=((lexeme == "[") & (pl.col("depth") == 1)) | (pl.col("depth") == 0),
    )
    return (
        lexemes.with_columns(index=pl.col("separator").cum_sum().over("row"))
        .filter(~pl.col("separator") & ~pl.col("outer"))
        .group_by("row", "index", maintain_order=True)
        .agg(text=lexeme.str.join(""))
    )


def _empty_output(df: pl.DataFrame, element_fields: Sequence[ElementField]) -> pl.DataFrame:
    """No element rows, but the output schema all the same."""
    return df.clear().with_columns(
        pl.lit(None, pl.Int32).alias(ITEM_INDEX),
        *(pl.lit(None, storage_dtype(f.dtype)).alias(f.output) for f in element_fields),
    )


def _where(path: tuple[str, ...]) -> pl.Expr:
    """`items[3]: ` for an element row."""
    return pl.lit(f"{dotted(path)}[") + pl.col(ITEM_INDEX).cast(pl.String) + pl.lit("]: ")


def _prefix_reasons(rejects: pl.DataFrame, path: tuple[str, ...]) -> pl.DataFrame:
    """Say which element a field reject is about: `items[3]: path price: ...`."""
    index = pl.col("key").str.json_path_match(f"$['{ITEM_INDEX}']")
    return rejects.with_columns(
        reason=pl.concat_str(pl.lit(f"{dotted(path)}["), index, pl.lit("]: "), pl.col("reason"))
    )
