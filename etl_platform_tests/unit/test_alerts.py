"""Alerts without a server: the body, what it masks, when freshness calls for a post, the cursor,
and delivery in order (a fake post stands in for the webhook; the real one is in
integration/test_alerts_webhook.py)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import dagster as dg
import pytest
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluation
from dagster._core.definitions.freshness import FreshnessState
from dagster_shared.error import SerializableErrorInfo

from etl_platform.automation import alert_messages, alerts
from etl_platform.automation.alert_messages import (
    Alert,
    Kind,
    freshness_transition,
    is_blocking_failure,
    slack_body,
)
from etl_platform.automation.alerts import (
    AlertCursor,
    Pending,
    Stream,
    advance,
    deliver,
    platform_alerts,
)
from etl_platform.automation.webhook import (
    WebhookRefused,
    WebhookUnavailable,
    describe_url,
    is_http_url,
    mask_url,
    post_json,
)
from etl_platform.components.automation_component import AutomationComponent
from etl_platform.env import ALERT_WEBHOOK_URL_ENV

TOKEN = "tok-S3cr3tHookToken"
HOOK = f"https://hooks.slack.com/services/T0001/B0001/{TOKEN}"
PASSWORD = "pw-S3cr3t-unit"
DSN = f"postgresql://etl:{PASSWORD}@warehouse.internal:5439/analytics"


def _alert(**changes: Any) -> Alert:
    base = Alert(
        Kind.CHECK_FAILED,
        "Blocking check unique_key_unique failed on views/orders_enriched",
        (
            ("asset", "views/orders_enriched"),
            ("check", "unique_key_unique"),
            ("partition", "2025-01-04"),
            ("run", "0123abcd-0000"),
        ),
        "2 rows share a key",
        "http://127.0.0.1:3000/runs/0123abcd-0000",
    )
    return Alert(**{**base.__dict__, **changes})


# The body


def test_the_body_is_slack_json_naming_what_happened() -> None:
    body = slack_body(_alert())
    assert set(body) == {"text", "blocks"}
    text = body["text"]
    assert text.splitlines()[0] == (
        "Blocking check unique_key_unique failed on views/orders_enriched"
    )
    for fact in ("asset: views/orders_enriched", "check: unique_key_unique", "run: 0123abcd"):
        assert fact in text
    assert "partition: 2025-01-04" in text and "http://127.0.0.1:3000/runs/0123abcd-0000" in text
    title, fields, detail, link = body["blocks"]
    assert title["text"]["text"] == (
        ":no_entry: *Blocking check unique_key_unique failed on views/orders_enriched*"
    )
    assert fields["fields"][2] == {"type": "mrkdwn", "text": "*partition*\n2025-01-04"}
    assert detail["text"]["text"] == "```2 rows share a key```"
    assert (
        link["elements"][0]["text"] == "<http://127.0.0.1:3000/runs/0123abcd-0000|Open in Dagster>"
    )
    json.dumps(body)  # serializable as is


def test_the_body_escapes_slack_markup_and_leaves_out_what_is_missing() -> None:
    body = slack_body(_alert(detail="a < b && c > d", link=None, facts=()))
    assert "a &lt; b &amp;&amp; c &gt; d" in body["text"]
    assert [b["type"] for b in body["blocks"]] == ["section", "section"]


def test_a_secret_in_an_error_message_never_reaches_the_body(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ETL_PLATFORM_REDSHIFT_DSN", DSN)
    alert = _alert(
        kind=Kind.RUN_FAILED,
        title=f"Run failed: {DSN}",
        facts=(("step", f"connect {PASSWORD}"),),
        detail=f"OperationalError: could not connect to {DSN} (via {HOOK})",
    )
    sent = json.dumps(slack_body(alert, HOOK))
    assert PASSWORD not in sent and TOKEN not in sent and "T0001/B0001" not in sent
    assert "could not connect to ***" in sent


def test_a_long_detail_is_cut() -> None:
    body = slack_body(_alert(detail="x" * 10_000))
    assert len(body["blocks"][2]["text"]["text"]) == alert_messages.DETAIL_CHARS + 6


# The webhook URL in messages


def test_a_message_names_the_webhook_host_never_its_token() -> None:
    assert describe_url(HOOK) == "https://hooks.slack.com"
    assert describe_url("http://127.0.0.1:8080/a/b") == "http://127.0.0.1:8080"
    encoded = HOOK.replace("/", "%2F")
    text = f"POST {HOOK} failed; path /services/T0001/B0001/{TOKEN}; quoted {encoded}"
    masked = mask_url(text, HOOK)
    assert TOKEN not in masked and "T0001" not in masked
    assert masked.count("***") == 3


def test_only_http_urls_are_posted_to() -> None:
    assert is_http_url(HOOK) and is_http_url("http://127.0.0.1:9/x")
    for url in ("hooks.slack.com/services/x", "ftp://host/x", "https://", "http://[::1"):
        assert not is_http_url(url)
        with pytest.raises(WebhookRefused) as refused:
            post_json(url, {"text": "x"})
        assert refused.value.attempts == 0


# Events


def test_a_failed_run_names_the_error_its_code_raised_not_dagsters_wrapper() -> None:
    cause = SerializableErrorInfo("RuntimeError: shard_03 is down\n", [], "RuntimeError")
    wrapper = SerializableErrorInfo(
        'DagsterExecutionStepExecutionError: Error occurred while executing op "x":\n',
        [],
        "DagsterExecutionStepExecutionError",
        cause=cause,
    )
    assert alert_messages._error_message(wrapper) == "RuntimeError: shard_03 is down"
    check_failed = SerializableErrorInfo("DagsterAssetCheckFailedError: 1 failed\n", [], "X")
    assert alert_messages._error_message(check_failed) == "DagsterAssetCheckFailedError: 1 failed"
    assert alert_messages._error_message(None) is None


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"dagster/partition": "2025-01-03"}, "2025-01-03"),
        (
            {
                "dagster/asset_partition_range_start": "2025-01-01",
                "dagster/asset_partition_range_end": "2025-01-31",
            },
            "2025-01-01...2025-01-31",
        ),
        (
            {
                "dagster/asset_partition_range_start": "2025-01-01",
                "dagster/asset_partition_range_end": "2025-01-01",
            },
            "2025-01-01",
        ),
        ({}, None),
    ],
)
def test_the_partition_of_a_run(tags: dict[str, str], expected: str | None) -> None:
    assert alert_messages._run_partition(tags) == expected


def _evaluation(**changes: Any) -> AssetCheckEvaluation:
    fields = {"asset_key": dg.AssetKey(["views", "v"]), "check_name": "c", "passed": False}
    return AssetCheckEvaluation(**{**fields, **changes})


def test_only_a_blocking_check_failing_with_error_severity_calls_for_a_post() -> None:
    assert is_blocking_failure(_evaluation(blocking=True))
    assert not is_blocking_failure(_evaluation(blocking=False))
    assert not is_blocking_failure(_evaluation(blocking=True, passed=True))
    assert not is_blocking_failure(_evaluation(blocking=True, severity=dg.AssetCheckSeverity.WARN))

    @dg.asset(
        key=["views", "v"],
        check_specs=[dg.AssetCheckSpec("c", asset=["views", "v"], blocking=True)],
    )
    def v() -> dg.MaterializeResult:
        return dg.MaterializeResult()

    graph = dg.Definitions(assets=[v]).resolve_asset_graph()
    assert is_blocking_failure(_evaluation(), graph)  # not recorded: as the spec says
    assert not is_blocking_failure(_evaluation(check_name="gone"), graph)
    assert not is_blocking_failure(_evaluation())


# Freshness


@pytest.mark.parametrize(
    ("previous", "current", "kind"),
    [
        ("PASS", FreshnessState.WARN, Kind.VIEW_STALE),
        ("PASS", FreshnessState.FAIL, Kind.VIEW_STALE),
        ("WARN", FreshnessState.FAIL, Kind.VIEW_STALE),
        (None, FreshnessState.FAIL, Kind.VIEW_STALE),  # stale when alerts start
        ("UNKNOWN", FreshnessState.WARN, Kind.VIEW_STALE),
        ("WARN", FreshnessState.PASS, Kind.VIEW_RECOVERED),
        ("FAIL", FreshnessState.PASS, Kind.VIEW_RECOVERED),
        ("FAIL", FreshnessState.WARN, None),  # not staler, not fresh
        ("FAIL", FreshnessState.UNKNOWN, None),  # wiped
        (None, FreshnessState.PASS, None),
        ("UNKNOWN", FreshnessState.PASS, None),
        (None, FreshnessState.UNKNOWN, None),
        ("PASS", FreshnessState.NOT_APPLICABLE, None),
    ],
)
def test_which_freshness_changes_call_for_a_post(
    previous: str | None, current: FreshnessState, kind: Kind | None
) -> None:
    assert freshness_transition(previous, current) is kind


def test_a_freshness_policy_is_described_in_its_own_units() -> None:
    policy = dg.FreshnessPolicy.time_window(
        fail_window=dt.timedelta(days=2), warn_window=dt.timedelta(hours=25, minutes=30)
    )
    assert alert_messages._describe_policy(policy) == (
        "fails 2d after the last materialization, warns after 1d 1h 30m"
    )
    assert alert_messages._describe_policy(None) is None


# The cursor


def test_the_cursor_is_json_and_a_foreign_one_starts_afresh() -> None:
    cursor = AlertCursor(runs_after=10, checks_after=12, views={"views/a": "PASS"})
    assert AlertCursor.parse(cursor.dump()) == cursor
    assert json.loads(cursor.dump()) == {
        "runs_after": 10,
        "checks_after": 12,
        "views": {"views/a": "PASS"},
    }
    for foreign in (None, "", "not json", "[]", '{"runs_after": 1}', '{"runs_after": "x"}'):
        assert AlertCursor.parse(foreign) is None


def test_each_stream_moves_its_own_position() -> None:
    cursor = AlertCursor(runs_after=10, checks_after=12)
    cursor = advance(cursor, Pending(None, Stream.CHECKS, 15))
    cursor = advance(cursor, Pending(None, Stream.RUNS, 14))
    cursor = advance(cursor, Pending(None, Stream.VIEWS, "views/a", "FAIL"))
    assert cursor == AlertCursor(runs_after=14, checks_after=15, views={"views/a": "FAIL"})


# Delivery


class FakeWebhook:
    """Answers each post as scripted: ok, refused (4xx) or unavailable (after retries)."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, url: str, body: dict[str, Any], **_: Any) -> None:
        self.bodies.append(body)
        answer = self.answers.pop(0) if self.answers else "ok"
        if answer == "refused":
            raise WebhookRefused(
                "https://hooks.slack.com refused the post: HTTP 400", status=400, attempts=1
            )
        if answer == "unavailable":
            raise WebhookUnavailable("https://hooks.slack.com unavailable", status=503, attempts=3)


def _items() -> list[Pending]:
    return [
        Pending(_alert(kind=Kind.RUN_FAILED, title="Run 1 failed"), Stream.RUNS, 5),
        Pending(None, Stream.CHECKS, 6),  # a check that passed
        Pending(_alert(title="Check 7 failed"), Stream.CHECKS, 7),
        Pending(_alert(kind=Kind.RUN_FAILED, title="Run 8 failed"), Stream.RUNS, 8),
        Pending(
            _alert(kind=Kind.VIEW_STALE, title="View a stale"), Stream.VIEWS, "views/a", "FAIL"
        ),
    ]


class Records(logging.Handler):
    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record)


def _deliver(
    webhook: FakeWebhook, monkeypatch: pytest.MonkeyPatch, records: list[logging.LogRecord]
) -> tuple[AlertCursor, alerts.TickReport]:
    monkeypatch.setattr(alerts, "post_json", webhook)
    log = logging.Logger("test_alerts", logging.DEBUG)
    log.addHandler(Records(records))
    return deliver(_items(), AlertCursor(runs_after=4, checks_after=4), HOOK, log)


def test_every_alert_is_posted_in_order_and_the_cursor_moves_past_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    webhook, records = FakeWebhook(), []
    cursor, report = _deliver(webhook, monkeypatch, records)
    assert [b["text"].splitlines()[0] for b in webhook.bodies] == [
        "Run 1 failed",
        "Check 7 failed",
        "Run 8 failed",
        "View a stale",
    ]
    assert cursor == AlertCursor(runs_after=8, checks_after=7, views={"views/a": "FAIL"})
    assert report.summary(False, []) == "posted 4 alert(s)"


def test_a_refused_post_is_logged_and_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    webhook, records = FakeWebhook("ok", "refused"), []
    cursor, report = _deliver(webhook, monkeypatch, records)
    assert len(webhook.bodies) == 4 and cursor.runs_after == 8 and cursor.checks_after == 7
    (error,) = [r.getMessage() for r in records if r.levelno == logging.ERROR]
    assert error == (
        "Alert not delivered, dropped: Check 7 failed. "
        "https://hooks.slack.com refused the post: HTTP 400"
    )
    assert "1 refused by the webhook and dropped" in report.summary(False, [])


def test_an_unavailable_webhook_stops_the_tick_just_before_the_post(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    webhook, records = FakeWebhook("ok", "unavailable"), []
    cursor, report = _deliver(webhook, monkeypatch, records)
    assert len(webhook.bodies) == 2  # nothing after the one that failed is tried
    # run 5 went out and the passed check was handled; check 7 and what follows wait
    assert cursor == AlertCursor(runs_after=5, checks_after=6)
    assert report.waiting == 3
    assert report.summary(False, []) == (
        "posted 1 alert(s); 3 wait for the next tick (https://hooks.slack.com unavailable)"
    )

    webhook = FakeWebhook()  # next tick reads what is ahead of the cursor: check 7 on
    monkeypatch.setattr(alerts, "post_json", webhook)
    cursor, _ = deliver(_items()[2:], cursor, HOOK, logging.Logger("test_alerts"))
    assert [b["text"].splitlines()[0] for b in webhook.bodies] == [
        "Check 7 failed",
        "Run 8 failed",
        "View a stale",
    ]


def test_a_tick_posts_at_most_its_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alerts, "MAX_POSTS_PER_TICK", 2)
    webhook, records = FakeWebhook(), []
    cursor, report = _deliver(webhook, monkeypatch, records)
    assert len(webhook.bodies) == 2 and cursor == AlertCursor(runs_after=5, checks_after=7)
    assert report.waiting == 2 and "this tick's budget is spent" in report.summary(False, [])


# The sensor


def test_without_a_webhook_url_the_sensor_posts_nothing_and_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ALERT_WEBHOOK_URL_ENV, raising=False)
    result = platform_alerts(dg.build_sensor_context(cursor="kept"))
    assert isinstance(result, dg.SkipReason)
    assert result.skip_message == "ETL_PLATFORM_ALERT_WEBHOOK_URL is not set: no alert is posted"
    monkeypatch.setenv(ALERT_WEBHOOK_URL_ENV, "hooks.slack.com/services/T/B/x")
    result = platform_alerts(dg.build_sensor_context())
    assert isinstance(result, dg.SkipReason) and "not an http(s) URL" in (result.skip_message or "")


def test_the_automation_component_registers_the_sensor_stopped() -> None:
    sensors = {s.name: s for s in AutomationComponent().build_defs(None).sensors or []}  # type: ignore[arg-type]
    assert sensors["platform_alerts"].default_status == dg.DefaultSensorStatus.STOPPED
    assert sensors["platform_alerts"].minimum_interval_seconds == alerts.MIN_INTERVAL_SECONDS
