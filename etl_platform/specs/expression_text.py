"""Reading a computed column's expression text into a located sqlglot tree: tokens, syntax
errors, the 1-based position of every node, how errors name a node, and the literal readers
(`int_literal`, `string_literal`, `date_literal`, `timestamp_literal`). What the tree may
contain is checked in `specs.expressions`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, SqlglotError, TokenError
from sqlglot.tokens import Token, TokenType

_DIALECT: Final = Dialect.get_or_raise(None)
_DATE_TEXT: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_WHOLE: Final = re.compile(r"[0-9]+")


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


def parse_text(text: str) -> exp.Expression:
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
