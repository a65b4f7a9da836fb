"""Send one rule's messages for a view day's rows: once per row version, whatever the runs.

For each row that matches the rule's condition and changed within its window: skip it if the
ledger has it, claim it, render it, send it (retrying 5xx answers and timeouts with backoff,
at most `rate_per_minute` messages a minute across every run, through the ledger's send slots),
then record it sent or dead. A 4xx answer, a template error or retries run out make a dead
letter, with its reason. Sleep is a parameter, so tests run without waiting.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

from etl_platform.notify.channels import Attempt, Message, Sender
from etl_platform.notify.ledger import DEAD, SENT, Ledger
from etl_platform.notify.render import RenderError, render
from etl_platform.specs.durations import parse_duration
from etl_platform.specs.expression_text import ExpressionError
from etl_platform.specs.notifications import NotificationRule, SmtpChannel, ToColumn
from etl_platform.transform.expressions import compile_expression

SHARD, VERSION = "_shard", "_updated_at"


@dataclasses.dataclass
class RuleCounts:
    """What a rule did in a run; `not_configured` says which variable to set when it sent
    nothing because its channel is not configured here."""

    matched: int = 0
    sent: int = 0
    retried: int = 0
    dead_lettered: int = 0
    skipped_outside_window: int = 0
    already_sent: int = 0
    in_flight: int = 0
    not_configured: str | None = None

    @property
    def dead_letter_ratio(self) -> float:
        tried = self.sent + self.dead_lettered
        return self.dead_lettered / tried if tried else 0.0

    def add(self, other: RuleCounts) -> None:
        for field in dataclasses.fields(self):
            mine, theirs = getattr(self, field.name), getattr(other, field.name)
            if isinstance(mine, int):
                setattr(self, field.name, mine + theirs)
            elif theirs is not None:
                setattr(self, field.name, theirs)


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    """A message that will not be sent, and why (no secret in `reason`)."""

    rule: str
    row_key: str
    row_version: str
    idempotency_key: str
    status: int | None
    attempts: int
    reason: str


@dataclasses.dataclass(frozen=True)
class Pacing:
    """Time, injectable: `sleep` between attempts, `wait` until the rate's next send slot."""

    sleep: Callable[[float], None] = time.sleep
    wait: Callable[[float], None] = time.sleep
    backoff: float = 0.5
    max_backoff: float = 30.0


class ChannelRefused(RuntimeError):
    """The channel refused the platform's credentials: no message of the rule can go until
    they are fixed, so its messages are left for the next run instead of dead-lettered."""


def idempotency_key(view: str, rule: str, key: str, version: str) -> str:
    """The same for every attempt and every run of one message: a receiver drops a repeat."""
    return hashlib.sha256(json.dumps([view, rule, key, version]).encode()).hexdigest()[:40]


def row_key(row: dict[str, Any], key_columns: Sequence[str]) -> str:
    return json.dumps([row.get(SHARD), *(row[c] for c in key_columns)], default=str)


def row_version(row: dict[str, Any], rule: NotificationRule) -> str:
    """The version a message is sent once for: the row's `_updated_at`, or none for a rule
    sent once per key."""
    if rule.once_per == "key":
        return ""
    value = row[VERSION]
    return value.isoformat() if isinstance(value, dt.datetime | dt.date) else str(value)


def rule_rows(
    rows: pl.DataFrame,
    rule: NotificationRule,
    now: dt.datetime,
    *,
    include_old: bool = False,
    view: str = "",
) -> tuple[list[dict[str, Any]], int]:
    """The rows that match `when` and changed within the rule's window (all that match with
    `include_old`), and how many matched but are older.

    Raises:
        ExpressionError: the condition does not compile over these columns (a flattened
            column that is missing, operands of the wrong type) or is not a TRUE/FALSE
            condition (a column whose type validation could not know); names the view, the
            rule and the expression.
    """
    if rows.is_empty():
        return [], 0
    where = f"view {view}, rule {rule.name}, when `{rule.when}`"
    try:
        condition = compile_expression(rule.when, rows.schema)
        kind = rows.lazy().select(condition.alias("when")).collect_schema()["when"]
    except ExpressionError as error:
        raise ExpressionError(f"{where}: {error}") from None
    if kind not in (pl.Boolean, pl.Null):
        raise ExpressionError(f"{where}: must be a condition (TRUE/FALSE), but is {kind}")
    matched = rows.filter(condition.fill_null(False))
    if include_old or matched.is_empty():
        return matched.to_dicts(), 0
    cutoff = now - parse_duration(rule.window)
    dtype = matched.schema[VERSION]
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        cutoff = cutoff.astimezone(dt.UTC).replace(tzinfo=None)
    recent = matched.filter(pl.col(VERSION) >= pl.lit(cutoff, dtype))
    return recent.to_dicts(), matched.height - recent.height


@dataclasses.dataclass
class RuleDelivery:
    """One rule's sending in one run: its sender, ledger, counts and dead letters."""

    view: str
    rule: NotificationRule
    key_columns: Sequence[str]
    sender: Sender
    ledger: Ledger
    owner: str
    pacing: Pacing = dataclasses.field(default_factory=Pacing)
    counts: RuleCounts = dataclasses.field(default_factory=RuleCounts)
    dead_letters: list[DeadLetter] = dataclasses.field(default_factory=list)

    def deliver(self, rows: list[dict[str, Any]], outside_window: int = 0) -> None:
        """Send each row's message unless the ledger has it or another run is sending it."""
        self.counts.matched += len(rows) + outside_window
        self.counts.skipped_outside_window += outside_window
        messages = [(row_key(r, self.key_columns), row_version(r, self.rule), r) for r in rows]
        if self.rule.once_per == "key":  # one message per key, whichever version comes first
            messages = list({k: (k, v, r) for k, v, r in reversed(messages)}.values())
        known = self.ledger.known(self.view, self.rule.name, [(k, v) for k, v, _ in messages])
        for key, version, row in messages:
            state = known.get((key, version))
            if state is not None and state.state in (SENT, DEAD):
                self.counts.already_sent += 1
            elif state is not None and state.leased:
                self.counts.in_flight += 1
            else:
                self._one(key, version, row)

    def _one(self, key: str, version: str, row: dict[str, Any]) -> None:
        name = self.rule.name
        wanted = idempotency_key(self.view, name, key, version)
        claimed = self.ledger.claim(self.view, name, key, version, wanted, self.owner)
        if claimed is None:
            self.counts.in_flight += 1
            return
        try:
            message = self._message(claimed, row)
        except RenderError as error:
            self._dead(key, version, claimed, None, 0, f"template: {error}")
            return
        attempt, attempts = self._send(message, key, version)
        self.counts.retried += attempts - 1
        if attempt.delivered:
            self.ledger.mark_sent(self.view, name, key, version, attempts)
            self.counts.sent += 1
        else:
            self._dead(key, version, claimed, attempt.status, attempts, attempt.problem)

    def _message(self, claimed: str, row: dict[str, Any]) -> Message:
        channel = self.rule.channel
        subject = to = ""
        if isinstance(channel, SmtpChannel):
            subject = render(channel.subject, row)
            if isinstance(channel.to, ToColumn):
                to = str(row.get(channel.to.column) or "")
                if "@" not in to:
                    raise RenderError(f"column {channel.to.column!r} holds no address")
            else:
                to = channel.to
        text = render(self.rule.template, row)
        return Message(self.view, self.rule.name, claimed, text, subject, to)

    def _send(self, message: Message, key: str, version: str) -> tuple[Attempt, int]:
        """The last attempt (delivered, refused, or the last of `attempts`) and how many."""
        attempt = Attempt(delivered=False)
        for number in range(1, self.rule.attempts + 1):
            self._keep_rate()
            attempt = self.sender.send(message, self.rule.timeout_seconds)
            if attempt.delivered:
                return attempt, number
            if attempt.credentials_refused:
                self.ledger.release(self.view, self.rule.name, key, version, self.owner)
                raise ChannelRefused(
                    f"rule {self.rule.name}: the channel refused its credentials "
                    f"({attempt.problem}); fix them and run again"
                )
            if not attempt.retryable:
                return attempt, number
            if number < self.rule.attempts:
                delay = min(self.pacing.backoff * 2 ** (number - 1), self.pacing.max_backoff)
                self.pacing.sleep(delay)
        why = f"gave up after {self.rule.attempts} attempts: {attempt.problem}"
        return dataclasses.replace(attempt, problem=why), self.rule.attempts

    def _keep_rate(self) -> None:
        """Wait for the rule's next send slot: the ledger spaces the sends of every run."""
        interval = dt.timedelta(seconds=60.0 / self.rule.rate_per_minute)
        wait = self.ledger.reserve_send(self.view, self.rule.name, interval)
        if wait > 0:
            self.pacing.wait(wait)

    def _dead(
        self, key: str, version: str, claimed: str, status: int | None, attempts: int, why: str
    ) -> None:
        self.ledger.mark_dead(self.view, self.rule.name, key, version, attempts, why)
        self.counts.dead_lettered += 1
        self.dead_letters.append(
            DeadLetter(self.rule.name, key, version, claimed, status, attempts, why)
        )
