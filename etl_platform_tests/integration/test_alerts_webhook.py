"""The alerts sensor against a real HTTP server on loopback, over real Dagster instances (SQLite
as locally, PostgreSQL as in production): one post per event, none per tick, retries on 5xx,
none on 4xx, and no secret in a post, a log line or a tick's summary."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import dagster as dg
import psycopg
import pytest
from dagster._core.test_utils import freeze_time

from etl_platform.automation import alerts
from etl_platform.automation.alerts import AlertCursor, platform_alerts
from etl_platform.automation.webhook import (
    RetryPolicy,
    WebhookRefused,
    WebhookUnavailable,
    post_json,
)
from etl_platform.env import ALERT_WEBHOOK_URL_ENV, UI_URL_ENV
from etl_platform_tests.conftest import TEST_POSTGRES_URL as POSTGRES_URL
from etl_platform_tests.conftest import loopback_http

pytestmark = pytest.mark.integration

TOKEN = "tok-S3cr3tHookToken"
DB_PASSWORD = "pw-S3cr3t-never-posted"
DSN = f"postgresql://etl:{DB_PASSWORD}@warehouse.internal:5439/analytics"
UI = "http://127.0.0.1:3000"
DAYS = dg.DailyPartitionsDefinition(start_date="2025-01-01")


# A webhook on loopback


@dataclass
class Webhook:
    """Records every post; answers each with the next scripted status (then 200)."""

    port: int = 0
    posts: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    answers: deque[int] = field(default_factory=deque)
    delay: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/services/T000/B000/{TOKEN}"

    def texts(self) -> list[str]:
        return [post["text"] for post in self.posts]


def _handler(hook: Webhook) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hook.posts.append(json.loads(body))
            hook.paths.append(self.path)
            time.sleep(hook.delay)
            status = hook.answers.popleft() if hook.answers else 200
            # an answer that quotes the request's path, as some servers' errors do
            answer = b"ok" if status == 200 else f"no hook at {self.path}".encode()
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                pass

        def log_message(self, *args: Any) -> None:
            return None

    return Handler


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    with loopback_http(_handler(hook)) as hook.port:
        yield hook


@pytest.fixture
def configured(webhook: Webhook, monkeypatch: pytest.MonkeyPatch) -> Webhook:
    monkeypatch.setenv(ALERT_WEBHOOK_URL_ENV, webhook.url)
    monkeypatch.setenv(UI_URL_ENV, UI + "/")
    monkeypatch.setenv("ETL_PLATFORM_REDSHIFT_DSN", DSN)  # a configured secret, to be masked
    return webhook


# Instances: SQLite (local) and PostgreSQL (production)


@pytest.fixture(params=["sqlite", "postgres"])
def instance(request: pytest.FixtureRequest) -> Iterator[dg.DagsterInstance]:
    if request.param == "sqlite":
        with dg.instance_for_test() as instance:
            yield instance
        return
    db = f"etl_test_alerts_{os.getpid()}"
    try:
        with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {db}")
    except psycopg.OperationalError as e:
        pytest.fail(f"PostgreSQL is not reachable ({e}); set ETL_PLATFORM_TEST_POSTGRES_URL")
    # dagster-postgres needs psycopg2: SQLAlchemy 2.1 picks psycopg 3 for `postgresql://`,
    # with which Dagster's NOTIFY on every run event fails
    url = POSTGRES_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://", 1)
    url += f"/{db}"
    try:
        with dg.instance_for_test(overrides={"storage": {"postgres": {"postgres_url": url}}}) as i:
            yield i
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


@pytest.fixture
def sqlite_instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


# What fails


@dg.asset(partitions_def=DAYS)
def boom() -> None:
    raise RuntimeError(f"cannot reach the warehouse at {DSN}")


@dg.asset(
    partitions_def=DAYS,
    check_specs=[
        dg.AssetCheckSpec("unique_key_unique", asset="guarded", blocking=True),
        dg.AssetCheckSpec("not_null", asset="guarded", blocking=True),
        dg.AssetCheckSpec("all_shards_present", asset="guarded"),
    ],
)
def guarded() -> Iterator[Any]:
    yield dg.MaterializeResult()
    yield dg.AssetCheckResult(check_name="not_null", passed=True)
    yield dg.AssetCheckResult(
        check_name="all_shards_present", passed=False, severity=dg.AssetCheckSeverity.WARN
    )
    yield dg.AssetCheckResult(
        check_name="unique_key_unique",
        passed=False,
        description="2 rows share a key",
        metadata={"duplicate_rows": 2},
    )


@dg.asset(
    key=["views", "fresh_view"],
    partitions_def=DAYS,
    freshness_policy=dg.FreshnessPolicy.time_window(
        fail_window=dt.timedelta(hours=1), warn_window=dt.timedelta(minutes=30)
    ),
)
def fresh_view() -> None:
    return None


DEFS = dg.Definitions(assets=[boom, guarded, fresh_view], sensors=[platform_alerts])


class _Records(logging.Handler):
    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record)


def _tick(
    instance: dg.DagsterInstance,
    cursor: str | None,
    log: list[logging.LogRecord] | None = None,
) -> tuple[str | None, str]:
    """One evaluation of the sensor, as the daemon runs it: (the cursor it saves, its summary).
    `log` collects the records of the tick's log."""
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=DEFS)
    if log is not None:
        context.log.addHandler(_Records(log))
    result = platform_alerts(context)
    if isinstance(result, dg.SkipReason):
        return cursor, result.skip_message or ""
    assert not result.run_requests
    return result.cursor, result.skip_reason.skip_message if result.skip_reason else ""


def _fail(instance: dg.DagsterInstance, asset: dg.AssetsDefinition, day: str) -> str:
    result = dg.materialize([asset], instance=instance, partition_key=day, raise_on_error=False)
    assert not result.success
    return result.run_id


# Once per event


def test_each_event_is_posted_once_and_a_quiet_tick_posts_nothing(
    configured: Webhook, instance: dg.DagsterInstance
) -> None:
    cursor, summary = _tick(instance, None)  # the sensor starts: from now on
    assert configured.posts == [] and summary.startswith("first tick")
    boom_run = _fail(instance, boom, "2025-01-03")
    guarded_run = _fail(instance, guarded, "2025-01-04")  # its blocking check fails the run

    cursor, summary = _tick(instance, cursor)
    assert summary.startswith("posted 3 alert(s)")
    texts = configured.texts()
    assert len(texts) == 3
    ran, checked, ran_guarded = configured.posts
    assert ran["text"].startswith(f"Run {boom_run[:8]} of __ephemeral_asset_job__ failed")
    assert "partition: 2025-01-03" in ran["text"] and f"run: {boom_run}" in ran["text"]
    assert "step: boom" in ran["text"]
    assert "RuntimeError: cannot reach the warehouse at" in ran["text"]
    assert f"{UI}/runs/{boom_run}" in ran["text"]
    assert checked["text"].startswith("Blocking check unique_key_unique failed on guarded")
    for fact in ("check: unique_key_unique", "partition: 2025-01-04", f"run: {guarded_run}"):
        assert fact in checked["text"]
    assert "2 rows share a key" in checked["text"] and "duplicate_rows: 2" in checked["text"]
    assert "blocking asset check failed" in ran_guarded["text"]
    # a warning check that fails, and a blocking one that passes, call for no post
    assert not any("all_shards_present" in t or "not_null" in t for t in texts)

    # nothing new: nothing posted, not even after a restart (the saved cursor is all it has)
    again, summary = _tick(instance, cursor)
    assert summary == "nothing new to post" and again == cursor
    _tick(instance, again)
    assert len(configured.posts) == 3


def test_a_secret_in_a_failure_message_does_not_reach_the_post(
    configured: Webhook, instance: dg.DagsterInstance
) -> None:
    cursor, _ = _tick(instance, None)
    _fail(instance, boom, "2025-01-03")
    _tick(instance, cursor)
    (post,) = configured.posts
    sent = json.dumps(post)
    assert DB_PASSWORD not in sent and TOKEN not in sent
    assert "cannot reach the warehouse at ***" in post["text"]


# Staleness


def test_a_view_turning_stale_and_recovering_is_posted_once_each(
    configured: Webhook, instance: dg.DagsterInstance
) -> None:
    """Dagster's own freshness evaluator runs in the tick; `freeze_time` moves the clock it
    reads (Dagster's), not the materializations' timestamps."""
    dg.materialize([fresh_view], instance=instance, partition_key="2025-01-05")
    built = time.time()
    with freeze_time(built + 60):
        cursor, _ = _tick(instance, None)
    assert configured.posts == []  # fresh
    assert json.loads(cursor or "")["views"] == {"views/fresh_view": "PASS"}

    with freeze_time(built + 40 * 60):
        cursor, _ = _tick(instance, cursor)
        cursor, _ = _tick(instance, cursor)
    (warned,) = configured.posts
    assert warned["text"].startswith("View views/fresh_view is stale (warning)")
    assert "freshness: PASS → WARN" in warned["text"] and "partition: 2025-01-05" in warned["text"]
    assert f"{UI}/assets/views/fresh_view" in warned["text"]

    with freeze_time(built + 2 * 3600):
        cursor, _ = _tick(instance, cursor)
        cursor, _ = _tick(instance, cursor)
    assert len(configured.posts) == 2
    assert configured.posts[1]["text"].startswith("View views/fresh_view is stale (failing)")

    rebuilt = dg.materialize([fresh_view], instance=instance, partition_key="2025-01-06")
    with freeze_time(time.time() + 60):
        cursor, _ = _tick(instance, cursor)
        cursor, _ = _tick(instance, cursor)
    assert len(configured.posts) == 3
    recovered = configured.posts[2]["text"]
    assert recovered.startswith("View views/fresh_view is fresh again")
    assert f"run: {rebuilt.run_id}" in recovered and "partition: 2025-01-06" in recovered


def test_a_view_already_stale_when_alerts_start_is_posted(
    configured: Webhook, sqlite_instance: dg.DagsterInstance
) -> None:
    dg.materialize([fresh_view], instance=sqlite_instance, partition_key="2025-01-05")
    with freeze_time(time.time() + 3 * 3600):
        cursor, _ = _tick(sqlite_instance, None)
        _tick(sqlite_instance, cursor)
    (post,) = configured.posts
    assert post["text"].startswith("View views/fresh_view is stale (failing)")


# What the webhook answers


def test_a_5xx_is_retried_and_the_event_posted_once(
    configured: Webhook, sqlite_instance: dg.DagsterInstance
) -> None:
    cursor, _ = _tick(sqlite_instance, None)
    _fail(sqlite_instance, boom, "2025-01-03")
    configured.answers.extend([500])
    cursor, summary = _tick(sqlite_instance, cursor)
    assert summary.startswith("posted 1 alert(s)")
    assert len(configured.posts) == 2 and configured.posts[0] == configured.posts[1]
    _tick(sqlite_instance, cursor)
    assert len(configured.posts) == 2


def test_a_post_that_still_fails_waits_for_the_next_tick_and_the_others_are_not_resent(
    configured: Webhook, sqlite_instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alerts, "WEBHOOK_POLICY", RetryPolicy(timeout=2, attempts=2, backoff=0))
    cursor, _ = _tick(sqlite_instance, None)
    first = _fail(sqlite_instance, boom, "2025-01-03")
    second = _fail(sqlite_instance, boom, "2025-01-04")
    configured.answers.extend([200, 503, 503])
    cursor, summary = _tick(sqlite_instance, cursor)
    assert "posted 1 alert(s)" in summary and "1 wait for the next tick" in summary
    assert TOKEN not in summary
    assert [first[:8] in t for t in configured.texts()] == [True, False, False]

    cursor, summary = _tick(sqlite_instance, cursor)  # the webhook is back
    assert summary.startswith("posted 1 alert(s)")
    assert [p["text"].split(" of ")[0] for p in configured.posts] == [
        f"Run {first[:8]}",
        f"Run {second[:8]}",
        f"Run {second[:8]}",
        f"Run {second[:8]}",
    ]
    _tick(sqlite_instance, cursor)
    assert len(configured.posts) == 4


def test_a_4xx_is_not_retried_and_the_dropped_alert_is_logged_without_the_url(
    configured: Webhook, sqlite_instance: dg.DagsterInstance
) -> None:
    cursor, _ = _tick(sqlite_instance, None)
    run_id = _fail(sqlite_instance, boom, "2025-01-03")
    configured.answers.extend([404])  # its answer quotes the path, token and all
    log: list[logging.LogRecord] = []
    cursor, summary = _tick(sqlite_instance, cursor, log)
    assert len(configured.posts) == 1
    assert "1 refused by the webhook and dropped" in summary
    (dropped,) = [r.getMessage() for r in log if r.levelno == logging.ERROR]
    assert dropped.startswith(f"Alert not delivered, dropped: Run {run_id[:8]}")
    assert f"http://127.0.0.1:{configured.port} refused the post: HTTP 404 (no hook at ***)" in (
        dropped
    )
    assert all(TOKEN not in r.getMessage() for r in log) and TOKEN not in summary
    assert f"127.0.0.1:{configured.port}" in "".join(dropped)  # the host, to know which hook
    _tick(sqlite_instance, cursor)
    assert len(configured.posts) == 1


def test_without_a_webhook_the_sensor_says_so_and_keeps_its_cursor(
    webhook: Webhook, sqlite_instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ALERT_WEBHOOK_URL_ENV, raising=False)
    _fail(sqlite_instance, boom, "2025-01-03")
    cursor, summary = _tick(sqlite_instance, "kept")
    assert cursor == "kept"
    assert summary == "ETL_PLATFORM_ALERT_WEBHOOK_URL is not set: no alert is posted"
    assert webhook.posts == []


def test_the_cursor_survives_as_json(
    configured: Webhook, sqlite_instance: dg.DagsterInstance
) -> None:
    cursor, _ = _tick(sqlite_instance, None)
    parsed = AlertCursor.parse(cursor)
    assert parsed is not None and parsed.dump() == cursor


# The webhook client on its own


def test_the_client_posts_json_and_retries_only_what_may_pass(webhook: Webhook) -> None:
    body = {"text": "hello ünïcode"}
    assert post_json(webhook.url, body).attempts == 1
    assert webhook.posts == [body] and webhook.paths == [f"/services/T000/B000/{TOKEN}"]

    webhook.answers.extend([502, 429, 200])
    assert post_json(webhook.url, body, policy=RetryPolicy(backoff=0.01)).attempts == 3

    for status in (400, 403, 404, 410):
        webhook.answers.append(status)
        sent = len(webhook.posts)
        with pytest.raises(WebhookRefused) as refused:
            post_json(webhook.url, body, policy=RetryPolicy(backoff=0.01))
        assert len(webhook.posts) == sent + 1 and refused.value.status == status
        assert TOKEN not in str(refused.value) and refused.value.__cause__ is None

    webhook.answers.extend([500, 500, 500])
    with pytest.raises(WebhookUnavailable) as unavailable:
        post_json(webhook.url, body, policy=RetryPolicy(backoff=0.01))
    assert unavailable.value.attempts == 3 and "HTTP 500" in str(unavailable.value)
    assert TOKEN not in str(unavailable.value)


def test_the_client_times_out_and_names_no_token(webhook: Webhook) -> None:
    webhook.delay = 1.0
    started = time.monotonic()
    with pytest.raises(WebhookUnavailable) as unavailable:
        post_json(
            webhook.url, {"text": "x"}, policy=RetryPolicy(timeout=0.2, attempts=2, backoff=0)
        )
    assert time.monotonic() - started < 1.5
    assert len(webhook.posts) == 2 and "no answer within 0.2 s" in str(unavailable.value)
    assert TOKEN not in str(unavailable.value)


def test_a_webhook_that_is_down_is_unavailable_not_refused() -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    url = f"http://127.0.0.1:{port}/services/T000/B000/{TOKEN}"
    with pytest.raises(WebhookUnavailable) as unavailable:
        post_json(url, {"text": "x"}, policy=RetryPolicy(timeout=1, attempts=2, backoff=0))
    message = str(unavailable.value)
    assert "ConnectionRefusedError" in message and TOKEN not in message
    assert message.startswith(f"http://127.0.0.1:{port} unavailable after 2 attempts")
