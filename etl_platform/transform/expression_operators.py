"""Compiling names, literals and operators (arithmetic, comparisons, AND/OR/NOT, IS, IN,
BETWEEN, LIKE) of a checked expression; `transform.expressions` dispatches to them.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import polars as pl
from sqlglot import exp

from etl_platform.specs.expression_text import string_literal
from etl_platform.transform.expression_values import (
    DIVISION_SCALE,
    MAX_DIGITS,
    NUMERIC,
    Value,
    checked_int,
    decimal_scale,
    like_regex,
    typed_null,
)

if TYPE_CHECKING:
    from etl_platform.transform.expressions import Compiler


def _column(c: Compiler, node: exp.Column) -> pl.Expr:
    return pl.col(node.name)


def _literal(c: Compiler, node: exp.Literal) -> pl.Expr:
    """Quoted text is a string, `12` an integer, `1.50` an exact decimal, `1e3` a float."""
    text = node.this
    if node.is_string:
        return pl.lit(text, pl.String)
    if re.fullmatch(r"\d+", text) and int(text) < 2**63:
        return pl.lit(int(text))
    if re.fullmatch(r"\d*\.?\d*", text):
        number = decimal.Decimal(text)
        digits = len(number.as_tuple().digits)
        if digits > MAX_DIGITS:
            raise c.fail(node, f"the number {text} has more than {MAX_DIGITS} digits")
        return pl.lit(number, pl.Decimal(MAX_DIGITS, max(-number.as_tuple().exponent, 0)))
    return pl.lit(float(text), pl.Float64)


def _boolean(c: Compiler, node: exp.Boolean) -> pl.Expr:
    return pl.lit(bool(node.this), pl.Boolean)


def _null_literal(c: Compiler, node: exp.Null) -> pl.Expr:
    return typed_null()


def _paren(c: Compiler, node: exp.Paren) -> pl.Expr:
    return c.value(node.this).expr


def _neg(c: Compiler, node: exp.Neg) -> pl.Expr:
    value = c.value(node.this)
    c.expect(node, value, NUMERIC, "a number")
    if value.family == "null":
        return value.expr
    if value.family == "int":
        return checked_int(pl.lit(0, pl.Int128) - value.expr.cast(pl.Int128))
    return -value.expr


def _operands(c: Compiler, node: exp.Expression) -> tuple[Value, Value, set[str]]:
    left, right = c.value(node.this), c.value(node.expression)
    for value in (left, right):
        c.expect(node, value, NUMERIC, "numbers")
    return left, right, {left.family, right.family} - {"null"}


def _arithmetic(
    op: Callable[[pl.Expr, pl.Expr], pl.Expr],
) -> Callable[[Compiler, exp.Expression], pl.Expr]:
    """`+`, `-` or `*`: floats if either side is one, else exact decimals, else int64."""

    def compile_(c: Compiler, node: exp.Expression) -> pl.Expr:
        left, right, kinds = _operands(c, node)
        if "float" in kinds:
            return op(left.expr.cast(pl.Float64), right.expr.cast(pl.Float64))
        if "decimal" in kinds:
            return op(_product_scale(c, node, left, right), right.expr)
        if kinds:
            return checked_int(op(left.expr.cast(pl.Int128), right.expr.cast(pl.Int128)))
        return typed_null()

    return compile_


def _product_scale(c: Compiler, node: exp.Expression, left: Value, right: Value) -> pl.Expr:
    """The left operand of a decimal product rescaled so that polars, which keeps the larger
    scale of the two, keeps every digit of the product; sums need nothing."""
    if not isinstance(node, exp.Mul):
        return left.expr
    scale = decimal_scale(left) + decimal_scale(right)
    if scale > MAX_DIGITS:
        raise c.fail(
            node,
            f"the product needs {scale} decimal places, more than {MAX_DIGITS}: ROUND an operand",
        )
    return left.expr.cast(pl.Decimal(MAX_DIGITS, scale))


def _divide(c: Compiler, node: exp.Div) -> pl.Expr:
    """True division (NULL for a zero divisor): a decimal keeps 4 more places than the dividend
    when neither side is a float, else a float64."""
    left, right, kinds = _operands(c, node)
    divisor = pl.when(right.expr != 0).then(right.expr)
    if "decimal" in kinds and "float" not in kinds:
        scale = min(decimal_scale(left) + DIVISION_SCALE, MAX_DIGITS)
        return left.expr.cast(pl.Decimal(MAX_DIGITS, scale)) / divisor
    return left.expr.cast(pl.Float64) / divisor.cast(pl.Float64)


def _modulo(c: Compiler, node: exp.Mod) -> pl.Expr:
    """The remainder with the dividend's sign (SQL), NULL for a zero divisor."""
    left, right, kinds = _operands(c, node)
    dividend, divisor = left.expr, pl.when(right.expr != 0).then(right.expr)
    if "float" in kinds:
        dividend, divisor = dividend.cast(pl.Float64), divisor.cast(pl.Float64)
    elif kinds == {"int"}:
        dividend, divisor = dividend.cast(pl.Int64), divisor.cast(pl.Int64)
    remainder = dividend.abs() % divisor.abs()
    return pl.when(dividend < 0).then(-remainder).otherwise(remainder)


def _comparison(
    op: Callable[[pl.Expr, pl.Expr], pl.Expr],
) -> Callable[[Compiler, exp.Expression], pl.Expr]:
    def compile_(c: Compiler, node: exp.Expression) -> pl.Expr:
        return op(*c.comparable(node, c.value(node.this), c.value(node.expression)))

    return compile_


def _logic(
    op: Callable[[pl.Expr, pl.Expr], pl.Expr],
) -> Callable[[Compiler, exp.Expression], pl.Expr]:
    """AND / OR: polars' `&` and `|` are Kleene, as SQL's three-valued logic."""

    def compile_(c: Compiler, node: exp.Expression) -> pl.Expr:
        return op(c.boolean(node, c.value(node.this)), c.boolean(node, c.value(node.expression)))

    return compile_


def _not(c: Compiler, node: exp.Not) -> pl.Expr:
    return ~c.boolean(node, c.value(node.this))


def _is(c: Compiler, node: exp.Is) -> pl.Expr:
    value = c.value(node.this)
    if isinstance(node.expression, exp.Null):
        result = value.expr.is_null()
    else:
        truth = c.boolean(node, value)
        result = (truth if node.expression.this else ~truth).fill_null(False)
    return ~result if node.args.get("negate") else result


def _in(c: Compiler, node: exp.In) -> pl.Expr:
    """OR of equalities: NULL when nothing matches and a NULL took part, as in SQL."""
    subject = c.value(node.this)
    matches = [
        pl.Expr.__eq__(*c.comparable(node, subject, c.value(item))) for item in node.expressions
    ]
    return pl.any_horizontal(matches)


def _between(c: Compiler, node: exp.Between) -> pl.Expr:
    subject = c.value(node.this)
    low = c.comparable(node, subject, c.value(node.args["low"]))
    high = c.comparable(node, subject, c.value(node.args["high"]))
    return (low[0] >= low[1]) & (high[0] <= high[1])


def _like(c: Compiler, node: exp.Like | exp.ILike, escape: str | None = None) -> pl.Expr:
    value = c.value(node.this)
    c.expect(node, value, frozenset({"string"}), "text")
    pattern = string_literal(node.expression)
    if pattern is None:
        return typed_null(pl.Boolean)
    regex = like_regex(pattern, escape, case_insensitive=isinstance(node, exp.ILike))
    result = value.expr.str.contains(regex)
    return ~result if node.args.get("negate") else result


def _escape(c: Compiler, node: exp.Escape) -> pl.Expr:
    return _like(c, node.this, string_literal(node.expression))


#: The compiler of each name, literal and operator node type.
OPERATOR_NODES: Final[dict[type[exp.Expression], Callable[[Compiler, exp.Expression], pl.Expr]]] = {
    exp.Column: _column,
    exp.Literal: _literal,
    exp.Boolean: _boolean,
    exp.Null: _null_literal,
    exp.Paren: _paren,
    exp.Neg: _neg,
    exp.Add: _arithmetic(pl.Expr.__add__),
    exp.Sub: _arithmetic(pl.Expr.__sub__),
    exp.Mul: _arithmetic(pl.Expr.__mul__),
    exp.Div: _divide,
    exp.Mod: _modulo,
    exp.EQ: _comparison(pl.Expr.__eq__),
    exp.NEQ: _comparison(pl.Expr.__ne__),
    exp.LT: _comparison(pl.Expr.__lt__),
    exp.LTE: _comparison(pl.Expr.__le__),
    exp.GT: _comparison(pl.Expr.__gt__),
    exp.GTE: _comparison(pl.Expr.__ge__),
    exp.NullSafeEQ: _comparison(pl.Expr.eq_missing),
    exp.NullSafeNEQ: _comparison(pl.Expr.ne_missing),
    exp.And: _logic(pl.Expr.__and__),
    exp.Or: _logic(pl.Expr.__or__),
    exp.Not: _not,
    exp.Is: _is,
    exp.In: _in,
    exp.Between: _between,
    exp.Like: _like,
    exp.ILike: _like,
    exp.Escape: _escape,
}
