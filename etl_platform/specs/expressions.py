"""Computed view columns (`{expr: "...", type: ...}`): reading and checking the expression text,
with no dataframe library.

The text is parsed with sqlglot's generic SQL dialect (double quotes for names, single quotes for
text, `||` for concatenation) and walked through an allow-list of node types: anything else
(subqueries, window functions, unknown functions, `*`, parameters, several statements) is
refused, with its 1-based position in the text. Nothing here or in `transform.expressions`,
which compiles a checked tree to a polars expression, executes SQL. docs/expressions.md is the
analysts' reference.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Collection, Iterable
from typing import Final

from sqlglot import exp

from etl_platform.specs.expression_casts import cast_type_name
from etl_platform.specs.expression_text import (
    ExpressionError,
    date_literal,
    int_literal,
    node_label,
    parse_text,
    position_of,
    string_literal,
    timestamp_literal,
)

#: Function names an expression may call, for error messages and the docs.
ALLOWED_FUNCTIONS: Final = (
    "ABS",
    "CAST",
    "COALESCE",
    "CONCAT",
    "DATE",
    "DATE_TRUNC",
    "DAY",
    "EXTRACT",
    "GREATEST",
    "IF",
    "IFNULL",
    "LEAST",
    "LENGTH",
    "LOWER",
    "LTRIM",
    "MOD",
    "MONTH",
    "NULLIF",
    "ROUND",
    "RTRIM",
    "SUBSTRING",
    "TRIM",
    "TRY_CAST",
    "UPPER",
    "YEAR",
)
#: DATE_TRUNC units; the last three only for timestamps.
TRUNC_UNITS: Final = ("day", "week", "month", "quarter", "year", "hour", "minute", "second")
#: EXTRACT fields.
EXTRACT_UNITS: Final = (
    "YEAR",
    "QUARTER",
    "MONTH",
    "WEEK",
    "DAY",
    "HOUR",
    "MINUTE",
    "SECOND",
    "DOW",
    "DOY",
)

_MAX_DIGITS: Final = 38


def parse_expression(text: str) -> exp.Expression:
    """The checked syntax tree of `text` (columns are not checked: that needs the view).

    Raises:
        ExpressionError: unreadable text or a refused construct; the first problem.
    """
    checked = _check(text)
    if checked.problems:
        raise checked.problems[0]
    return checked.tree


def referenced_columns(text: str) -> list[str]:
    """The column names the expression reads, in the order they appear, each once.

    Raises:
        ExpressionError: as `parse_expression`.
    """
    checked = _check(text)
    if checked.problems:
        raise checked.problems[0]
    return list(dict.fromkeys(column.name for column in checked.columns))


def expression_problems(text: str, known_columns: Collection[str]) -> list[str]:
    """Every problem of `text` as a message, in text order: a syntax error, each refused
    construct, each unknown column (with a did-you-mean among `known_columns` when one is
    close). Empty when the expression is valid."""
    try:
        checked = _check(text)
    except ExpressionError as error:
        return [str(error)]
    problems = checked.problems + [
        ExpressionError(unknown_column(column.name, known_columns), position_of(column))
        for column in checked.columns
        if column.name not in known_columns
    ]
    problems.sort(key=lambda p: p.position or 0)
    return [str(p) for p in problems]


def unknown_column(name: str, known_columns: Collection[str]) -> str:
    """`unknown column 'totl' (did you mean 'total'?)`; the hint only when a name is close."""
    same_but_case = [known for known in known_columns if known.lower() == name.lower()]
    close = same_but_case or difflib.get_close_matches(name, list(known_columns), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown column '{name}'{hint}"


def trunc_unit(node: exp.DateTrunc) -> str:
    """DATE_TRUNC's unit in lower case (checked to be one of `TRUNC_UNITS`)."""
    unit = node.args.get("unit")
    return str(unit.name if isinstance(unit, exp.Expression) else unit).lower()


def extract_unit(node: exp.Extract) -> str:
    """EXTRACT's field in upper case (checked to be one of `EXTRACT_UNITS`)."""
    return node.this.name.upper()


@dataclasses.dataclass
class _Checked:
    tree: exp.Expression
    problems: list[ExpressionError]
    columns: list[exp.Column]


def _check(text: str) -> _Checked:
    """Parse `text` and walk it. Unreadable text raises; refused constructs are collected."""
    tree = parse_text(text)
    checker = _Checker()
    checker.value(tree)
    checker.columns.sort(key=lambda c: c.meta.get("start", 0))
    return _Checked(tree, checker.problems, checker.columns)


# --- the allow-list --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Rule:
    """An allowed node type: `values` are its operands (checked as expressions), `flags` are
    arguments that change nothing here, and `check` sees the arguments left."""

    values: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    check: Callable[[_Checker, exp.Expression], None] | None = None
    checked: tuple[str, ...] = ()


@dataclasses.dataclass
class _Checker:
    """Walks a tree through `_RULES`, collecting problems and the columns read."""

    problems: list[ExpressionError] = dataclasses.field(default_factory=list)
    columns: list[exp.Column] = dataclasses.field(default_factory=list)

    def problem(self, node: exp.Expression, message: str) -> None:
        self.problems.append(ExpressionError(message, position_of(node)))

    def value(self, node: exp.Expression) -> None:
        rule = _RULES.get(type(node))
        if rule is None:
            self.problem(node, _refusal(node))
            return
        known = {*rule.values, *rule.flags, *rule.checked}
        extra = [name for name, arg in node.args.items() if _is_set(arg) and name not in known]
        if extra:
            self.problem(node, f"this form of {node_label(node)} is not supported: {_shown(node)}")
            return
        for name in rule.values:
            self.values(node.args.get(name))
        if rule.check:
            rule.check(self, node)

    def values(self, arg: object) -> None:
        for item in arg if isinstance(arg, list) else [arg]:
            if isinstance(item, exp.Expression):
                self.value(item)


def _is_set(arg: object) -> bool:
    return arg is not None and arg is not False and arg != []


def _shown(node: exp.Expression) -> str:
    sql = node.sql()
    return f"`{sql if len(sql) <= 60 else sql[:57] + '...'}`"


def _refusal(node: exp.Expression) -> str:
    """Why a node outside the allow-list is refused, and what to write instead."""
    if isinstance(node, exp.Select) and node.parent is None:
        return "SELECT is not allowed: write just the expression, e.g. price * qty"
    if isinstance(node, exp.Query | exp.Exists):
        return "subqueries are not allowed"
    if isinstance(node, exp.Window):
        return "window functions (OVER) are not allowed"
    if isinstance(node, exp.AggFunc):
        return f"aggregate function {node_label(node)} is not allowed: an expression reads one row"
    if isinstance(node, exp.Star):
        return "`*` is not allowed: name the columns"
    if isinstance(node, exp.Placeholder | exp.Parameter):
        return "parameters are not allowed"
    if isinstance(node, exp.PropertyEQ):
        return "assignments (:=) are not allowed"
    if isinstance(node, exp.Alias):
        return "aliases are not allowed: the column's key in the view names the result"
    if isinstance(node, exp.Func):
        allowed = ", ".join(ALLOWED_FUNCTIONS)
        return f"function {node_label(node)} is not allowed; allowed functions: {allowed}"
    return f"{_shown(node)} is not allowed"


def _column(checker: _Checker, node: exp.Expression) -> None:
    if any(_is_set(node.args.get(part)) for part in ("table", "db", "catalog")):
        checker.problem(node, "qualified column names are not allowed: write the column alone")
    elif not isinstance(node.this, exp.Identifier):
        checker.problem(node, _refusal(node.this))
    else:
        checker.columns.append(node)


def _is(checker: _Checker, node: exp.Expression) -> None:
    if not isinstance(node.expression, exp.Null | exp.Boolean):
        checker.problem(node, "IS takes NULL, TRUE or FALSE (compare values with =)")


def _in(checker: _Checker, node: exp.Expression) -> None:
    query = node.args.get("query")
    if query is not None:
        checker.problem(query, "subqueries are not allowed")
    elif not node.expressions:
        checker.problem(node, "IN needs a list of values, e.g. status IN ('new', 'paid')")


def _like(checker: _Checker, node: exp.Expression) -> None:
    pattern = node.expression
    if string_literal(pattern) is None and not isinstance(pattern, exp.Null):
        checker.problem(node, f"the {node_label(node)} pattern must be a quoted string, e.g. 'A%'")


def _escape(checker: _Checker, node: exp.Expression) -> None:
    if not isinstance(node.this, exp.Like | exp.ILike):
        checker.problem(node, "ESCAPE belongs to a LIKE")
        return
    checker.value(node.this)
    escape = string_literal(node.expression)
    if escape is None or len(escape) != 1:
        checker.problem(node, "ESCAPE takes one character in quotes, e.g. ESCAPE '!'")


def _case(checker: _Checker, node: exp.Expression) -> None:
    for branch in node.args.get("ifs") or []:
        if not isinstance(branch, exp.If) or branch.args.get("false") is not None:
            checker.problem(branch, f"{_shown(branch)} is not allowed in CASE")
        else:
            checker.values([branch.this, branch.args.get("true")])


def _trim(checker: _Checker, node: exp.Expression) -> None:
    chars = node.expression
    if chars is not None and string_literal(chars) is None:
        checker.problem(node, "TRIM's characters must be a quoted string, e.g. TRIM('-' FROM x)")


def _substring(checker: _Checker, node: exp.Expression) -> None:
    start, length = node.args.get("start"), node.args.get("length")
    if start is None or (int_literal(start) or 0) < 1:
        checker.problem(
            node, "SUBSTRING's start must be a whole number >= 1, e.g. SUBSTRING(x, 1, 3)"
        )
    if length is not None and (int_literal(length) is None or int_literal(length) < 0):
        checker.problem(node, "SUBSTRING's length must be a whole number >= 0")


def _round(checker: _Checker, node: exp.Expression) -> None:
    digits = node.args.get("decimals")
    if digits is not None and int_literal(digits) not in range(_MAX_DIGITS + 1):
        checker.problem(
            node, "ROUND's digits must be a whole number from 0 to 38, e.g. ROUND(x, 2)"
        )


def _date_trunc(checker: _Checker, node: exp.Expression) -> None:
    unit = node.args.get("unit")
    if not isinstance(unit, exp.Literal | exp.Var) or trunc_unit(node) not in TRUNC_UNITS:
        units = ", ".join(f"'{u}'" for u in TRUNC_UNITS)
        checker.problem(node, f"DATE_TRUNC's unit must be one of {units}")


def _extract(checker: _Checker, node: exp.Expression) -> None:
    if not isinstance(node.this, exp.Var) or extract_unit(node) not in EXTRACT_UNITS:
        fields = ", ".join(EXTRACT_UNITS)
        checker.problem(node, f"EXTRACT takes one of {fields}, e.g. EXTRACT(YEAR FROM x)")


def _cast(checker: _Checker, node: exp.Expression) -> None:
    to = node.args.get("to")
    if not isinstance(to, exp.DataType):
        checker.problem(node, f"{_shown(node)} is not allowed")
        return
    try:
        name = cast_type_name(to)
    except ValueError as error:
        checker.problem(node, str(error))
        return
    text = string_literal(node.this)
    if text is None:
        return
    try:
        if name == "date":
            date_literal(text)
        elif name == "timestamp":
            timestamp_literal(text)
    except ValueError as error:
        checker.problem(node, str(error))


def _operands(*names: str, flags: Iterable[str] = ()) -> _Rule:
    return _Rule(values=names, flags=tuple(flags))


_BINARY: Final = (
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Mod,
    exp.EQ,
    exp.NEQ,
    exp.LT,
    exp.LTE,
    exp.GT,
    exp.GTE,
    exp.NullSafeEQ,
    exp.NullSafeNEQ,
    exp.And,
    exp.Or,
)
_UNARY: Final = (exp.Paren, exp.Neg, exp.Not, exp.Lower, exp.Upper, exp.Abs, exp.Length)
_UNARY_DATES: Final = (exp.Date, exp.Year, exp.Month, exp.Day)

#: The allow-list: every node type an expression may contain, with its allowed arguments.
_RULES: Final[dict[type[exp.Expression], _Rule]] = {
    exp.Column: _Rule(check=_column, checked=("this", "table", "db", "catalog")),
    exp.Literal: _Rule(flags=("this", "is_string")),
    exp.Boolean: _Rule(flags=("this",)),
    exp.Null: _Rule(),
    **{cls: _operands("this", "expression") for cls in _BINARY},
    exp.Div: _operands("this", "expression", flags=("typed", "safe")),
    exp.DPipe: _operands("this", "expression", flags=("safe",)),
    **{cls: _operands("this") for cls in (*_UNARY, *_UNARY_DATES)},
    exp.Is: _Rule(values=("this",), flags=("negate",), check=_is, checked=("expression",)),
    exp.In: _Rule(values=("this", "expressions"), check=_in, checked=("query",)),
    exp.Between: _operands("this", "low", "high"),
    exp.Like: _Rule(values=("this",), flags=("negate",), check=_like, checked=("expression",)),
    exp.ILike: _Rule(values=("this",), flags=("negate",), check=_like, checked=("expression",)),
    exp.Escape: _Rule(check=_escape, checked=("this", "expression")),
    exp.Case: _Rule(values=("this", "default"), check=_case, checked=("ifs",)),
    exp.If: _operands("this", "true", "false"),
    exp.Coalesce: _operands("this", "expressions", flags=("is_nvl", "is_null")),
    exp.Nullif: _operands("this", "expression"),
    exp.Concat: _operands("expressions", flags=("safe", "coalesce")),
    exp.Greatest: _operands("this", "expressions", flags=("ignore_nulls",)),
    exp.Least: _operands("this", "expressions", flags=("ignore_nulls",)),
    exp.Trim: _Rule(values=("this",), flags=("position",), check=_trim, checked=("expression",)),
    exp.Substring: _Rule(values=("this",), check=_substring, checked=("start", "length")),
    exp.Round: _Rule(
        values=("this",),
        flags=("casts_non_integer_decimals",),
        check=_round,
        checked=("decimals",),
    ),
    exp.DateTrunc: _Rule(
        values=("this",), flags=("input_type_preserved",), check=_date_trunc, checked=("unit",)
    ),
    exp.Extract: _Rule(values=("expression",), check=_extract, checked=("this",)),
    exp.Cast: _Rule(values=("this",), check=_cast, checked=("to",)),
    exp.TryCast: _Rule(
        values=("this",),
        flags=("safe", "requires_string", "null_on_text_overflow", "probe_date_format"),
        check=_cast,
        checked=("to",),
    ),
}
ALLOWED_NODES: Final = frozenset(_RULES)
"""The node types an expression may contain; `transform.expressions` compiles each."""
