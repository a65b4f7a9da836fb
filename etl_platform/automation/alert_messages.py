"""What an alert says: run failures, blocking check failures and freshness changes turned into
Slack-compatible posts (the `platform_alerts` sensor sends them: `alerts`)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
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
    mask_url,
)

#: Characters of an error message or check description a post keeps.
DETAIL_CHARS = 1500


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
