"""A view's notifications over a window of its days: every rule, one ledger connection.

The Dagster asset `notifications/<view>` calls `notify_days`; it holds the order of the work:
channels first (a rule whose variables are unset sends nothing and opens nothing), then per
day the view's rows, each rule's delivery, and that day's dead letters written at once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence

import polars as pl

from etl_platform.load.lake import Lake
from etl_platform.notify.channels import NotConfigured, Sender, sender_for
from etl_platform.notify.dead_letters import dead_letters_dataset, write_dead_letters
from etl_platform.notify.deliver import (
    ChannelRefused,
    DeadLetter,
    Pacing,
    RuleCounts,
    RuleDelivery,
    rule_rows,
)
from etl_platform.notify.ledger import Ledger, ledger_settings
from etl_platform.specs.views import ViewSpec


@dataclasses.dataclass
class NotifyOutcome:
    """Per rule: its counts, and why it stopped when its channel refused the credentials."""

    counts: dict[str, RuleCounts]
    dead_letters: dict[dt.date, list[DeadLetter]] = dataclasses.field(default_factory=dict)
    refused: dict[str, str] = dataclasses.field(default_factory=dict)


def default_ledger() -> Ledger:
    url, schema = ledger_settings()
    return Ledger(url, schema)


def notify_days(
    spec: ViewSpec,
    lake: Lake,
    days: Sequence[dt.date],
    run_id: str,
    *,
    include_old: bool = False,
    now: dt.datetime | None = None,
    environ: Mapping[str, str] | None = None,
    open_ledger: Callable[[], Ledger] = default_ledger,
    pacing: Pacing | None = None,
) -> NotifyOutcome:
    """Send every rule's messages for the view's `days`.

    Args:
        include_old: also the rows that changed before the rule's window (a backfill asked to
            notify); without it a backfill of old days sends nothing.
        now: where the windows end (default: now, UTC).
        environ: where the channels' variables are read (default: the process environment).
        open_ledger: the ledger to claim and record messages in.
    """
    now = now or dt.datetime.now(dt.UTC)
    pacing = pacing or Pacing()
    outcome = NotifyOutcome({rule.name: RuleCounts() for rule in spec.notifications})
    senders: dict[str, Sender] = {}
    for rule in spec.notifications:
        try:
            senders[rule.name] = sender_for(rule.channel, environ)
        except NotConfigured as error:
            outcome.counts[rule.name].not_configured = str(error)
    if not senders:
        return outcome
    view, letters = lake.view(spec.name), dead_letters_dataset(lake, spec.name)
    with open_ledger() as ledger:
        for day in days:
            table = view.read_partition(day)
            rows = pl.from_arrow(table) if table is not None else pl.DataFrame()
            assert isinstance(rows, pl.DataFrame)
            day_letters: list[DeadLetter] = []
            try:
                for rule in spec.notifications:
                    if rule.name not in senders or rule.name in outcome.refused:
                        continue
                    delivery = RuleDelivery(
                        spec.name, rule, spec.unique_key, senders[rule.name], ledger, run_id, pacing
                    )
                    try:
                        selected, older = rule_rows(
                            rows, rule, now, include_old=include_old, view=spec.name
                        )
                        delivery.deliver(selected, older)
                    except ChannelRefused as error:
                        outcome.refused[rule.name] = str(error)
                    finally:
                        outcome.counts[rule.name].add(delivery.counts)
                        day_letters += delivery.dead_letters
            finally:
                if day_letters:
                    outcome.dead_letters[day] = day_letters
                    write_dead_letters(letters, day, run_id, day_letters, now)
    return outcome
