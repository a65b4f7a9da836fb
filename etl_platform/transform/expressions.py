"""Compile a computed column's expression (`specs.expressions` reads and checks it) to a polars
expression over the view's frame.

Each node's dtype is resolved against the frame's schema while compiling, so an operand of the
wrong type is refused with its position before any row is read. SQL's rules that polars does
not share are built in: NULL on division by zero, `%` with the dividend's sign, exact decimal
products and quotients, integer arithmetic without wrap-around. docs/expressions.md is the
reference for analysts.
"""

from __future__ import annotations

import dataclasses
import decimal
import re
from collections.abc import Callable, Mapping
from typing import Final

import polars as pl
from sqlglot import exp

from etl_platform.specs.expressions import (
    ExpressionError,
    cast_type_name,
    date_literal,
    extract_unit,
    int_literal,
    node_label,
    parse_expression,
    position_of,
    string_literal,
    timestamp_literal,
    trunc_unit,
    unknown_column,
)
from etl_platform.transform.dtypes import cast_strings, parse_type, storage_dtype, type_name

_NUMERIC: Final = frozenset({"int", "float", "decimal"})
_TEMPORAL: Final = frozenset({"date", "timestamp"})
_MAX_DIGITS: Final = 38
_DIVISION_SCALE: Final = 4
"""Digits a decimal quotient keeps beyond the dividend's scale (MySQL's div_precision_increment)."""
_TIMESTAMP: Final = pl.Datetime("us", "UTC")
_TIMESTAMP_TEXT: Final = "%Y-%m-%d %H:%M:%S%.f"
_EVERY: Final = {
    "day": "1d",
    "week": "1w",
    "month": "1mo",
    "quarter": "1q",
    "year": "1y",
    "hour": "1h",
    "minute": "1m",
    "second": "1s",
}
_TIME_OF_DAY: Final = frozenset({"hour", "minute", "second"})
_FIELDS: Final[dict[str, Callable[[pl.Expr], pl.Expr]]] = {
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


def compile_expression(text: str, schema: Mapping[str, pl.DataType]) -> pl.Expr:
    """The polars expression computing `text` over a frame with `schema`; the caller casts it
    to the column's declared type.

    Raises:
        ExpressionError: a refused construct, a column not in `schema`, or operands of the
            wrong type; names the position.
    """
    tree = parse_expression(text)
    missing = [column for column in tree.find_all(exp.Column) if column.name not in schema]
    if missing:
        first = min(missing, key=lambda column: position_of(column) or 0)
        raise ExpressionError(unknown_column(first.name, schema), position_of(first))
    return _Compiler(schema).value(tree).expr


@dataclasses.dataclass(frozen=True)
class _Value:
    """A compiled node: its polars expression, dtype (`pl.Null` for a NULL literal) and node."""

    expr: pl.Expr
    dtype: pl.DataType
    node: exp.Expression

    @property
    def family(self) -> str:
        return _family(self.dtype)


def _family(dtype: pl.DataType) -> str:
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


def _scale(value: _Value) -> int:
    return (value.dtype.scale or 0) if isinstance(value.dtype, pl.Decimal) else 0


def _null(dtype: pl.DataType | None = None) -> pl.Expr:
    return pl.lit(None, dtype)


class _Compiler:
    """Compiles the nodes of one checked tree against one frame schema."""

    def __init__(self, schema: Mapping[str, pl.DataType]):
        self.frame = pl.LazyFrame(schema=dict(schema))

    def value(self, node: exp.Expression) -> _Value:
        return self.typed(COMPILED_NODES[type(node)](self, node), node)

    def typed(self, expr: pl.Expr, node: exp.Expression) -> _Value:
        """`expr` with its dtype, resolved on the empty frame (polars' own typing errors are
        reported at `node`)."""
        try:
            dtype = self.frame.select(expr.alias("_")).collect_schema()["_"]
        except pl.exceptions.PolarsError as error:
            reason = str(error).strip().splitlines()[0]
            raise ExpressionError(f"{node_label(node)}: {reason}", position_of(node)) from None
        return _Value(expr, dtype, node)

    def fail(self, node: exp.Expression, message: str) -> ExpressionError:
        return ExpressionError(message, position_of(node))

    def expect(self, node: exp.Expression, value: _Value, families: frozenset[str], what: str):
        """Refuse `value` as an operand of `node` unless it is NULL or of `families`."""
        if value.family not in families | {"null"}:
            raise self.fail(node, f"{node_label(node)} needs {what}, got {_described(value)}")

    def boolean(self, node: exp.Expression, value: _Value) -> pl.Expr:
        self.expect(node, value, frozenset({"bool"}), "a condition (TRUE/FALSE)")
        return value.expr.cast(pl.Boolean)

    def comparable(
        self, node: exp.Expression, left: _Value, right: _Value
    ) -> tuple[pl.Expr, pl.Expr]:
        """Both sides as expressions polars compares the SQL way: numbers with numbers, a date
        with a timestamp (midnight UTC), a quoted literal with a date or timestamp."""
        kinds = {left.family, right.family}
        if "null" in kinds or (len(kinds) == 1 and "other" not in kinds):
            return left.expr, right.expr
        if kinds <= _NUMERIC:
            if kinds == {"float", "decimal"}:
                return left.expr.cast(pl.Float64), right.expr.cast(pl.Float64)
            return left.expr, right.expr
        if kinds == _TEMPORAL:
            target = left.dtype if left.family == "timestamp" else right.dtype
            return left.expr.cast(target), right.expr.cast(target)
        if left.family == "string" and right.family in _TEMPORAL:
            return self.temporal_literal(left, right.dtype), right.expr
        if right.family == "string" and left.family in _TEMPORAL:
            return left.expr, self.temporal_literal(right, left.dtype)
        raise self.fail(
            node, f"{node_label(node)} cannot compare {_described(left)} with {_described(right)}"
        )

    def temporal_literal(self, value: _Value, dtype: pl.DataType) -> pl.Expr:
        """A quoted literal compared with a date or timestamp, as that type."""
        text = string_literal(value.node)
        if text is None:
            raise self.fail(
                value.node, f"CAST {_described(value)} to compare it with a {_family(dtype)}"
            )
        try:
            if dtype == pl.Date:
                return pl.lit(date_literal(text), pl.Date)
            stamp = timestamp_literal(text)
        except ValueError as error:
            raise self.fail(value.node, str(error)) from None
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
            stamp = stamp.replace(tzinfo=None)
        return pl.lit(stamp, dtype)

    def unify(self, node: exp.Expression, values: list[_Value]) -> list[pl.Expr]:
        """The values cast to one type, for CASE, COALESCE, GREATEST and the like."""
        target = self.common_dtype(node, values)
        if target is None:
            return [value.expr for value in values]
        return [
            value.expr if value.dtype == target else value.expr.cast(target) for value in values
        ]

    def common_dtype(self, node: exp.Expression, values: list[_Value]) -> pl.DataType | None:
        typed = [value for value in values if value.family != "null"]
        kinds = {value.family for value in typed}
        dtypes = {value.dtype for value in typed}
        if not typed:
            return None
        if len(dtypes) == 1:
            return typed[0].dtype
        if kinds == {"int"}:
            return pl.Int64()
        if kinds <= _NUMERIC:
            if "float" in kinds:
                return pl.Float64()
            return pl.Decimal(_MAX_DIGITS, max(_scale(value) for value in typed))
        if kinds == _TEMPORAL or kinds == {"timestamp"}:
            return next(v.dtype for v in typed if v.family == "timestamp")
        shown = ", ".join(dict.fromkeys(_type(value.dtype) for value in typed))
        raise self.fail(node, f"{node_label(node)} mixes {shown}: CAST the values to one type")

    def convert(self, node: exp.Expression, value: _Value, target: pl.DataType) -> pl.Expr:
        """CAST: a value that does not convert becomes NULL."""
        source, kind = value.family, _family(target)
        if value.dtype == target:
            return value.expr
        if source == "null":
            return _null(target)
        if kind == "string":
            return self.text(node, value)
        if source == "string":
            return cast_strings(value.expr, target)[0]
        if source in _NUMERIC | {"bool"} and kind in _NUMERIC | {"bool"}:
            return _convert_number(value, target)
        if source in _TEMPORAL and kind in _TEMPORAL:
            return value.expr.dt.date() if kind == "date" else value.expr.cast(target)
        raise self.fail(node, f"cannot CAST {_described(value)} to {_type(target)}")

    def text(self, node: exp.Expression, value: _Value) -> pl.Expr:
        """A value as text: numbers as written, dates `YYYY-MM-DD`, timestamps
        `YYYY-MM-DD HH:MM:SS[.fraction]` in UTC, booleans `true`/`false`."""
        kind = value.family
        if kind == "string":
            return value.expr
        if kind == "null":
            return _null(pl.String)
        if kind in _NUMERIC | {"bool"}:
            return value.expr.cast(pl.String)
        if kind == "date":
            return value.expr.dt.to_string("%Y-%m-%d")
        if kind == "timestamp":
            return value.expr.dt.to_string(_TIMESTAMP_TEXT)
        raise self.fail(node, f"{node_label(node)} cannot make text of {_described(value)}")


def _described(value: _Value) -> str:
    """`int64 (column 'qty')`, `string`, `NULL`: how errors name an operand."""
    if value.family == "null":
        return "NULL"
    shown = _type(value.dtype)
    if isinstance(value.node, exp.Column):
        return f"{shown} (column '{value.node.name}')"
    return shown


def _type(dtype: pl.DataType) -> str:
    return type_name(dtype) if _family(dtype) != "other" else str(dtype)


def _convert_number(value: _Value, target: pl.DataType) -> pl.Expr:
    """Numbers and booleans between each other: rounded half away from zero (as SQL does) when
    digits are dropped, NULL when the value does not fit."""
    expr, source, kind = value.expr, value.family, _family(target)
    if kind == "bool":
        return expr != 0
    if source in {"float", "decimal"} and kind == "int":
        expr = expr.round(0, mode="half_away_from_zero")
    elif source in {"float", "decimal"} and kind == "decimal":
        scale = target.scale or 0  # type: ignore[attr-defined]
        if source == "float" or _scale(value) > scale:
            expr = expr.round(scale, mode="half_away_from_zero")
    return expr.cast(target, strict=False)


# --- node compilers --------------------------------------------------------------------------


def _column(c: _Compiler, node: exp.Column) -> pl.Expr:
    return pl.col(node.name)


def _literal(c: _Compiler, node: exp.Literal) -> pl.Expr:
    """Quoted text is a string, `12` an integer, `1.50` an exact decimal, `1e3` a float."""
    text = node.this
    if node.is_string:
        return pl.lit(text, pl.String)
    if re.fullmatch(r"\d+", text) and int(text) < 2**63:
        return pl.lit(int(text))
    if re.fullmatch(r"\d*\.?\d*", text):
        number = decimal.Decimal(text)
        digits = len(number.as_tuple().digits)
        if digits > _MAX_DIGITS:
            raise c.fail(node, f"the number {text} has more than {_MAX_DIGITS} digits")
        return pl.lit(number, pl.Decimal(_MAX_DIGITS, max(-number.as_tuple().exponent, 0)))
    return pl.lit(float(text), pl.Float64)


def _boolean(c: _Compiler, node: exp.Boolean) -> pl.Expr:
    return pl.lit(bool(node.this), pl.Boolean)


def _null_literal(c: _Compiler, node: exp.Null) -> pl.Expr:
    return _null()


def _paren(c: _Compiler, node: exp.Paren) -> pl.Expr:
    return c.value(node.this).expr


def _neg(c: _Compiler, node: exp.Neg) -> pl.Expr:
    value = c.value(node.this)
    c.expect(node, value, _NUMERIC, "a number")
    if value.family == "null":
        return value.expr
    if value.family == "int":
        return _checked_int(pl.lit(0, pl.Int128) - value.expr.cast(pl.Int128))
    return -value.expr


def _checked_int(expr: pl.Expr) -> pl.Expr:
    """A 128-bit integer result as int64; NULL when it does not fit."""
    return expr.cast(pl.Int64, strict=False)


def _operands(c: _Compiler, node: exp.Expression) -> tuple[_Value, _Value, set[str]]:
    left, right = c.value(node.this), c.value(node.expression)
    for value in (left, right):
        c.expect(node, value, _NUMERIC, "numbers")
    return left, right, {left.family, right.family} - {"null"}


def _arithmetic(
    op: Callable[[pl.Expr, pl.Expr], pl.Expr],
) -> Callable[[_Compiler, exp.Expression], pl.Expr]:
    """`+`, `-` or `*`: floats if either side is one, else exact decimals, else int64."""

    def compile_(c: _Compiler, node: exp.Expression) -> pl.Expr:
        left, right, kinds = _operands(c, node)
        if "float" in kinds:
            return op(left.expr.cast(pl.Float64), right.expr.cast(pl.Float64))
        if "decimal" in kinds:
            return op(_product_scale(c, node, left, right), right.expr)
        if kinds:
            return _checked_int(op(left.expr.cast(pl.Int128), right.expr.cast(pl.Int128)))
        return _null()

    return compile_


def _product_scale(c: _Compiler, node: exp.Expression, left: _Value, right: _Value) -> pl.Expr:
    """The left operand of a decimal product rescaled so that polars, which keeps the larger
    scale of the two, keeps every digit of the product; sums need nothing."""
    if not isinstance(node, exp.Mul):
        return left.expr
    scale = _scale(left) + _scale(right)
    if scale > _MAX_DIGITS:
        raise c.fail(
            node,
            f"the product needs {scale} decimal places, more than {_MAX_DIGITS}: ROUND an operand",
        )
    return left.expr.cast(pl.Decimal(_MAX_DIGITS, scale))


def _divide(c: _Compiler, node: exp.Div) -> pl.Expr:
    """True division (NULL for a zero divisor): a decimal keeps 4 more places than the dividend
    when neither side is a float, else a float64."""
    left, right, kinds = _operands(c, node)
    divisor = pl.when(right.expr != 0).then(right.expr)
    if "decimal" in kinds and "float" not in kinds:
        scale = min(_scale(left) + _DIVISION_SCALE, _MAX_DIGITS)
        return left.expr.cast(pl.Decimal(_MAX_DIGITS, scale)) / divisor
    return left.expr.cast(pl.Float64) / divisor.cast(pl.Float64)


def _modulo(c: _Compiler, node: exp.Mod) -> pl.Expr:
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
) -> Callable[[_Compiler, exp.Expression], pl.Expr]:
    def compile_(c: _Compiler, node: exp.Expression) -> pl.Expr:
        return op(*c.comparable(node, c.value(node.this), c.value(node.expression)))

    return compile_


def _logic(
    op: Callable[[pl.Expr, pl.Expr], pl.Expr],
) -> Callable[[_Compiler, exp.Expression], pl.Expr]:
    """AND / OR: polars' `&` and `|` are Kleene, as SQL's three-valued logic."""

    def compile_(c: _Compiler, node: exp.Expression) -> pl.Expr:
        return op(c.boolean(node, c.value(node.this)), c.boolean(node, c.value(node.expression)))

    return compile_


def _not(c: _Compiler, node: exp.Not) -> pl.Expr:
    return ~c.boolean(node, c.value(node.this))


def _is(c: _Compiler, node: exp.Is) -> pl.Expr:
    value = c.value(node.this)
    if isinstance(node.expression, exp.Null):
        result = value.expr.is_null()
    else:
        truth = c.boolean(node, value)
        result = (truth if node.expression.this else ~truth).fill_null(False)
    return ~result if node.args.get("negate") else result


def _in(c: _Compiler, node: exp.In) -> pl.Expr:
    """OR of equalities: NULL when nothing matches and a NULL took part, as in SQL."""
    subject = c.value(node.this)
    matches = [
        pl.Expr.__eq__(*c.comparable(node, subject, c.value(item))) for item in node.expressions
    ]
    return pl.any_horizontal(matches)


def _between(c: _Compiler, node: exp.Between) -> pl.Expr:
    subject = c.value(node.this)
    low = c.comparable(node, subject, c.value(node.args["low"]))
    high = c.comparable(node, subject, c.value(node.args["high"]))
    return (low[0] >= low[1]) & (high[0] <= high[1])


def _like(c: _Compiler, node: exp.Like | exp.ILike, escape: str | None = None) -> pl.Expr:
    value = c.value(node.this)
    c.expect(node, value, frozenset({"string"}), "text")
    pattern = string_literal(node.expression)
    if pattern is None:
        return _null(pl.Boolean)
    regex = like_regex(pattern, escape, case_insensitive=isinstance(node, exp.ILike))
    result = value.expr.str.contains(regex)
    return ~result if node.args.get("negate") else result


def _escape(c: _Compiler, node: exp.Escape) -> pl.Expr:
    return _like(c, node.this, string_literal(node.expression))


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


def _case(c: _Compiler, node: exp.Case) -> pl.Expr:
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


def _if(c: _Compiler, node: exp.If) -> pl.Expr:
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
    return chain.otherwise(results[len(conditions)] if len(results) > len(conditions) else _null())


def _arguments(c: _Compiler, node: exp.Expression) -> list[_Value]:
    items = [node.this] if node.args.get("this") is not None else []
    return [c.value(item) for item in [*items, *node.expressions]]


def _coalesce(c: _Compiler, node: exp.Coalesce) -> pl.Expr:
    return pl.coalesce(c.unify(node, _arguments(c, node)))


def _nullif(c: _Compiler, node: exp.Nullif) -> pl.Expr:
    first = c.value(node.this)
    left, right = c.comparable(node, first, c.value(node.expression))
    return pl.when(left == right).then(_null()).otherwise(first.expr)


def _greatest(c: _Compiler, node: exp.Greatest) -> pl.Expr:
    """The largest non-NULL argument (NULL only when all are)."""
    return pl.max_horizontal(c.unify(node, _arguments(c, node)))


def _least(c: _Compiler, node: exp.Least) -> pl.Expr:
    return pl.min_horizontal(c.unify(node, _arguments(c, node)))


def _concat(c: _Compiler, node: exp.Concat) -> pl.Expr:
    """CONCAT skips NULL arguments (PostgreSQL, DuckDB)."""
    parts = [c.text(node, c.value(item)) for item in node.expressions]
    return pl.concat_str(parts, ignore_nulls=True)


def _pipes(c: _Compiler, node: exp.DPipe) -> pl.Expr:
    """`||` is NULL when either side is (standard SQL)."""
    parts = [c.text(node, c.value(node.this)), c.text(node, c.value(node.expression))]
    return pl.concat_str(parts, ignore_nulls=False)


def _string_function(
    method: Callable[[pl.Expr], pl.Expr],
) -> Callable[[_Compiler, exp.Expression], pl.Expr]:
    def compile_(c: _Compiler, node: exp.Expression) -> pl.Expr:
        value = c.value(node.this)
        c.expect(node, value, frozenset({"string"}), "text")
        return method(value.expr)

    return compile_


def _trim(c: _Compiler, node: exp.Trim) -> pl.Expr:
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


def _substring(c: _Compiler, node: exp.Substring) -> pl.Expr:
    value = c.value(node.this)
    c.expect(node, value, frozenset({"string"}), "text")
    start = int_literal(node.args["start"]) or 1
    return value.expr.str.slice(start - 1, int_literal(node.args.get("length")))


def _abs(c: _Compiler, node: exp.Abs) -> pl.Expr:
    value = c.value(node.this)
    c.expect(node, value, _NUMERIC, "a number")
    if value.family == "int":
        return _checked_int(value.expr.cast(pl.Int128).abs())
    return value.expr.abs()


def _round(c: _Compiler, node: exp.Round) -> pl.Expr:
    """Half away from zero; a decimal keeps `digits` places at most; an integer is unchanged."""
    value = c.value(node.this)
    c.expect(node, value, _NUMERIC, "a number")
    digits = int_literal(node.args.get("decimals")) or 0
    if value.family in {"int", "null"}:
        return value.expr
    rounded = value.expr.round(digits, mode="half_away_from_zero")
    if value.family == "decimal" and digits < _scale(value):
        return rounded.cast(pl.Decimal(_MAX_DIGITS, digits))
    return rounded


def _date(c: _Compiler, node: exp.Date) -> pl.Expr:
    """The UTC day of a timestamp; text as `cast_strings` reads a date or a timestamp."""
    value = c.value(node.this)
    c.expect(node, value, frozenset({"date", "timestamp", "string"}), "a timestamp, date or text")
    if value.family == "timestamp":
        return value.expr.dt.date()
    if value.family == "string":
        as_date = cast_strings(value.expr, pl.Date())[0]
        return pl.coalesce(as_date, cast_strings(value.expr, _TIMESTAMP)[0].dt.date())
    return value.expr.cast(pl.Date)


def _date_trunc(c: _Compiler, node: exp.DateTrunc) -> pl.Expr:
    """The start of the unit containing the value, of the value's own type (weeks start on
    Monday, all in UTC)."""
    unit = trunc_unit(node)
    value = c.value(node.this)
    c.expect(node, value, _TEMPORAL, "a date or timestamp")
    if value.family == "date" and unit in _TIME_OF_DAY:
        raise c.fail(node, f"DATE_TRUNC('{unit}', ...) needs a timestamp, got a date")
    if value.family == "null":
        return value.expr
    return value.expr.dt.truncate(_EVERY[unit])


def _field(c: _Compiler, node: exp.Expression, field: str, operand: exp.Expression) -> pl.Expr:
    value = c.value(operand)
    c.expect(node, value, _TEMPORAL, "a date or timestamp")
    if value.family == "date" and field.lower() in _TIME_OF_DAY:
        raise c.fail(node, f"EXTRACT({field} FROM ...) needs a timestamp, got a date")
    if value.family == "null":
        return _null(pl.Int64)
    return _FIELDS[field](value.expr).cast(pl.Int64)


def _extract(c: _Compiler, node: exp.Extract) -> pl.Expr:
    return _field(c, node, extract_unit(node), node.expression)


def _part(field: str) -> Callable[[_Compiler, exp.Expression], pl.Expr]:
    """YEAR(x), MONTH(x), DAY(x): EXTRACT(field FROM x)."""

    def compile_(c: _Compiler, node: exp.Expression) -> pl.Expr:
        return _field(c, node, field, node.this)

    return compile_


def _cast(c: _Compiler, node: exp.Cast) -> pl.Expr:
    target = storage_dtype(parse_type(cast_type_name(node.args["to"])))
    text = string_literal(node.this)
    if text is not None and target == pl.Date:
        return pl.lit(date_literal(text), pl.Date)
    if text is not None and target == _TIMESTAMP:
        return pl.lit(timestamp_literal(text), _TIMESTAMP)
    return c.convert(node, c.value(node.this), target)


COMPILED_NODES: Final[
    dict[type[exp.Expression], Callable[[_Compiler, exp.Expression], pl.Expr]]
] = {
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
