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

import asyncio
import datetime as dt
import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluation
from dagster._core.definitions.assets.graph.asset_graph import AssetGraph
from dagster._core.definitions.freshness import FreshnessPolicy, FreshnessState
from dagster._core.events import JobFailureData
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
    WILL_RETRY_TAG,
)
from dagster_shared.error import SerializableErrorInfo

from etl_platform.asset_keys import DATA_LAG_CHECK, DEAD_LETTER_CHECK
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
#: Characters of an error message or check description a post keeps.
DETAIL_CHARS = 1500


webhook_url = alert_webhook_url


# The alert and its body


class Kind(StrEnum):
    VIEW_STALE = "view_stale"
    VIEW_RECOVERED = "view_recovered"
    RUN_FAILED = "run_failed"
    CHECK_FAILED = "check_failed"


_EMOJI = {
    Kind.VIEW_STALE: ":warning:",
    Kind.VIEW_RECOVERED: ":white_check_mark:",
    Kind.RUN_FAILED: ":x:",
    Kind.CHECK_FAILED: ":no_entry:",
}


@dataclass(frozen=True)
class Alert:
    """One event, as a post names it: a title, facts (asset, partition, check, run), the error
    or the check's finding, and a link to the UI."""

    kind: Kind
    title: str
    facts: tuple[tuple[str, str], ...] = ()
    detail: str | None = None
    link: str | None = None


def _slack_escape(text: str) -> str:
    """Slack reads `&`, `<` and `>` as markup in `text` and mrkdwn."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(alert: Alert, webhook: str | None = None) -> dict[str, Any]:
    """Slack's message format: `text` (notifications, clients without blocks) and `blocks`.
    Every text passes through the platform's redaction, and the webhook's own URL is masked:
    an error message may quote a DSN, password and all."""

    def clean(text: str) -> str:
        return mask_url(text, webhook)

    title = clean(alert.title)
    facts = [(label, clean(value)) for label, value in alert.facts]
    detail = clean(alert.detail.strip())[:DETAIL_CHARS] if alert.detail else ""
    link = clean(alert.link) if alert.link else ""
    lines = [title, " · ".join(f"{label}: {value}" for label, value in facts), detail, link]
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"{_EMOJI[alert.kind]} *{_slack_escape(title)}*"},
        }
    ]
    if facts:
        fields = [f"*{_slack_escape(label)}*\n{_slack_escape(v)}" for label, v in facts[:10]]
        blocks.append(
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]}
        )
    if detail:
        text = f"```{_slack_escape(detail)}```"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    if link:
        element = {"type": "mrkdwn", "text": f"<{link}|Open in Dagster>"}
        blocks.append({"type": "context", "elements": [element]})
    return {"text": _slack_escape("\n".join(line for line in lines if line)), "blocks": blocks}


# Events into alerts


def _run_link(ui: str | None, run_id: str) -> str | None:
    return f"{ui}/runs/{run_id}" if ui and run_id else None


def _asset_link(ui: str | None, key: dg.AssetKey) -> str | None:
    return f"{ui}/assets/{'/'.join(key.path)}" if ui else None


def _run_partition(tags: Mapping[str, str]) -> str | None:
    """The day (or range of days) a run built, from Dagster's run tags."""
    if PARTITION_NAME_TAG in tags:
        return tags[PARTITION_NAME_TAG]
    start, end = tags.get(ASSET_PARTITION_RANGE_START_TAG), tags.get(ASSET_PARTITION_RANGE_END_TAG)
    if start and end:
        return start if start == end else f"{start}...{end}"
    return None


def _error_message(error: SerializableErrorInfo | None) -> str | None:
    """The error as the user's code raised it: Dagster's step wrapper is skipped for its cause."""
    while (
        error is not None
        and error.cause is not None
        and "DagsterExecutionStep" in (error.cls_name or "")
    ):
        error = error.cause
    return error.message.strip() if error is not None else None


def run_failure_alert(entry: dg.EventLogEntry, run: dg.DagsterRun | None, ui: str | None) -> Alert:
    event = entry.dagster_event
    data = event.event_specific_data if event else None
    job = (event.job_name if event else None) or (run.job_name if run else "?")
    facts = [("run", entry.run_id), ("job", job)]
    tags = run.tags if run else {}
    if partition := _run_partition(tags):
        facts.append(("partition", partition))
    if run is not None and run.asset_selection:
        keys = sorted(key.to_user_string() for key in run.asset_selection)
        more = f" and {len(keys) - 5} more" if len(keys) > 5 else ""
        facts.append(("assets", ", ".join(keys[:5]) + more))
    detail = None
    if isinstance(data, JobFailureData):
        step = data.first_step_failure_event
        if step is not None and step.step_key:
            facts.append(("step", step.step_key))
        step_error = getattr(step.event_specific_data, "error", None) if step else None
        detail = _error_message(step_error) or _error_message(data.error)
    if tags.get(WILL_RETRY_TAG) == "true":
        facts.append(("retry", "a new run will retry it"))
    return Alert(
        Kind.RUN_FAILED,
        f"Run {entry.run_id[:8]} of {job} failed",
        tuple(facts),
        detail or entry.user_message,
        _run_link(ui, entry.run_id),
    )


def _metadata_lines(metadata: Mapping[str, Any]) -> list[str]:
    lines = []
    for name, value in list(metadata.items())[:8]:
        text = value.value if isinstance(value, dg.MetadataValue) else value
        shown = text if isinstance(text, str) else json.dumps(text, default=str)
        lines.append(f"{name}: {shown[:200]}")
    return lines


def check_failure_alert(
    entry: dg.EventLogEntry,
    evaluation: AssetCheckEvaluation,
    run: dg.DagsterRun | None,
    ui: str | None,
) -> Alert:
    asset = evaluation.asset_key.to_user_string()
    facts = [("asset", asset), ("check", evaluation.check_name)]
    if partition := evaluation.partition or _run_partition(run.tags if run else {}):
        facts.append(("partition", partition))
    if entry.run_id:
        facts.append(("run", entry.run_id))
    detail = [evaluation.description or "", *_metadata_lines(evaluation.metadata)]
    return Alert(
        Kind.CHECK_FAILED,
        f"{'Blocking check' if evaluation.blocking is not False else 'Check'} "
        f"{evaluation.check_name} failed on {asset}",
        tuple(facts),
        "\n".join(line for line in detail if line) or None,
        _run_link(ui, entry.run_id) or _asset_link(ui, evaluation.asset_key),
    )


def is_blocking_failure(evaluation: AssetCheckEvaluation, graph: AssetGraph | None = None) -> bool:
    """A failed check that stops what is downstream: ERROR severity on a blocking check (as the
    evaluation records it; else as the definitions declare it)."""
    if evaluation.passed or evaluation.severity != dg.AssetCheckSeverity.ERROR:
        return False
    if evaluation.blocking is not None:
        return evaluation.blocking
    key = dg.AssetCheckKey(evaluation.asset_key, evaluation.check_name)
    return (
        graph is not None and key in graph.asset_check_keys and graph.get_check_spec(key).blocking
    )


def calls_for_post(evaluation: AssetCheckEvaluation, graph: AssetGraph | None = None) -> bool:
    """A blocking failure; or, at ERROR, a view's data falling past its `fail_after`
    (`data_lag`) or a notification rule dead-lettering past its ratio (`dead_letter_ratio`):
    they block nothing but break what the view promises."""
    if is_blocking_failure(evaluation, graph):
        return True
    return (
        evaluation.check_name in (DATA_LAG_CHECK, DEAD_LETTER_CHECK)
        and not evaluation.passed
        and evaluation.severity == dg.AssetCheckSeverity.ERROR
    )


# Freshness


#: How stale a state is: a post goes out when a view gets staler, and when a stale one passes.
_RANK = {FreshnessState.WARN: 1, FreshnessState.FAIL: 2}


def freshness_transition(previous: str | None, current: FreshnessState) -> Kind | None:
    """The post a change of state calls for: stale when it gets worse (PASS to WARN or FAIL,
    WARN to FAIL; a view first seen stale counts), recovered when a stale one is PASS again.
    UNKNOWN (never materialized) and NOT_APPLICABLE call for none."""
    before = _RANK.get(FreshnessState(previous), 0) if previous else 0
    after = _RANK.get(current, 0)
    if after > before:
        return Kind.VIEW_STALE
    if before and current == FreshnessState.PASS:
        return Kind.VIEW_RECOVERED
    return None


def freshness_states(
    instance: dg.DagsterInstance, graph: AssetGraph
) -> dict[dg.AssetKey, FreshnessState]:
    """The freshness state of every asset with a freshness policy, now, by Dagster's own
    evaluators: those of the daemon's freshness loop, which records what the UI shows. Run
    here, in the tick, so alerts do not depend on that loop being on (`freshness: enabled`)."""
    from dagster._core.definitions.freshness_evaluator import (
        FRESHNESS_EVALUATORS_BY_POLICY_TYPE,
    )
    from dagster._core.loader import LoadingContext

    class Loading(LoadingContext):
        """Batches the asset record reads of one evaluation."""

        def __init__(self) -> None:
            self._loaders: dict[type, Any] = {}

        @property
        def instance(self) -> dg.DagsterInstance:
            return instance

        @property
        def loaders(self) -> dict[type, Any]:
            return self._loaders

    nodes = [
        node
        for node in graph.asset_nodes
        if type(node.freshness_policy_or_from_metadata) in FRESHNESS_EVALUATORS_BY_POLICY_TYPE
    ]

    async def evaluate() -> list[FreshnessState]:
        context = Loading()
        return await asyncio.gather(
            *(
                FRESHNESS_EVALUATORS_BY_POLICY_TYPE[
                    type(node.freshness_policy_or_from_metadata)
                ]().evaluate_freshness(context=context, node=node)
                for node in nodes
            )
        )

    return dict(zip((node.key for node in nodes), asyncio.run(evaluate()), strict=True))


def _duration(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    return " ".join(parts) or f"{seconds}s"


def _describe_policy(policy: FreshnessPolicy | None) -> str | None:
    fail = getattr(policy, "fail_window", None)
    if fail is None:
        return None
    warn = getattr(policy, "warn_window", None)
    text = f"fails {_duration(fail.to_timedelta())} after the last materialization"
    return text + (f", warns after {_duration(warn.to_timedelta())}" if warn else "")


def freshness_alert(
    key: dg.AssetKey,
    kind: Kind,
    previous: str | None,
    current: FreshnessState,
    policy: FreshnessPolicy | None,
    last: dg.EventLogEntry | None,
    ui: str | None,
) -> Alert:
    what = "View" if key.path[0] == "views" else "Asset"
    asset = key.to_user_string()
    if kind is Kind.VIEW_STALE:
        level = "failing" if current == FreshnessState.FAIL else "warning"
        title = f"{what} {asset} is stale ({level})"
    else:
        title = f"{what} {asset} is fresh again"
    facts = [("asset", asset), ("freshness", f"{previous or 'UNKNOWN'} → {current.value}")]
    if last is not None:
        when = dt.datetime.fromtimestamp(last.timestamp, dt.UTC)
        facts.append(("last materialized", when.strftime("%Y-%m-%d %H:%M UTC")))
        partition = last.dagster_event.partition if last.dagster_event else None
        if partition:
            facts.append(("partition", partition))
        if last.run_id:
            facts.append(("run", last.run_id))
    return Alert(kind, title, tuple(facts), _describe_policy(policy), _asset_link(ui, key))


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
