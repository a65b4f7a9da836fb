"""Compiling CASE, IF and the function calls (COALESCE, text, numbers, dates, CAST) of a checked
expression; `transform.expressions` dispatches to them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import polars as pl
from sqlglot import exp

from etl_platform.specs.expression_casts import cast_type_name
from etl_platform.specs.expression_text import (
    date_literal,
    int_literal,
    string_literal,
    timestamp_literal,
)
from etl_platform.specs.expressions import extract_unit, trunc_unit
from etl_platform.transform.dtypes import cast_strings, parse_type, storage_dtype
from etl_platform.transform.expression_values import (
    FIELDS,
    MAX_DIGITS,
    NUMERIC,
    TEMPORAL,
    TIME_OF_DAY,
    TIMESTAMP,
    TRUNC_EVERY,
    Value,
    checked_int,
    decimal_scale,
    typed_null,
)

if TYPE_CHECKING:
    from etl_platform.transform.expressions import Compiler


def _case(c: Compiler, node: exp.Case) -> pl.Expr:
    """Searched or simple CASE; without ELSE an unmatched row is NULL."""
    subject = c.value(node.this) if node.this is not None else None
    conditions, results = [], []
    for branch in node.args["ifs"]:
        test = c.value(branch.this)
        if subject is None:
            conditions.append(c.boolean(branch, test))
        else:
            conditions.append(pl.Expr.__eq__(*c.comparable(branch, subject, test)))
        results.append(c.value(branch.args["true"]))
    default = node.args.get("default")
    if default is not None:
        results.append(c.value(default))
    return _when_chain(conditions, c.unify(node, results))


def _if(c: Compiler, node: exp.If) -> pl.Expr:
    """IF(condition, then, else)."""
    results = [c.value(node.args["true"])]
    if node.args.get("false") is not None:
        results.append(c.value(node.args["false"]))
    return _when_chain([c.boolean(node, c.value(node.this))], c.unify(node, results))


def _when_chain(conditions: list[pl.Expr], results: list[pl.Expr]) -> pl.Expr:
    """when/then per condition, the extra result (if any) as otherwise, else NULL."""
    chain = pl.when(conditions[0]).then(results[0])
    for condition, result in zip(conditions[1:], results[1:], strict=False):
        chain = chain.when(condition).then(result)
    return chain.otherwise(
        results[len(conditions)] if len(results) > len(conditions) else typed_null()
    )


def _arguments(c: Compiler, node: exp.Expression) -> list[Value]:
    items = [node.this] if node.args.get("this") is not None else []
    return [c.value(item) for item in [*items, *node.expressions]]


def _coalesce(c: Compiler, node: exp.Coalesce) -> pl.Expr:
    return pl.coalesce(c.unify(node, _arguments(c, node)))


def _nullif(c: Compiler, node: exp.Nullif) -> pl.Expr:
    first = c.value(node.this)
    left, right = c.comparable(node, first, c.value(node.expression))
    return pl.when(left == right).then(typed_null()).otherwise(first.expr)


def _greatest(c: Compiler, node: exp.Greatest) -> pl.Expr:
    """The largest non-NULL argument (NULL only when all are)."""
    return pl.max_horizontal(c.unify(node, _arguments(c, node)))


def _least(c: Compiler, node: exp.Least) -> pl.Expr:
    return pl.min_horizontal(c.unify(node, _arguments(c, node)))


def _concat(c: Compiler, node: exp.Concat) -> pl.Expr:
    """CONCAT skips NULL arguments (PostgreSQL, DuckDB)."""
    parts = [c.text(node, c.value(item)) for item in node.expressions]
    return pl.concat_str(parts, ignore_nulls=True)


def _pipes(c: Compiler, node: exp.DPipe) -> pl.Expr:
    """`||` is NULL when either side is (standard SQL)."""
    parts = [c.text(node, c.value(node.this)), c.text(node, c.value(node.expression))]
    return pl.concat_str(parts, ignore_nulls=False)


def _string_function(
    method: Callable[[pl.Expr], pl.Expr],
) -> Callable[[Compiler, exp.Expression], pl.Expr]:
    def compile_(c: Compiler, node: exp.Expression) -> pl.Expr:
        value = c.value(node.this)
        c.expect(node, value, frozenset({"string"}), "text")
        return method(value.expr)

    return compile_


def _trim(c: Compiler, node: exp.Trim) -> pl.Expr:
    """Spaces (or the quoted characters) off both ends, or the one LTRIM/RTRIM names."""
    value = c.value(node.this)
    c.expect(node, value, frozenset({"string"}), "text")
    chars = string_literal(node.expression) if node.expression is not None else " "
    side = str(node.args.get("position") or "BOTH").upper()
    if side == "LEADING":
        return value.expr.str.strip_chars_start(chars)
    if side == "TRAILING":
        return value.expr.str.strip_chars_end(chars)
    return value.expr.str.strip_chars(chars)


def _substring(c: Compiler, node: exp.Substring) -> pl.Expr:
    value = c.value(node.this)
    c.expect(node, value, frozenset({"string"}), "text")
    start = int_literal(node.args["start"]) or 1
    return value.expr.str.slice(start - 1, int_literal(node.args.get("length")))


def _abs(c: Compiler, node: exp.Abs) -> pl.Expr:
    value = c.value(node.this)
    c.expect(node, value, NUMERIC, "a number")
    if value.family == "int":
        return checked_int(value.expr.cast(pl.Int128).abs())
    return value.expr.abs()


def _round(c: Compiler, node: exp.Round) -> pl.Expr:
    """Half away from zero; a decimal keeps `digits` places at most; an integer is unchanged."""
    value = c.value(node.this)
    c.expect(node, value, NUMERIC, "a number")
    digits = int_literal(node.args.get("decimals")) or 0
    if value.family in {"int", "null"}:
        return value.expr
    rounded = value.expr.round(digits, mode="half_away_from_zero")
    if value.family == "decimal" and digits < decimal_scale(value):
        return rounded.cast(pl.Decimal(MAX_DIGITS, digits))
    return rounded


def _date(c: Compiler, node: exp.Date) -> pl.Expr:
    """The UTC day of a timestamp; text as `cast_strings` reads a date or a timestamp."""
    value = c.value(node.this)
    c.expect(node, value, frozenset({"date", "timestamp", "string"}), "a timestamp, date or text")
    if value.family == "timestamp":
        return value.expr.dt.date()
    if value.family == "string":
        as_date = cast_strings(value.expr, pl.Date())[0]
        return pl.coalesce(as_date, cast_strings(value.expr, TIMESTAMP)[0].dt.date())
    return value.expr.cast(pl.Date)


def _date_trunc(c: Compiler, node: exp.DateTrunc) -> pl.Expr:
    """The start of the unit containing the value, of the value's own type (weeks start on
    Monday, all in UTC)."""
    unit = trunc_unit(node)
    value = c.value(node.this)
    c.expect(node, value, TEMPORAL, "a date or timestamp")
    if value.family == "date" and unit in TIME_OF_DAY:
        raise c.fail(node, f"DATE_TRUNC('{unit}', ...) needs a timestamp, got a date")
    if value.family == "null":
        return value.expr
    return value.expr.dt.truncate(TRUNC_EVERY[unit])


def _field(c: Compiler, node: exp.Expression, field: str, operand: exp.Expression) -> pl.Expr:
    value = c.value(operand)
    c.expect(node, value, TEMPORAL, "a date or timestamp")
    if value.family == "date" and field.lower() in TIME_OF_DAY:
        raise c.fail(node, f"EXTRACT({field} FROM ...) needs a timestamp, got a date")
    if value.family == "null":
        return typed_null(pl.Int64)
    return FIELDS[field](value.expr).cast(pl.Int64)


def _extract(c: Compiler, node: exp.Extract) -> pl.Expr:
    return _field(c, node, extract_unit(node), node.expression)


def _part(field: str) -> Callable[[Compiler, exp.Expression], pl.Expr]:
    """YEAR(x), MONTH(x), DAY(x): EXTRACT(field FROM x)."""

    def compile_(c: Compiler, node: exp.Expression) -> pl.Expr:
        return _field(c, node, field, node.this)

    return compile_


def _cast(c: Compiler, node: exp.Cast) -> pl.Expr:
    target = storage_dtype(parse_type(cast_type_name(node.args["to"])))
    text = string_literal(node.this)
    if text is not None and target == pl.Date:
        return pl.lit(date_literal(text), pl.Date)
    if text is not None and target == TIMESTAMP:
        return pl.lit(timestamp_literal(text), TIMESTAMP)
    return c.convert(node, c.value(node.this), target)


#: The compiler of each CASE, IF and function node type.
FUNCTION_NODES: Final[dict[type[exp.Expression], Callable[[Compiler, exp.Expression], pl.Expr]]] = {
    exp.Case: _case,
    exp.If: _if,
    exp.Coalesce: _coalesce,
    exp.Nullif: _nullif,
    exp.Greatest: _greatest,
    exp.Least: _least,
    exp.Concat: _concat,
    exp.DPipe: _pipes,
    exp.Lower: _string_function(lambda x: x.str.to_lowercase()),
    exp.Upper: _string_function(lambda x: x.str.to_uppercase()),
    exp.Length: _string_function(lambda x: x.str.len_chars().cast(pl.Int64)),
    exp.Trim: _trim,
    exp.Substring: _substring,
    exp.Abs: _abs,
    exp.Round: _round,
    exp.Date: _date,
    exp.DateTrunc: _date_trunc,
    exp.Extract: _extract,
    exp.Year: _part("YEAR"),
    exp.Month: _part("MONTH"),
    exp.Day: _part("DAY"),
    exp.Cast: _cast,
    exp.TryCast: _cast,
}
