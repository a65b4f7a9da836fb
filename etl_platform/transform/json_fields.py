"""Typed columns read from JSON text columns, with one reject record per unusable row.

A view declares `total: {json: payload, path: totals.grand_total, type: decimal(12,2)}`;
this module turns such declarations into typed columns. Rows whose JSON cannot be trusted
(invalid text, not an object, a value of the wrong type at a declared path) leave the view
and become reject records, so one bad row never fails a partition nor hides as a null.
NULL, JSON `null` and missing keys are ordinary: the outputs are null.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from etl_platform.transform._jsonpath import (
    addressable,
    as_text,
    describe_value,
    dotted,
    null_strings,
    parent_reasons,
)
from etl_platform.transform._rejects import (
    REJECTS_SCHEMA,
    build_rejects,
    check_columns,
    empty_rejects,
)
from etl_platform.transform.dtypes import JSON, cast_strings, storage_dtype, type_name
from etl_platform.transform.json_read import read_paths

__all__ = ["REJECTS_SCHEMA", "JsonField", "extract_json_fields"]


@dataclass(frozen=True)
class JsonField:
    """One typed output column read from a JSON column.

    Args:
        output: name of the output column.
        json_column: input column holding JSON text.
        path: object keys from the document root, e.g. ("totals", "grand_total").
        dtype: declared type, from `dtypes.parse_type` (`dtypes.JSON` keeps JSON text).
    """

    output: str
    json_column: str
    path: tuple[str, ...]
    dtype: pl.DataType

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", tuple(self.path))
        if not self.path:
            raise ValueError(f"field `{self.output}`: JSON path is empty")
        bad = [key for key in self.path if not addressable(key)]
        if bad:
            raise ValueError(
                f"field `{self.output}`: path {dotted(self.path)} has key(s) {bad} that a "
                "JSON path cannot address (backslash, or both quote characters)"
            )


def extract_json_fields(
    df: pl.DataFrame, fields: Sequence[JsonField], *, key_columns: Sequence[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Add the typed `fields` to `df`; move rows with unusable JSON to rejects.

    Args:
        df: input rows; `_shard` is copied into rejects when present.
        fields: the columns to add, in this order, after df's columns.
        key_columns: columns that identify a row in reject records (`key` as JSON object).

    Returns:
        (kept rows with the outputs added, rejects in REJECTS_SCHEMA). A rejected row lists
        all its problems in `reason`; `column`/`raw_value` name the first problem's column.
    """
    check_columns(df, key_columns, "key")
    check_columns(df, [f.json_column for f in fields], "JSON")
    outputs = [f.output for f in fields]
    clashes = sorted({o for o in outputs if o in df.columns or outputs.count(o) > 1})
    if clashes:
        raise ValueError(f"output column(s) {clashes} already exist or are declared twice")
    if not fields:
        return df, empty_rejects()

    columns = list(dict.fromkeys(f.json_column for f in fields))
    source = {f.output: columns.index(f.json_column) for f in fields}
    aux = df.select(as_text(df, c).alias(f"src{i}") for i, c in enumerate(columns))
    for i, column in enumerate(columns):
        mine = [j for j, f in enumerate(fields) if f.json_column == column]
        # No JSON types: the text is cast to the declared type, and what `string` refuses
        # (objects, arrays) shows in the value's JSON text, whose first character says it.
        read = read_paths(aux[f"src{i}"], [fields[j].path for j in mine], types=[False] * len(mine))
        renamed = {"status": f"status{i}"}
        for k, j in enumerate(mine):
            renamed |= {f"{kind}{k}": f"{kind}_{j}" for kind in ("text", "json", "broken")}
        aux = pl.concat([aux, read.rename(renamed)], how="horizontal")
    aux = aux.with_columns(
        pl.col(f"status{i}").is_in(["invalid"]).fill_null(False).alias(f"invalid{i}")
        for i in range(len(columns))
    ).with_columns(
        pl.col(f"status{i}").is_in(["other"]).fill_null(False).alias(f"notobj{i}")
        for i in range(len(columns))
    )
    typed = {}
    for j, f in enumerate(fields):
        typed[f"text{j}"] = pl.col(f"text_{j}")
        typed[f"out{j}"], typed[f"wrong{j}"] = _typed(j, f.dtype)
    aux = aux.with_columns(**typed)
    aux = _check_parents(aux, fields, source)

    reasons: list[tuple[str, pl.Expr]] = []
    flags: list[pl.Expr] = []
    for j, f in enumerate(fields):
        i = source[f.output]
        if all(column != f.json_column for column, _ in reasons):
            flags.append(pl.col(f"invalid{i}") | pl.col(f"notobj{i}"))
            reasons.append(
                (
                    f.json_column,
                    pl.when(pl.col(f"invalid{i}"))
                    .then(pl.lit("invalid JSON"))
                    .when(pl.col(f"notobj{i}"))
                    .then(pl.lit("not a JSON object")),
                )
            )
        message = pl.concat_str(
            pl.lit(f"path {dotted(f.path)}: "),
            describe_value(pl.col(f"text{j}")),
            pl.lit(f" is not {type_name(f.dtype)}"),
        )
        wrong = pl.when(pl.col(f"wrong{j}")).then(message)
        flags.append(pl.col(f"wrong{j}") | pl.col(f"parent{j}").is_not_null())
        reasons.append((f.json_column, pl.coalesce(pl.col(f"parent{j}"), wrong)))

    problem = aux.select(pl.any_horizontal(flags)).to_series()  # messages for these rows only
    # Each reason is worked out once, as a column, and then referred to: inlined three times it
    # makes a plan costly to build on every call, however few the rows.
    said = [pl.col(f"r{k}") for k in range(len(reasons))]
    details = (
        aux.filter(problem)
        .select(
            *(r.alias(f"r{k}") for k, (_, r) in enumerate(reasons)),
            *(pl.col(f"src{i}") for i in range(len(columns))),
        )
        .select(
            reason=pl.concat_list(said).list.drop_nulls().list.join("; "),
            column=pl.coalesce(
                pl.when(r.is_not_null()).then(pl.lit(c))
                for r, (c, _) in zip(said, reasons, strict=True)
            ),
            raw_value=pl.coalesce(
                pl.when(r.is_not_null()).then(pl.col(f"src{columns.index(c)}"))
                for r, (c, _) in zip(said, reasons, strict=True)
            ),
        )
    )
    rejects = build_rejects(df.filter(problem), details, key_columns=key_columns)
    out = aux.select(
        pl.col(f"out{j}").cast(storage_dtype(f.dtype)).alias(f.output) for j, f in enumerate(fields)
    )
    kept = pl.concat([df, out], how="horizontal").filter(~problem)
    return kept, rejects


def _typed(j: int, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr]:
    """(typed value, wrong-type mask) of field j, from its JSON text and text.

    The JSON text tells an object or array (`{`, `[`) from a string that merely looks like
    one (`"{`), so `string` refuses only real ones, and `json` keeps strings quoted; the other
    types are cast from the text, so `"39.80"` and `39.8` both make a decimal.
    """
    if dtype == JSON:
        return pl.col(f"json_{j}"), pl.lit(False)
    if dtype == pl.String:
        value = pl.col(f"json_{j}")
        return pl.col(f"text_{j}"), (
            value.str.starts_with("{") | value.str.starts_with("[")
        ).fill_null(False)
    return cast_strings(pl.col(f"text_{j}"), dtype)


def _check_parents(
    aux: pl.DataFrame, fields: Sequence[JsonField], source: dict[str, int]
) -> pl.DataFrame:
    """Add `parent{j}`: a reason when a value is missing because a parent is not an object.

    `{"totals": 5}` has no `totals.grand_total`, but that is a broken structure, not a
    missing key. Only the rows the reader marked broken are read again, to name the parent.
    """
    for j, f in enumerate(fields):
        reason = pl.lit(None, pl.String).alias(f"parent{j}")
        rows = aux.select(pl.arg_where(pl.col(f"broken_{j}"))).to_series()
        if rows.len():
            found = parent_reasons(aux[f"src{source[f.output]}"].gather(rows), f.path)
            # The reader knows a parent is not an object; when the text-based naming cannot
            # tell which (a string holding "{...}", duplicate keys), still say so: never a null.
            generic = f"path {dotted(f.path)}: a parent is not an object"
            found = found.fill_null(generic)
            reason = null_strings(aux.height).scatter(rows, found).alias(f"parent{j}")
        aux = aux.with_columns(reason)
    return aux
