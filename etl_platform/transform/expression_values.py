"""The values a compiled expression computes, as the typing rules of `transform.expressions`
see them: the kind of a dtype (int, decimal, date, ...), decimal scales, number conversions the
SQL way, date and time fields, and the regex of a LIKE pattern.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Final

import polars as pl
from sqlglot import exp

from etl_platform.transform.dtypes import type_name

NUMERIC: Final = frozenset({"int", "float", "decimal"})
TEMPORAL: Final = frozenset({"date", "timestamp"})
MAX_DIGITS: Final = 38
DIVISION_SCALE: Final = 4
"""Digits a decimal quotient keeps beyond the dividend's scale (MySQL's div_precision_increment)."""
TIMESTAMP: Final = pl.Datetime("us", "UTC")
TIMESTAMP_TEXT: Final = "%Y-%m-%d %H:%M:%S%.f"
TRUNC_EVERY: Final = {
    "day": "1d",
    "week": "1w",
    "month": "1mo",
    "quarter": "1q",
    "year": "1y",
    "hour": "1h",
    "minute": "1m",
    "second": "1s",
}
TIME_OF_DAY: Final = frozenset({"hour", "minute", "second"})
FIELDS: Final[dict[str, Callable[[pl.Expr], pl.Expr]]] = {
    "YEAR": lambda x: x.dt.year(),
    "QUARTER": lambda x: x.dt.quarter(),
    "MONTH": lambda x: x.dt.month(),
    "WEEK": lambda x: x.dt.week(),
    "DAY": lambda x: x.dt.day(),
    "HOUR": lambda x: x.dt.hour(),
    "MINUTE": lambda x: x.dt.minute(),
    "SECOND": lambda x: x.dt.second(),
    "DOW": lambda x: x.dt.weekday() % 7,
    "DOY": lambda x: x.dt.ordinal_day(),
}


@dataclasses.dataclass(frozen=True)
class Value:
    """A compiled node: its polars expression, dtype (`pl.Null` for a NULL literal) and node."""

    expr: pl.Expr
    dtype: pl.DataType
    node: exp.Expression

    @property
    def family(self) -> str:
        return family_of(self.dtype)


def family_of(dtype: pl.DataType) -> str:
    """The kind of value a dtype holds, as the typing rules see it."""
    if dtype == pl.Null:
        return "null"
    if dtype == pl.Boolean:
        return "bool"
    if dtype.is_integer():
        return "int"
    if dtype.is_float():
        return "float"
    if isinstance(dtype, pl.Decimal):
        return "decimal"
    if dtype == pl.String:
        return "string"
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "timestamp"
    return "other"


def decimal_scale(value: Value) -> int:
    return (value.dtype.scale or 0) if isinstance(value.dtype, pl.Decimal) else 0


def typed_null(dtype: pl.DataType | None = None) -> pl.Expr:
    return pl.lit(None, dtype)


def described(value: Value) -> str:
    """`int64 (column 'qty')`, `string`, `NULL`: how errors name an operand."""
    if value.family == "null":
        return "NULL"
    shown = shown_type(value.dtype)
    if isinstance(value.node, exp.Column):
        return f"{shown} (column '{value.node.name}')"
    return shown


def shown_type(dtype: pl.DataType) -> str:
    return type_name(dtype) if family_of(dtype) != "other" else str(dtype)


def convert_number(value: Value, target: pl.DataType) -> pl.Expr:
    """Numbers and booleans between each other: rounded half away from zero (as SQL does) when
    digits are dropped, NULL when the value does not fit."""
    expr, source, kind = value.expr, value.family, family_of(target)
    if kind == "bool":
        return expr != 0
    if source in {"float", "decimal"} and kind == "int":
        expr = expr.round(0, mode="half_away_from_zero")
    elif source in {"float", "decimal"} and kind == "decimal":
        scale = target.scale or 0  # type: ignore[attr-defined]
        if source == "float" or decimal_scale(value) > scale:
            expr = expr.round(scale, mode="half_away_from_zero")
    return expr.cast(target, strict=False)


def checked_int(expr: pl.Expr) -> pl.Expr:
    """A 128-bit integer result as int64; NULL when it does not fit."""
    return expr.cast(pl.Int64, strict=False)


def like_regex(pattern: str, escape: str | None = None, *, case_insensitive: bool = False) -> str:
    """The anchored regex of a LIKE pattern: `%` any text, `_` one character, everything else
    literal (written as `\\x{..}` so no character is special); `escape` makes the next
    character literal."""
    parts, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if char == escape and index + 1 < len(pattern):
            index += 1
            parts.append(_literal_char(pattern[index]))
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(_literal_char(char))
        index += 1
    flags = "si" if case_insensitive else "s"
    return f"(?{flags})^{''.join(parts)}$"


def _literal_char(char: str) -> str:
    return char if char.isalnum() else f"\\x{{{ord(char):X}}}"
