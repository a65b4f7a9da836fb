"""A view's `notifications:` rules, and their checks against the view's columns.

A rule sends one message per row version that matches its condition (`when`, the expression
language of computed columns), rendered from the row's fields by a sandboxed Jinja2 template,
to a webhook or by SMTP. Every address, host and credential comes from an environment
variable the rule names; the file holds none. docs/notifications.md is the reference.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Annotated, Literal

import pydantic
from jinja2 import Environment, TemplateSyntaxError, meta
from pydantic import BaseModel, ConfigDict, Field
from sqlglot import exp

from etl_platform.specs.durations import Duration
from etl_platform.specs.expression_casts import cast_type_name
from etl_platform.specs.expressions import (
    expression_problems,
    parse_expression,
    referenced_columns,
    unknown_column,
)
from etl_platform.specs.sources import Identifier
from etl_platform.specs.types import parse_type_name

if TYPE_CHECKING:
    from etl_platform.specs.views import ViewSpec

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-]*$")
#: Headers the platform sets itself; a rule may not override them.
RESERVED_HEADERS = frozenset({"content-type", "content-length", "host", "idempotency-key"})

#: Parses templates for their syntax and fields only (the syntax of every environment);
#: rendering uses `notify.render`'s sandbox.
_PARSER = Environment(autoescape=False)

Problem = tuple[str, str]


def _env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise ValueError(f"{value!r} is not an environment variable name")
    return value


def _header_name(value: str) -> str:
    if not _HEADER_NAME.match(value):
        raise ValueError(f"{value!r} is not an HTTP header name")
    if value.lower() in RESERVED_HEADERS:
        raise ValueError(f"header {value!r} is set by the platform")
    return value


EnvName = Annotated[str, pydantic.AfterValidator(_env_name)]
HeaderName = Annotated[str, pydantic.AfterValidator(_header_name)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class WebhookChannel(_Strict):
    """POST a JSON body (`text` is the rendered template) to the URL in `url_env`, with each
    header of `headers_env` (header name -> variable holding its value, e.g. a token)."""

    type: Literal["webhook"]
    url_env: EnvName
    headers_env: dict[HeaderName, EnvName] = Field(default_factory=dict)

    @property
    def variables(self) -> list[str]:
        """The environment variables the channel needs at run time."""
        return [self.url_env, *self.headers_env.values()]


class ToColumn(_Strict):
    """The recipient is in a column of the row (a customer's e-mail)."""

    column: Identifier


class SmtpChannel(_Strict):
    """Send an e-mail through the server in `host_env` (login with `user_env` and
    `password_env` when given; STARTTLS unless `starttls: false`). `to` is an address or
    `{column: c}`; `subject` is a template like the body."""

    type: Literal["smtp"]
    host_env: EnvName
    port: int = Field(default=587, ge=1, le=65535)
    user_env: EnvName | None = None
    password_env: EnvName | None = None
    starttls: bool = True
    from_: str = Field(alias="from", min_length=3)
    to: str | ToColumn
    subject: str = Field(min_length=1)

    @property
    def variables(self) -> list[str]:
        return [self.host_env, *(v for v in (self.user_env, self.password_env) if v)]


Channel = Annotated[WebhookChannel | SmtpChannel, Field(discriminator="type")]


class NotificationRule(_Strict):
    """One rule of a view: which rows (`when`), where (`channel`), what (`template`), how fast
    (`rate_per_minute`), how far back (`window`: rows whose `_updated_at` is older are not
    notified, so a backfill sends nothing), and when to alert (`dead_letter_alert_ratio`)."""

    name: Identifier
    description: str = ""
    when: str = Field(min_length=1)
    channel: Channel
    template: str = Field(min_length=1)
    #: `version`: each version of a row that matches is sent once; `key`: a row is sent once,
    #: the first time a version of it matches.
    once_per: Literal["version", "key"] = "version"
    rate_per_minute: int = Field(default=60, ge=1, le=60_000)
    window: Duration = "1d"
    attempts: int = Field(default=4, ge=1, le=10)
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    dead_letter_alert_ratio: float = Field(default=0.1, ge=0, le=1)


def template_fields(text: str) -> set[str]:
    """The names a template reads from its context (the row's fields).

    Raises:
        TemplateSyntaxError: the text is not a template.
    """
    return meta.find_undeclared_variables(_PARSER.parse(text))


def template_problems(
    text: str, columns: Collection[str], is_column: Callable[[str], bool] | None = None
) -> list[str]:
    """A template's syntax error, or each field it reads that is not a column of the row."""
    try:
        fields = template_fields(text)
    except TemplateSyntaxError as error:
        return [f"template syntax error at line {error.lineno}: {error.message}"]
    known = is_column or columns.__contains__
    return [unknown_column(name, columns) for name in sorted(fields) if not known(name)]


def notification_problems(
    rules: list[NotificationRule],
    columns: Collection[str],
    flatten_prefixes: Collection[str] = (),
    types: Mapping[str, str] | None = None,
) -> list[Problem]:
    """Every problem of a view's rules: duplicate names, a condition or template that does not
    parse or reads a column the view does not have, a condition that is not TRUE/FALSE (when
    `types` tell), a recipient that is neither an address nor a column.

    `columns` are the view's output columns known at load and its system columns; a name that
    starts with a flatten prefix may be a column flatten adds at run time, and is let through
    (the run fails on it if it is not). `types` are the declared type names of the columns
    that have one."""
    known = [*columns]

    def is_column(name: str) -> bool:
        return name in known or any(name.startswith(p) for p in flatten_prefixes if p)

    problems: list[Problem] = [
        ("notifications", f"rule name {name!r} is used {count} times")
        for name, count in Counter(r.name for r in rules).items()
        if count > 1
    ]
    for i, rule in enumerate(rules):
        where = f"notifications.{i}"
        flattened = [c for c in _expression_columns(rule.when) if is_column(c)]
        when = expression_problems(rule.when, [*known, *flattened])
        problems += [(f"{where}.when", p) for p in when]
        kind = condition_type(parse_expression(rule.when), types or {}) if not when else None
        if kind not in (None, BOOL, NULL):
            problems.append(
                (
                    f"{where}.when",
                    f"must be a condition (TRUE/FALSE), e.g. status = 'shipped'; "
                    f"this one is {kind}",
                )
            )
        problems += [
            (f"{where}.template", p) for p in template_problems(rule.template, known, is_column)
        ]
        channel = rule.channel
        if not isinstance(channel, SmtpChannel):
            continue
        problems += [
            (f"{where}.channel.subject", p)
            for p in template_problems(channel.subject, known, is_column)
        ]
        if isinstance(channel.to, ToColumn) and not is_column(channel.to.column):
            problems.append(
                (f"{where}.channel.to.column", unknown_column(channel.to.column, known))
            )
        elif isinstance(channel.to, str) and "@" not in channel.to:
            problems.append(
                (f"{where}.channel.to", f"{channel.to!r} is not an address (or {{column: c}})")
            )
    return problems


def view_notification_problems(spec: ViewSpec, output_names: Collection[str]) -> list[Problem]:
    """`notification_problems` of a view: its rules read its output columns and the system
    columns every row carries (`_shard`, `_updated_at`, `_run_id`)."""
    from etl_platform.specs.views import SYSTEM_COLUMNS

    return notification_problems(
        spec.notifications,
        [*output_names, *SYSTEM_COLUMNS],
        [f.prefix for f in spec.flatten],
        declared_types(spec),
    )


def declared_types(spec: ViewSpec) -> dict[str, str]:
    """The type name of each column a rule may read whose type the spec declares: declared and
    computed columns, looked-up columns given a `type`, the explode index and the system
    columns (a looked-up column without `type` and flatten's columns are typed by the data)."""
    types = {"_shard": "string", "_updated_at": "timestamp", "_run_id": "string"}
    types |= {name: column.type for name, column in spec.columns.items()}
    for lookup in spec.lookups:
        types |= lookup.typed
    if spec.explode:
        types[spec.explode.index_column] = "int32"
    return types


BOOL, NULL = "bool", "null"
_CONDITIONS = (
    *(exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE, exp.NullSafeEQ, exp.NullSafeNEQ),
    *(exp.And, exp.Or, exp.Not, exp.Is, exp.In, exp.Between, exp.Like, exp.ILike, exp.Escape),
    exp.Boolean,
)
_NUMBERS = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Neg, exp.Abs, exp.Length, exp.Round)
_DATE_PARTS = (exp.Year, exp.Month, exp.Day, exp.Extract)
_TEXTS = (exp.DPipe, exp.Concat, exp.Lower, exp.Upper, exp.Trim, exp.Substring)


def condition_type(node: exp.Expression, types: Mapping[str, str]) -> str | None:
    """What a checked expression yields, as far as the declared types tell: `BOOL`, `NULL`, a
    description of another type ("a number", "column 'city' (string)"), or None when it
    depends on a column whose type only the data gives (the run checks it then)."""
    if isinstance(node, exp.Paren):
        return condition_type(node.this, types)
    if isinstance(node, _CONDITIONS):
        return BOOL
    if isinstance(node, exp.Null):
        return NULL
    if isinstance(node, exp.Literal):
        return "text" if node.is_string else "a number"
    if isinstance(node, (*_NUMBERS, *_DATE_PARTS)):
        return "a number"
    if isinstance(node, _TEXTS):
        return "text"
    if isinstance(node, exp.Date | exp.DateTrunc):
        return "a date or timestamp"
    if isinstance(node, exp.Column):
        declared = types.get(node.name)
        return None if declared is None else _named(declared, f"column {node.name!r}")
    if isinstance(node, exp.Cast | exp.TryCast):
        return _named(cast_type_name(node.args["to"]), "a CAST")
    kinds = [condition_type(branch, types) for branch in _branches(node)]
    typed = [kind for kind in kinds if kind != NULL]
    if None in kinds or not kinds:
        return None
    if not typed:
        return NULL
    if all(kind == BOOL for kind in typed):
        return BOOL
    return None if BOOL in typed else typed[0]  # a mix the run refuses with its reason


def _named(type_name: str, what: str) -> str:
    try:
        kind = parse_type_name(type_name).name
    except ValueError:  # reported by the column's own check
        return f"{what} ({type_name})"
    return BOOL if kind == BOOL else f"{what} ({type_name})"


def _branches(node: exp.Expression) -> list[exp.Expression]:
    """The values CASE, IF, COALESCE, NULLIF, GREATEST and LEAST may yield."""
    if isinstance(node, exp.Case):
        found = [branch.args.get("true") for branch in node.args.get("ifs") or []]
        found.append(node.args.get("default"))
    elif isinstance(node, exp.If):
        found = [node.args.get("true"), node.args.get("false")]
    elif isinstance(node, exp.Coalesce | exp.Greatest | exp.Least):
        found = [node.this, *node.expressions]
    elif isinstance(node, exp.Nullif):
        found = [node.this]
    else:
        found = []
    return [branch for branch in found if isinstance(branch, exp.Expression)]


def _expression_columns(text: str) -> list[str]:
    try:
        return referenced_columns(text)
    except ValueError:  # reported by expression_problems
        return []
