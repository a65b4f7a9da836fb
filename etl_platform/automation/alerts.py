"""The `platform_alerts` sensor: a post to a webhook (Slack-compatible JSON) when a view turns
stale or recovers, when a run fails and when a blocking check fails.

Once per event. The sensor's cursor (JSON) holds the storage id of the last run failure and of
the last check evaluation it handled, and the freshness state it last saw per view, so a tick
without news posts nothing and a restarted daemon resumes where it stopped. A post the webhook
cannot take now (after retries) ends the tick with the cursor just before it: it goes out next
tick, and what went out before it is not sent again. A post the webhook refuses (a 4xx) is
written to the tick's log and dropped, so one bad body does not hold back every later alert.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluation
from dagster._core.definitions.assets.graph.asset_graph import AssetGraph
from dagster._core.definitions.freshness import FreshnessState

from etl_platform.automation.alert_messages import (
    Alert,
    calls_for_post,
    check_failure_alert,
    freshness_alert,
    freshness_states,
    freshness_transition,
    run_failure_alert,
    slack_body,
)
from etl_platform.automation.webhook import (
    RetryPolicy,
    WebhookRefused,
    WebhookUnavailable,
    is_http_url,
    mask_url,
    post_json,
)
from etl_platform.env import ALERT_WEBHOOK_URL_ENV, alert_webhook_url, ui_url

SENSOR_NAME = "platform_alerts"

MIN_INTERVAL_SECONDS = 60
#: Events read per stream and tick; what is left is read next tick.
SCAN_LIMIT = 500
#: Posts per tick, and seconds after which a tick posts no more: a tick must end (and save its
#: cursor) well within the daemon's 60 s limit on a sensor evaluation, or its posts go again.
MAX_POSTS_PER_TICK = 30
TICK_BUDGET_SECONDS = 30.0
WEBHOOK_POLICY = RetryPolicy(timeout=5.0, attempts=3, backoff=0.5)


webhook_url = alert_webhook_url


# The cursor


@dataclass(frozen=True)
class AlertCursor:
    """What the sensor has handled: run failures and check evaluations up to these storage ids,
    and the last freshness state it saw per asset (by key string)."""

    runs_after: int
    checks_after: int
    views: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> AlertCursor | None:
        """None for no cursor yet, or one this sensor did not write."""
        if not text:
            return None
        try:
            raw = json.loads(text)
            return cls(int(raw["runs_after"]), int(raw["checks_after"]), dict(raw["views"]))
        except (ValueError, KeyError, TypeError):
            return None

    def dump(self) -> str:
        views = dict(sorted(self.views.items()))
        body = {"runs_after": self.runs_after, "checks_after": self.checks_after, "views": views}
        return json.dumps(body, sort_keys=True)


class Stream(StrEnum):
    RUNS = "runs"
    CHECKS = "checks"
    VIEWS = "views"


@dataclass(frozen=True)
class Pending:
    """One thing to handle, in order: a run failure or check evaluation read after the cursor
    (`position`: its storage id), or a view's new freshness state (`position`: the view's key,
    `state`). `alert` is None when it calls for no post."""

    alert: Alert | None
    stream: Stream
    position: int | str
    state: str | None = None


def advance(cursor: AlertCursor, item: Pending) -> AlertCursor:
    """The cursor once `item` is handled (posted, refused, or nothing to post)."""
    if item.stream is Stream.VIEWS:
        return replace(cursor, views={**cursor.views, str(item.position): item.state or ""})
    position = int(item.position)
    if item.stream is Stream.CHECKS:
        return replace(cursor, checks_after=max(cursor.checks_after, position))
    return replace(cursor, runs_after=max(cursor.runs_after, position))


# Reading what happened


def run_failures(instance: dg.DagsterInstance, after: int, ui: str | None) -> list[Pending]:
    records = instance.fetch_run_status_changes(
        dg.RunStatusChangeRecordsFilter(
            event_type=dg.DagsterEventType.RUN_FAILURE, after_storage_id=after
        ),
        limit=SCAN_LIMIT,
        ascending=True,
    ).records
    return [
        Pending(
            run_failure_alert(r.event_log_entry, instance.get_run_by_id(r.run_id), ui),
            Stream.RUNS,
            r.storage_id,
        )
        for r in records
    ]


def check_failures(
    instance: dg.DagsterInstance, graph: AssetGraph | None, after: int, ui: str | None
) -> list[Pending]:
    """Check evaluations after the cursor; only blocking failures call for a post. Read by
    storage id across runs (`get_logs_for_all_runs_by_log_id`): on PostgreSQL and on SQLite,
    where check events are copied to the index shard this reads, with ids in one sequence."""
    entries = instance.event_log_storage.get_logs_for_all_runs_by_log_id(
        after_cursor=after,
        dagster_event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION,
        limit=SCAN_LIMIT,
    )
    pending = []
    for storage_id, entry in sorted(entries.items()):
        evaluation = entry.dagster_event.event_specific_data if entry.dagster_event else None
        alert = None
        if isinstance(evaluation, AssetCheckEvaluation) and calls_for_post(evaluation, graph):
            run = instance.get_run_by_id(entry.run_id) if entry.run_id else None
            alert = check_failure_alert(entry, evaluation, run, ui)
        pending.append(Pending(alert, Stream.CHECKS, storage_id))
    return pending


def freshness_changes(
    instance: dg.DagsterInstance,
    graph: AssetGraph,
    states: Mapping[dg.AssetKey, FreshnessState],
    seen: Mapping[str, str],
    ui: str | None,
) -> list[Pending]:
    """A view whose state differs from the one last seen; a post when the change calls for one."""
    pending = []
    for key, state in sorted(states.items()):
        name = key.to_user_string()
        previous = seen.get(name)
        if previous == state.value:
            continue
        kind = freshness_transition(previous, state)
        alert = None
        if kind is not None:
            last = instance.get_latest_materialization_event(key)
            policy = graph.get(key).freshness_policy_or_from_metadata
            alert = freshness_alert(key, kind, previous, state, policy, last, ui)
        pending.append(Pending(alert, Stream.VIEWS, name, state.value))
    return pending


# The tick


@dataclass
class TickReport:
    posted: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    waiting: int = 0
    stopped: str | None = None

    def summary(self, first: bool, problems: Sequence[str]) -> str:
        parts = [f"posted {len(self.posted)} alert(s)" if self.posted else "nothing new to post"]
        if self.refused:
            parts.append(
                f"{len(self.refused)} refused by the webhook and dropped (see the tick's log)"
            )
        if self.waiting:
            parts.append(f"{self.waiting} wait for the next tick ({self.stopped})")
        if first:
            parts.insert(0, "first tick: run failures and check results from now on")
        return "; ".join([*parts, *problems])


def deliver(
    items: Iterable[Pending],
    cursor: AlertCursor,
    webhook: str,
    log: logging.Logger,
    *,
    policy: RetryPolicy | None = None,
) -> tuple[AlertCursor, TickReport]:
    """Post each item's alert in order and move the cursor past it. Stops at the first post
    the webhook cannot take now, or when the tick's budget is spent: that item and the ones
    after it stay ahead of the cursor, for the next tick."""
    report = TickReport()
    started = time.monotonic()
    items = list(items)
    for index, item in enumerate(items):
        if item.alert is not None:
            title = mask_url(item.alert.title, webhook)
            if len(report.posted) + len(report.refused) >= MAX_POSTS_PER_TICK or (
                time.monotonic() - started > TICK_BUDGET_SECONDS
            ):
                report.stopped = "this tick's budget is spent"
            else:
                try:
                    body = slack_body(item.alert, webhook)
                    post_json(webhook, body, policy=policy or WEBHOOK_POLICY)
                except WebhookRefused as e:
                    log.error(f"Alert not delivered, dropped: {title}. {e}")
                    report.refused.append(title)
                except WebhookUnavailable as e:
                    log.warning(f"Alert not delivered, retried next tick: {title}. {e}")
                    report.stopped = str(e)
                else:
                    log.info(f"Alert posted: {title}")
                    report.posted.append(title)
            if report.stopped:
                report.waiting = sum(1 for later in items[index:] if later.alert is not None)
                break
        cursor = advance(cursor, item)
    return cursor, report


def evaluate_alerts(context: dg.SensorEvaluationContext, webhook: str) -> dg.SensorResult:
    """One tick: what happened since the cursor, posted in order; the new cursor. A first tick
    (no cursor) starts the event streams at the newest event: history is not posted."""
    instance = context.instance
    ui = ui_url()
    cursor = AlertCursor.parse(context.cursor)
    first = cursor is None
    if cursor is None:
        if context.cursor:
            context.log.warning("The sensor's cursor is not one it wrote: starting afresh.")
        top = instance.event_log_storage.get_maximum_record_id() or 0
        cursor = AlertCursor(runs_after=top, checks_after=top)
    graph = context.repository_def.asset_graph if context.repository_def else None
    events = run_failures(instance, cursor.runs_after, ui)
    events += check_failures(instance, graph, cursor.checks_after, ui)
    items = sorted(events, key=lambda item: int(item.position))
    problems = []
    if graph is not None:
        try:
            states = freshness_states(instance, graph)
        except Exception as e:  # the other alerts go on; the tick says what is missing
            problem = mask_url(f"freshness not evaluated: {type(e).__name__}: {e}", webhook)
            context.log.error(problem)
            problems.append(problem)
        else:
            names = {key.to_user_string() for key in states}
            views = {k: v for k, v in cursor.views.items() if k in names}
            cursor = replace(cursor, views=views)
            items += freshness_changes(instance, graph, states, cursor.views, ui)
    cursor, report = deliver(items, cursor, webhook, context.log)
    return dg.SensorResult(skip_reason=report.summary(first, problems), cursor=cursor.dump())


@dg.sensor(
    name=SENSOR_NAME,
    minimum_interval_seconds=MIN_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Posts to the webhook in ETL_PLATFORM_ALERT_WEBHOOK_URL (Slack-compatible JSON) when a "
        "view turns stale or recovers, a run fails, or a blocking check fails: once per event."
    ),
)
def platform_alerts(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    webhook = webhook_url()
    if not webhook:
        return dg.SkipReason(f"{ALERT_WEBHOOK_URL_ENV} is not set: no alert is posted")
    if not is_http_url(webhook):
        return dg.SkipReason(f"{ALERT_WEBHOOK_URL_ENV} is not an http(s) URL: no alert is posted")
    return evaluate_alerts(context, webhook)


ALERT_SENSORS = [platform_alerts]
