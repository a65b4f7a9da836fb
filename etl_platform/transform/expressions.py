"""Compile a computed column's expression (`specs.expressions` reads and checks it) to a polars
expression over the view's frame.

Each node's dtype is resolved against the frame's schema while compiling, so an operand of the
wrong type is refused with its position before any row is read. SQL's rules that polars does
not share are built in: NULL on division by zero, `%` with the dividend's sign, exact decimal
products and quotients, integer arithmetic without wrap-around. docs/expressions.md is the
reference for analysts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

import polars as pl
from sqlglot import exp

from etl_platform.specs.expression_text import (
    ExpressionError,
    date_literal,
    node_label,
    position_of,
    string_literal,
    timestamp_literal,
)
from etl_platform.specs.expressions import parse_expression, unknown_column
from etl_platform.transform.dtypes import cast_strings
from etl_platform.transform.expression_functions import FUNCTION_NODES
from etl_platform.transform.expression_operators import OPERATOR_NODES
from etl_platform.transform.expression_values import (
    MAX_DIGITS,
    NUMERIC,
    TEMPORAL,
    TIMESTAMP_TEXT,
    Value,
    convert_number,
    decimal_scale,
    described,
    family_of,
    shown_type,
    typed_null,
)


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
    return Compiler(schema).value(tree).expr


class Compiler:
    """Compiles the nodes of one checked tree against one frame schema."""

    def __init__(self, schema: Mapping[str, pl.DataType]):
        self.frame = pl.LazyFrame(schema=dict(schema))

    def value(self, node: exp.Expression) -> Value:
        return self.typed(COMPILED_NODES[type(node)](self, node), node)

    def typed(self, expr: pl.Expr, node: exp.Expression) -> Value:
        """`expr` with its dtype, resolved on the empty frame (polars' own typing errors are
        reported at `node`)."""
        try:
            dtype = self.frame.select(expr.alias("_")).collect_schema()["_"]
        except pl.exceptions.PolarsError as error:
            reason = str(error).strip().splitlines()[0]
            raise ExpressionError(f"{node_label(node)}: {reason}", position_of(node)) from None
        return Value(expr, dtype, node)

    def fail(self, node: exp.Expression, message: str) -> ExpressionError:
        return ExpressionError(message, position_of(node))

    def expect(self, node: exp.Expression, value: Value, families: frozenset[str], what: str):
        """Refuse `value` as an operand of `node` unless it is NULL or of `families`."""
        if value.family not in families | {"null"}:
            raise self.fail(node, f"{node_label(node)} needs {what}, got {described(value)}")

    def boolean(self, node: exp.Expression, value: Value) -> pl.Expr:
        self.expect(node, value, frozenset({"bool"}), "a condition (TRUE/FALSE)")
        return value.expr.cast(pl.Boolean)

    def comparable(
        self, node: exp.Expression, left: Value, right: Value
    ) -> tuple[pl.Expr, pl.Expr]:
        """Both sides as expressions polars compares the SQL way: numbers with numbers, a date
        with a timestamp (midnight UTC), a quoted literal with a date or timestamp."""
        kinds = {left.family, right.family}
        if "null" in kinds or (len(kinds) == 1 and "other" not in kinds):
            return left.expr, right.expr
        if kinds <= NUMERIC:
            if kinds == {"float", "decimal"}:
                return left.expr.cast(pl.Float64), right.expr.cast(pl.Float64)
            return left.expr, right.expr
        if kinds == TEMPORAL:
            target = left.dtype if left.family == "timestamp" else right.dtype
            return left.expr.cast(target), right.expr.cast(target)
        if left.family == "string" and right.family in TEMPORAL:
            return self.temporal_literal(left, right.dtype), right.expr
        if right.family == "string" and left.family in TEMPORAL:
            return left.expr, self.temporal_literal(right, left.dtype)
        raise self.fail(
            node, f"{node_label(node)} cannot compare {described(left)} with {described(right)}"
        )

    def temporal_literal(self, value: Value, dtype: pl.DataType) -> pl.Expr:
        """A quoted literal compared with a date or timestamp, as that type."""
        text = string_literal(value.node)
        if text is None:
            raise self.fail(
                value.node, f"CAST {described(value)} to compare it with a {family_of(dtype)}"
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

    def unify(self, node: exp.Expression, values: list[Value]) -> list[pl.Expr]:
        """The values cast to one type, for CASE, COALESCE, GREATEST and the like."""
        target = self.common_dtype(node, values)
        if target is None:
            return [value.expr for value in values]
        return [
            value.expr if value.dtype == target else value.expr.cast(target) for value in values
        ]

    def common_dtype(self, node: exp.Expression, values: list[Value]) -> pl.DataType | None:
        typed = [value for value in values if value.family != "null"]
        kinds = {value.family for value in typed}
        dtypes = {value.dtype for value in typed}
        if not typed:
            return None
        if len(dtypes) == 1:
            return typed[0].dtype
        if kinds == {"int"}:
            return pl.Int64()
        if kinds <= NUMERIC:
            if "float" in kinds:
                return pl.Float64()
            return pl.Decimal(MAX_DIGITS, max(decimal_scale(value) for value in typed))
        if kinds == TEMPORAL or kinds == {"timestamp"}:
            return next(v.dtype for v in typed if v.family == "timestamp")
        shown = ", ".join(dict.fromkeys(shown_type(value.dtype) for value in typed))
        raise self.fail(node, f"{node_label(node)} mixes {shown}: CAST the values to one type")

    def convert(self, node: exp.Expression, value: Value, target: pl.DataType) -> pl.Expr:
        """CAST: a value that does not convert becomes NULL."""
        source, kind = value.family, family_of(target)
        if value.dtype == target:
            return value.expr
        if source == "null":
            return typed_null(target)
        if kind == "string":
            return self.text(node, value)
        if source == "string":
            return cast_strings(value.expr, target)[0]
        if source in NUMERIC | {"bool"} and kind in NUMERIC | {"bool"}:
            return convert_number(value, target)
        if source in TEMPORAL and kind in TEMPORAL:
            return value.expr.dt.date() if kind == "date" else value.expr.cast(target)
        raise self.fail(node, f"cannot CAST {described(value)} to {shown_type(target)}")

    def text(self, node: exp.Expression, value: Value) -> pl.Expr:
        """A value as text: numbers as written, dates `YYYY-MM-DD`, timestamps
        `YYYY-MM-DD HH:MM:SS[.fraction]` in UTC, booleans `true`/`false`."""
        kind = value.family
        if kind == "string":
            return value.expr
        if kind == "null":
            return typed_null(pl.String)
        if kind in NUMERIC | {"bool"}:
            return value.expr.cast(pl.String)
        if kind == "date":
            return value.expr.dt.to_string("%Y-%m-%d")
        if kind == "timestamp":
            return value.expr.dt.to_string(TIMESTAMP_TEXT)
        raise self.fail(node, f"{node_label(node)} cannot make text of {described(value)}")


COMPILED_NODES: Final[dict[type[exp.Expression], Callable[[Compiler, exp.Expression], pl.Expr]]] = {
    **OPERATOR_NODES,
    **FUNCTION_NODES,
}
"""The compiler of every node type `specs.expressions` allows."""
