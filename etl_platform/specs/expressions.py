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
import datetime as dt
import difflib
import re
from collections.abc import Callable, Collection, Iterable
from typing import Final

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, SqlglotError, TokenError
from sqlglot.tokens import Token, TokenType

from etl_platform.specs.types import SIMPLE_TYPES, parse_type_name

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

_DIALECT: Final = Dialect.get_or_raise(None)
_MAX_DIGITS: Final = 38
_DATE_TEXT: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_WHOLE: Final = re.compile(r"[0-9]+")
_SQL_TYPES: Final = {
    exp.DataType.Type.TINYINT: "int8",
    exp.DataType.Type.SMALLINT: "int16",
    exp.DataType.Type.MEDIUMINT: "int32",
    exp.DataType.Type.INT: "int32",
    exp.DataType.Type.BIGINT: "int64",
    exp.DataType.Type.UTINYINT: "uint8",
    exp.DataType.Type.USMALLINT: "uint16",
    exp.DataType.Type.UMEDIUMINT: "uint32",
    exp.DataType.Type.UINT: "uint32",
    exp.DataType.Type.UBIGINT: "uint64",
    exp.DataType.Type.FLOAT: "float32",
    exp.DataType.Type.DOUBLE: "float64",
    exp.DataType.Type.BOOLEAN: "bool",
    exp.DataType.Type.TEXT: "string",
    exp.DataType.Type.VARCHAR: "string",
    exp.DataType.Type.CHAR: "string",
    exp.DataType.Type.NCHAR: "string",
    exp.DataType.Type.NVARCHAR: "string",
    exp.DataType.Type.DATE: "date",
    exp.DataType.Type.DATETIME: "timestamp",
    exp.DataType.Type.TIMESTAMP: "timestamp",
    exp.DataType.Type.TIMESTAMPTZ: "timestamp",
    exp.DataType.Type.TIMESTAMPLTZ: "timestamp",
    exp.DataType.Type.TIMESTAMPNTZ: "timestamp",
}
_CAST_TYPES: Final = (
    "int8..int64, uint8..uint64, float32, float64, bool, string, date, timestamp, "
    "decimal(p,s), or INT, BIGINT, SMALLINT, TINYINT, DOUBLE, FLOAT, BOOLEAN, VARCHAR, TEXT, "
    "DATE, TIMESTAMP, DATETIME, DECIMAL(p,s)"
)


_OPERATORS: Final[dict[type[exp.Expression], str]] = {
    exp.Add: "+",
    exp.Sub: "-",
    exp.Mul: "*",
    exp.Div: "/",
    exp.Mod: "%",
    exp.Neg: "unary -",
    exp.EQ: "=",
    exp.NEQ: "<>",
    exp.LT: "<",
    exp.LTE: "<=",
    exp.GT: ">",
    exp.GTE: ">=",
    exp.NullSafeEQ: "IS NOT DISTINCT FROM",
    exp.NullSafeNEQ: "IS DISTINCT FROM",
    exp.DPipe: "||",
    exp.Escape: "LIKE ... ESCAPE",
}


class ExpressionError(ValueError):
    """A refused or unreadable expression. The message starts with the 1-based position in the
    text when it is known, e.g. "at position 12: function FOO is not allowed; ..."."""

    position: int | None

    def __init__(self, message: str, position: int | None = None):
        super().__init__(message if position is None else f"at position {position}: {message}")
        self.position = position
        self.reason = message


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


def position_of(node: exp.Expression) -> int | None:
    """The 1-based position in the text where `node` starts (or its operator, for a binary
    operator), when the parse located it."""
    start = node.meta.get("start")
    return None if start is None else start + 1


def node_label(node: exp.Expression) -> str:
    """How an error names a node: its operator (`+`, `LIKE`) or function name (`DATE_TRUNC`)."""
    if type(node) in _OPERATORS:
        return _OPERATORS[type(node)]
    if isinstance(node, exp.If) and isinstance(node.parent, exp.Case):
        return "WHEN"
    if isinstance(node, exp.Anonymous):
        return str(node.name).upper()
    if isinstance(node, exp.Func):
        return node.sql_name()
    return node.key.upper()


def cast_type_name(to: exp.DataType) -> str:
    """The spec type name (`int32`, `decimal(12,2)`, ...) a CAST's target type stands for.

    Raises:
        ValueError: a type without a spec type; lists the valid ones.
    """
    kind = to.this
    if kind == exp.DataType.Type.DECIMAL:
        return _decimal_type_name(to)
    if kind in _SQL_TYPES:
        return _SQL_TYPES[kind]
    name = str(to.args.get("kind") or "").lower()
    if kind == exp.DataType.Type.USERDEFINED and name in SIMPLE_TYPES and name != "json":
        return name
    raise ValueError(f"CAST to {to.sql()} is not allowed; types: {_CAST_TYPES}")


def trunc_unit(node: exp.DateTrunc) -> str:
    """DATE_TRUNC's unit in lower case (checked to be one of `TRUNC_UNITS`)."""
    unit = node.args.get("unit")
    return str(unit.name if isinstance(unit, exp.Expression) else unit).lower()


def extract_unit(node: exp.Extract) -> str:
    """EXTRACT's field in upper case (checked to be one of `EXTRACT_UNITS`)."""
    return node.this.name.upper()


def int_literal(node: exp.Expression | None) -> int | None:
    """The value of a whole-number literal (`2`, `-1`), else None."""
    if isinstance(node, exp.Neg):
        inner = int_literal(node.this)
        return None if inner is None else -inner
    if isinstance(node, exp.Literal) and not node.is_string and _WHOLE.fullmatch(node.this):
        return int(node.this)
    return None


def string_literal(node: exp.Expression | None) -> str | None:
    """The text of a quoted string literal, else None."""
    if isinstance(node, exp.Literal) and node.is_string:
        return node.this
    return None


def date_literal(text: str) -> dt.date:
    """A `YYYY-MM-DD` date.

    Raises:
        ValueError: not such a date.
    """
    if not _DATE_TEXT.fullmatch(text):
        raise ValueError(f"'{text}' is not a date (YYYY-MM-DD)")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a date (YYYY-MM-DD)") from None


def timestamp_literal(text: str) -> dt.datetime:
    """An ISO-8601 timestamp as UTC; without an offset it is read as UTC.

    Raises:
        ValueError: not such a timestamp.
    """
    problem = f"'{text}' is not a timestamp (YYYY-MM-DD HH:MM:SS, optional fraction and offset)"
    if not _DATE_TEXT.match(text):
        raise ValueError(problem)
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(problem) from None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


# --- parsing ---------------------------------------------------------------------------------


@dataclasses.dataclass
class _Checked:
    tree: exp.Expression
    problems: list[ExpressionError]
    columns: list[exp.Column]


def _check(text: str) -> _Checked:
    """Parse `text` and walk it. Unreadable text raises; refused constructs are collected."""
    tree = _parse(text)
    checker = _Checker()
    checker.value(tree)
    checker.columns.sort(key=lambda c: c.meta.get("start", 0))
    return _Checked(tree, checker.problems, checker.columns)


def _parse(text: str) -> exp.Expression:
    """One expression's tree, every node given a start position where one can be found."""
    if not text.strip():
        raise ExpressionError("the expression is empty")
    tokens = _tokens(text)
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            raise ExpressionError("`;` is not allowed: write one expression", token.start + 1)
    try:
        trees = _DIALECT.parser().parse(tokens, text)
    except ParseError as error:
        raise _syntax_error(error, text) from None
    except (SqlglotError, RecursionError) as error:
        raise ExpressionError(f"cannot read the expression: {error}") from None
    if len(trees) != 1 or trees[0] is None:
        raise ExpressionError("write exactly one expression")
    _locate(trees[0], tokens)
    return trees[0]


def _tokens(text: str) -> list[Token]:
    try:
        return _DIALECT.tokenize(text)
    except TokenError:
        start = _unclosed_quote(text)
        if start is not None:
            raise ExpressionError(f"the quote {text[start]} is not closed", start + 1) from None
        raise ExpressionError("cannot read the expression") from None


def _unclosed_quote(text: str) -> int | None:
    """Where a quote opens that does not close (a doubled quote inside is an escape)."""
    index, opened = 0, None
    while index < len(text):
        char = text[index]
        if opened is None:
            if char in "'\"`":
                opened = index
            elif text.startswith("--", index):
                index = text.find("\n", index) % (len(text) + 1)
        elif char == text[opened]:
            if text.startswith(char * 2, index):
                index += 1
            else:
                opened = None
        index += 1
    return opened


def _syntax_error(error: ParseError, text: str) -> ExpressionError:
    """sqlglot's error as `at position N: syntax error near 'x': ...`."""
    if not error.errors:
        return ExpressionError(f"syntax error: {error}")
    first = error.errors[0]
    highlight = str(first.get("highlight") or "")
    position = _offset(text, first.get("line"), first.get("col"))
    if position is not None:
        position = max(position - len(highlight) + 1, 0) + 1
    description = str(first.get("description") or "")
    missing = re.fullmatch(
        r"Required keyword: '(\w+)' missing for <class '[\w.]*\.(\w+)'>", description
    )
    if missing:
        description = f"{missing[2].upper()} is missing an argument"
    near = f" near '{highlight}'" if highlight else ""
    return ExpressionError(f"syntax error{near}: {description}", position)


def _offset(text: str, line: object, col: object) -> int | None:
    """0-based offset of a 1-based (line, col)."""
    if not isinstance(line, int) or not isinstance(col, int):
        return None
    lines = text.split("\n")
    return sum(len(part) + 1 for part in lines[: line - 1]) + col - 1


# --- positions -------------------------------------------------------------------------------

#: Nodes the parser leaves without a position: the token that starts them ("prefix", searched
#: before their first operand) or their operator ("infix", searched after their first operand).
_ANCHORS: Final[dict[type[exp.Expression], tuple[tuple[str, frozenset[str]], ...]]] = {
    cls: tuple((mode, frozenset(texts)) for mode, texts in anchors)
    for cls, anchors in {
        exp.Select: [("prefix", {"SELECT"})],
        exp.Subquery: [("prefix", {"("})],
        exp.Paren: [("prefix", {"("})],
        exp.Tuple: [("prefix", {"("})],
        exp.Case: [("prefix", {"CASE"})],
        exp.If: [("prefix", {"IF", "IIF", "WHEN"})],
        exp.Cast: [("prefix", {"CAST", "DATE", "TIMESTAMP"}), ("infix", {"::"})],
        exp.TryCast: [("prefix", {"TRY_CAST"})],
        exp.Extract: [("prefix", {"EXTRACT"})],
        exp.Trim: [("prefix", {"TRIM", "LTRIM", "RTRIM"})],
        exp.Substring: [("prefix", {"SUBSTRING", "SUBSTR"})],
        exp.Interval: [("prefix", {"INTERVAL"})],
        exp.Exists: [("prefix", {"EXISTS"})],
        exp.Not: [("prefix", {"NOT"}), ("infix", {"NOT"})],
        exp.Neg: [("prefix", {"-"})],
        exp.Star: [("prefix", {"*"})],
        exp.Placeholder: [("prefix", {"?", ":"})],
        exp.Parameter: [("prefix", {"@", "$"})],
        exp.Boolean: [("prefix", {"TRUE", "FALSE"})],
        exp.Null: [("prefix", {"NULL"})],
        exp.Add: [("infix", {"+"})],
        exp.Sub: [("infix", {"-"})],
        exp.Mul: [("infix", {"*"})],
        exp.Div: [("infix", {"/"})],
        exp.Mod: [("infix", {"%"})],
        exp.EQ: [("infix", {"="})],
        exp.NEQ: [("infix", {"<>", "!="})],
        exp.LT: [("infix", {"<"})],
        exp.LTE: [("infix", {"<="})],
        exp.GT: [("infix", {">"})],
        exp.GTE: [("infix", {">="})],
        exp.And: [("infix", {"AND"})],
        exp.Or: [("infix", {"OR"})],
        exp.DPipe: [("infix", {"||"})],
        exp.Is: [("infix", {"IS"})],
        exp.NullSafeEQ: [("infix", {"IS"})],
        exp.NullSafeNEQ: [("infix", {"IS"})],
        exp.In: [("infix", {"IN"})],
        exp.Between: [("infix", {"BETWEEN"})],
        exp.Like: [("infix", {"LIKE"})],
        exp.ILike: [("infix", {"ILIKE"})],
        exp.Escape: [("infix", {"ESCAPE"})],
        exp.Window: [("infix", {"OVER"})],
        exp.Alias: [("infix", {"AS"})],
        exp.PropertyEQ: [("infix", {":="})],
        exp.Collate: [("infix", {"COLLATE"})],
        exp.Bracket: [("infix", {"["})],
    }.items()
}
_UNANCHORED_TOKENS: Final = {TokenType.STRING, TokenType.IDENTIFIER, TokenType.NUMBER}


def _locate(tree: exp.Expression, tokens: list[Token]) -> None:
    """Give every node a `meta["start"]` (0-based): the parser sets it for names, literals and
    functions only. Children go first and claim their anchor tokens, so a nested operator is
    not mistaken for its parent's."""
    candidates = [t for t in tokens if t.token_type not in _UNANCHORED_TOKENS]
    claimed = {node.meta["start"] for node in tree.walk() if "start" in node.meta}

    def visit(node: exp.Expression) -> int | None:
        starts = [s for s in (visit(child) for child in node.iter_expressions()) if s is not None]
        if "start" not in node.meta:
            first = min(starts, default=None)
            this = node.args.get("this")
            after = _subtree_start(this) if isinstance(this, exp.Expression) else first
            start = _anchor(type(node), candidates, claimed, first, after)
            start = first if start is None else start
            if start is not None:
                node.meta["start"] = start
        own = node.meta.get("start")
        return min([*starts, own] if own is not None else starts, default=None)

    visit(tree)


def _subtree_start(node: exp.Expression) -> int | None:
    return min((n.meta["start"] for n in node.walk() if "start" in n.meta), default=None)


def _anchor(
    cls: type[exp.Expression],
    tokens: list[Token],
    claimed: set[int],
    first: int | None,
    after: int | None,
) -> int | None:
    """Claim the token that starts (prefix) or operates (infix) a node; its start or None."""
    for mode, texts in _ANCHORS.get(cls, ()):
        free = [t.start for t in tokens if t.text.upper() in texts and t.start not in claimed]
        if mode == "prefix":
            found = [s for s in free if first is None or s <= first]
            start = (found[-1] if first is not None else found[0]) if found else None
        else:
            start = next((s for s in free if after is None or s >= after), None)
        if start is not None:
            claimed.add(start)
            return start
    return None


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


def _decimal_type_name(to: exp.DataType) -> str:
    params = [int_literal(p.this) for p in to.expressions]
    if not params or None in params or len(params) > 2:
        raise ValueError(
            f"CAST to {to.sql()}: give DECIMAL a precision and scale, e.g. DECIMAL(12,2)"
        )
    precision, scale = (*params, 0)[:2]
    name = f"decimal({precision},{scale})"
    parse_type_name(name)
    return name


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
