"""Notifications against real receivers on loopback: an HTTP server and an SMTP server
(aiosmtpd), with the ledger in the real PostgreSQL (a schema per test). Each message goes once
per row version, through re-runs, two runs at once (threads, and OS processes), failing and slow
receivers and a crash between the send and the ledger's write (the receiver drops the repeat by
its key); the rate limit holds across processes; the dead letters are a DuckDB view."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import psycopg
import pyarrow as pa
import pytest
from aiosmtpd.controller import Controller
from dagster_duckdb import DuckDBResource

from etl_platform.components.notifications import (
    DEAD_LETTER_CHECK,
    build_notification_assets,
    notifications_asset_key,
)
from etl_platform.demo.mariadb_server import free_port
from etl_platform.env import DEFAULTS_DIR
from etl_platform.load.lake import Lake
from etl_platform.notify.dead_letters import (
    DEAD_LETTER_SCHEMA,
    dead_letters_dataset,
    read_dead_letters,
)
from etl_platform.notify.deliver import Pacing
from etl_platform.notify.ledger import LEDGER_SCHEMA_ENV, LEDGER_URL_ENV, Ledger
from etl_platform.notify.run import NotifyOutcome, notify_days
from etl_platform.resources import LakeResource
from etl_platform.specs.loader import load_sources
from etl_platform.specs.views import ViewSpec
from etl_platform_tests.conftest import loopback_http

pytestmark = pytest.mark.integration

TOKEN = "tok-N0tifyS3cret"
HEADER_TOKEN = "Bearer hdr-S3cretValue"
NOW = dt.datetime(2026, 5, 10, 12, tzinfo=dt.UTC)
DAY = NOW.date()
RUN = "run-1"


# Receivers on loopback


@dataclass
class Receiver:
    """An HTTP receiver that answers each post with the next scripted status (then 200) after
    `delay` seconds, and keeps what a careful receiver keeps: every request, and the messages
    it took, dropping a repeat of an idempotency key it already took."""

    port: int = 0
    requests: list[tuple[str, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # time.monotonic() of each request
    taken: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: deque[int] = field(default_factory=deque)
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{TOKEN}"

    def keys(self) -> list[str]:
        return [key for key, _, _ in self.requests]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            key = self.headers["Idempotency-Key"]
            time.sleep(receiver.delay)
            with receiver.lock:
                receiver.requests.append((key, body, dict(self.headers)))
                receiver.times.append(time.monotonic())
                status = receiver.answers.popleft() if receiver.answers else 200
                if status == 200:
                    receiver.taken.setdefault(key, body)  # a repeat is dropped
            try:
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: Any) -> None:
            return None

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    with loopback_http(_handler(hook)) as hook.port:
        yield hook


class Mailbox:
    """An aiosmtpd handler: keeps each e-mail; refuses recipients at `refused.example`."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if address.endswith("@refused.example"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


# The ledger: a fresh schema per test


@pytest.fixture
def schema(postgres_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    name = "etl_test_nt_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:45]
    drop = f'DROP SCHEMA IF EXISTS "{name}" CASCADE'
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(drop)
    yield name
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(drop)


# A view day in the lake, and its rules


def view_spec(**rule: Any) -> ViewSpec:
    return ViewSpec.model_validate(
        {
            "name": "orders_enriched",
            "source": "orders",
            "columns": {
                "order_id": {"from": "id", "type": "int64"},
                "status": {"from": "status", "type": "string"},
                "city": {"from": "city", "type": "string"},
                "coupon": {"from": "coupon", "type": "string"},
                "email": {"from": "email", "type": "string"},
            },
            "unique_key": ["order_id"],
            "notifications": [
                {
                    "name": "shipped",
                    "when": "status = 'shipped'",
                    "channel": {
                        "type": "webhook",
                        "url_env": "HOOK_URL",
                        "headers_env": {"Authorization": "HOOK_AUTH"},
                    },
                    "template": "Order {{ order_id }} shipped to {{ city }}",
                    "rate_per_minute": 6000,
                    **rule,
                }
            ],
        }
    )


def write_day(lake: Lake, rows: list[dict[str, Any]], day: dt.date = DAY) -> None:
    """The view day as the view asset writes it: its columns and the system columns."""
    full = [
        {"_shard": "shard_00", "coupon": None, "email": None, "_run_id": "r", **row} for row in rows
    ]
    schema = pa.schema(
        [
            ("_shard", pa.string()),
            ("order_id", pa.int64()),
            ("status", pa.string()),
            ("city", pa.string()),
            ("coupon", pa.string()),
            ("email", pa.string()),
            ("_updated_at", pa.timestamp("us", tz="UTC")),
            ("_run_id", pa.string()),
        ]
    )
    lake.view("orders_enriched").write_partitions(
        {day: pa.Table.from_pylist(full, schema=schema)}, schema
    )


def orders(n: int, *, status: str = "shipped", at: dt.datetime = NOW, first: int = 1) -> list[dict]:
    return [
        {"order_id": i, "status": status, "city": f"city {i}", "_updated_at": at}
        for i in range(first, first + n)
    ]


@dataclass
class Harness:
    """One view and its lake, ledger and receiver: `run()` is one asset run's work."""

    lake: Lake
    postgres_url: str
    schema: str
    receiver: Receiver
    sleeps: list[float] = field(default_factory=list)  # backoffs
    waits: list[float] = field(default_factory=list)  # for the rate's send slots
    lease: dt.timedelta = dt.timedelta(minutes=15)

    def environ(self) -> dict[str, str]:
        return {"HOOK_URL": self.receiver.url, "HOOK_AUTH": HEADER_TOKEN}

    def ledger(self) -> Ledger:
        return Ledger(self.postgres_url, self.schema, lease=self.lease)

    def run(
        self, spec: ViewSpec, run_id: str = RUN, day: dt.date = DAY, **kwargs: Any
    ) -> NotifyOutcome:
        return notify_days(
            spec,
            self.lake,
            [day],
            run_id,
            now=NOW,
            environ=kwargs.pop("environ", self.environ()),
            open_ledger=self.ledger,
            pacing=Pacing(sleep=self.sleeps.append, wait=self.waits.append),
            **kwargs,
        )

    def states(self) -> dict[str, int]:
        with self.ledger() as ledger:
            return ledger.states("orders_enriched", "shipped")


@pytest.fixture
def harness(tmp_path: Path, postgres_url: str, schema: str, receiver: Receiver) -> Harness:
    return Harness(Lake(tmp_path / "lake"), postgres_url, schema, receiver)


def dead_letters(h: Harness) -> list[dict[str, Any]]:
    return read_dead_letters(dead_letters_dataset(h.lake, "orders_enriched"), DAY).to_pylist()


def assert_no_secret(*texts: object) -> None:
    for text in texts:
        assert TOKEN not in str(text) and HEADER_TOKEN not in str(text)


# Once per row version


def test_each_row_version_is_sent_once_and_a_rerun_sends_nothing(harness: Harness) -> None:
    write_day(harness.lake, [*orders(3), *orders(2, status="paid", first=10)])
    counts = harness.run(view_spec()).counts["shipped"]
    assert (counts.matched, counts.sent, counts.retried, counts.dead_lettered) == (3, 3, 0, 0)
    texts = sorted(body["text"] for body in harness.receiver.taken.values())
    assert texts == [f"Order {i} shipped to city {i}" for i in (1, 2, 3)]
    _, body, headers = harness.receiver.requests[0]
    assert headers["Authorization"] == HEADER_TOKEN
    assert headers["Idempotency-Key"] == body["idempotency_key"]

    again = harness.run(view_spec(), run_id="run-2").counts["shipped"]
    assert (again.sent, again.already_sent) == (0, 3)
    assert len(harness.receiver.requests) == 3
    assert harness.states() == {"sent": 3}


def test_a_new_version_of_a_row_is_sent_and_once_per_key_is_not(harness: Harness) -> None:
    write_day(harness.lake, orders(2))
    harness.run(view_spec())
    later = NOW + dt.timedelta(minutes=5)
    write_day(harness.lake, [*orders(1, at=later), *orders(1, first=2)])
    assert harness.run(view_spec(), run_id="run-2").counts["shipped"].sent == 1
    assert len(set(harness.receiver.keys())) == 3

    # a rule sent once per key ignores the new version
    once = view_spec(name="shipped_once", once_per="key")
    write_day(harness.lake, orders(2, at=later + dt.timedelta(minutes=1)))
    assert harness.run(once, run_id="run-3").counts["shipped_once"].sent == 2
    write_day(harness.lake, orders(2, at=later + dt.timedelta(minutes=2)))
    assert harness.run(once, run_id="run-4").counts["shipped_once"].already_sent == 2


def test_two_concurrent_runs_send_each_message_once(harness: Harness) -> None:
    write_day(harness.lake, orders(30))
    harness.receiver.delay = 0.01
    start = threading.Barrier(2)
    outcomes: list[NotifyOutcome] = []

    def one_run(run_id: str) -> None:
        start.wait()
        outcomes.append(harness.run(view_spec(), run_id=run_id))

    threads = [threading.Thread(target=one_run, args=(f"run-{i}",)) for i in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(outcomes) == 2
    keys = harness.receiver.keys()
    assert len(keys) == 30 and len(set(keys)) == 30
    assert sum(o.counts["shipped"].sent for o in outcomes) == 30
    assert harness.states() == {"sent": 30}


def deliver_in_process(
    lake_root: str,
    postgres_url: str,
    schema: str,
    hook_url: str,
    run_id: str,
    day: dt.date,
    rule: dict[str, Any],
    start: Any,
    results: Any,
) -> None:
    """One run in a process of its own (spawned: nothing shared but the arguments), with real
    sleeps; puts (run_id, counts) on `results`."""
    open_ledger = lambda: Ledger(postgres_url, schema)  # noqa: E731
    start.wait(timeout=60)
    outcome = notify_days(
        view_spec(**rule),
        Lake(Path(lake_root)),
        [day],
        run_id,
        now=NOW,
        environ={"HOOK_URL": hook_url, "HOOK_AUTH": HEADER_TOKEN},
        open_ledger=open_ledger,
    )
    results.put((run_id, asdict(outcome.counts["shipped"])))


def run_processes(h: Harness, runs: list[tuple[str, dt.date]], **rule: Any) -> dict[str, dict]:
    """The runs as two OS processes started together; each one's counts by run id."""
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(len(runs)), context.Queue()
    processes = [
        context.Process(
            target=deliver_in_process,
            args=(
                str(h.lake.root),
                h.postgres_url,
                h.schema,
                h.receiver.url,
                run_id,
                day,
                {"rate_per_minute": 6000, **rule},
                start,
                results,
            ),
        )
        for run_id, day in runs
    ]
    for process in processes:
        process.start()
    counts = dict(results.get(timeout=60) for _ in processes)
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    return counts


def ledger_rows(h: Harness) -> list[tuple[str, str, str, int]]:
    with psycopg.connect(h.postgres_url, autocommit=True) as conn:
        return conn.execute(
            f'SELECT row_key, state, owner, attempts FROM "{h.schema}".notification_ledger'
        ).fetchall()


def test_two_concurrent_processes_send_each_message_once(harness: Harness) -> None:
    write_day(harness.lake, orders(40))
    harness.receiver.delay = 0.005
    counts = run_processes(harness, [("proc-1", DAY), ("proc-2", DAY)])
    keys = harness.receiver.keys()
    assert len(keys) == 40 and len(set(keys)) == 40 and len(harness.receiver.taken) == 40
    assert sum(c["sent"] for c in counts.values()) == 40
    for c in counts.values():  # each process saw every message: sent, or another had it
        assert c["sent"] + c["already_sent"] + c["in_flight"] == c["matched"] == 40
    rows = ledger_rows(harness)
    assert len(rows) == 40 and len({key for key, *_ in rows}) == 40
    assert {(state, attempts) for _, state, _, attempts in rows} == {("sent", 1)}
    by_owner = Counter(owner for _, _, owner, _ in rows)
    assert by_owner == {run: c["sent"] for run, c in counts.items() if c["sent"]}


def test_the_rate_limit_holds_across_processes(harness: Harness) -> None:
    yesterday = DAY - dt.timedelta(days=1)
    write_day(harness.lake, orders(10))
    write_day(harness.lake, orders(10, first=100), day=yesterday)
    rate = 600  # a send every 0.1 s, whichever process sends it
    counts = run_processes(harness, [("proc-1", DAY), ("proc-2", yesterday)], rate_per_minute=rate)
    assert [c["sent"] for c in counts.values()] == [10, 10]
    times = sorted(harness.receiver.times)
    interval = 60 / rate
    # any 11 consecutive sends span 10 intervals (less a margin for the loopback's jitter);
    # two processes pacing alone would put 20 sends in about 1 s
    assert all(b - a >= 10 * interval * 0.9 for a, b in zip(times, times[10:], strict=False))
    first = {
        body["text"].split()[1]: t
        for (_, body, _), t in zip(harness.receiver.requests, harness.receiver.times, strict=True)
    }
    mine = [t for order, t in first.items() if int(order) < 100]
    theirs = [t for order, t in first.items() if int(order) >= 100]
    assert min(theirs) < max(mine) and min(mine) < max(theirs)  # they did run at once


# Failures


def test_a_5xx_is_retried_with_backoff_and_counted(harness: Harness) -> None:
    write_day(harness.lake, orders(2))
    harness.receiver.answers.extend([500, 503])
    counts = harness.run(view_spec()).counts["shipped"]
    assert (counts.sent, counts.retried, counts.dead_lettered) == (2, 2, 0)
    assert harness.sleeps == [0.5, 1.0]
    first, second, third, _ = harness.receiver.keys()
    assert first == second == third  # the same message, the same key


def test_a_4xx_goes_to_dead_letters_with_its_reason(harness: Harness) -> None:
    write_day(harness.lake, orders(2))
    harness.receiver.answers.append(422)
    outcome = harness.run(view_spec())
    counts = outcome.counts["shipped"]
    assert (counts.sent, counts.retried, counts.dead_lettered) == (1, 0, 1)
    [letter] = dead_letters(harness)
    assert letter["status"] == 422 and letter["attempts"] == 1 and letter["_run_id"] == RUN
    assert letter["reason"].startswith("http://127.0.0.1") and "HTTP 422" in letter["reason"]
    assert_no_secret(letter)
    assert harness.states() == {"sent": 1, "dead": 1}
    assert harness.run(view_spec(), run_id="run-2").counts["shipped"].already_sent == 2
    assert len(harness.receiver.requests) == 2


def test_a_slow_receiver_is_retried_then_dead_lettered(harness: Harness) -> None:
    write_day(harness.lake, orders(1))
    harness.receiver.delay = 0.6
    counts = harness.run(view_spec(attempts=2, timeout_seconds=0.2)).counts["shipped"]
    assert (counts.sent, counts.retried, counts.dead_lettered) == (0, 1, 1)
    [letter] = dead_letters(harness)
    assert letter["reason"].startswith("gave up after 2 attempts: http://127.0.0.1:")
    assert letter["reason"].endswith(": no answer within 0.2 s")
    assert letter["status"] is None and letter["attempts"] == 2


def test_a_template_error_is_a_dead_letter(harness: Harness) -> None:
    write_day(harness.lake, [*orders(1), {**orders(1, first=2)[0], "coupon": "spring"}])
    spec = view_spec(template="Order {{ order_id }}: coupon {{ coupon.upper() }}")
    counts = harness.run(spec).counts["shipped"]
    assert (counts.sent, counts.dead_lettered) == (1, 1)
    [letter] = dead_letters(harness)
    assert letter["row_key"] == '["shard_00", 1]' and letter["attempts"] == 0
    assert letter["reason"].startswith("template: UndefinedError")
    assert [b["text"] for b in harness.receiver.taken.values()] == ["Order 2: coupon SPRING"]


def test_refused_credentials_stop_the_rule_and_leave_its_messages(harness: Harness) -> None:
    write_day(harness.lake, orders(3))
    harness.receiver.answers.append(401)
    outcome = harness.run(view_spec())
    assert "refused its credentials" in outcome.refused["shipped"]
    assert_no_secret(outcome.refused)
    assert outcome.counts["shipped"].dead_lettered == 0 and harness.states() == {}
    assert harness.run(view_spec(), run_id="run-2").counts["shipped"].sent == 3


# The crash no ledger can close


def test_a_crash_between_send_and_ledger_write_resends_with_the_same_key(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_day(harness.lake, orders(2))

    def crash(*args: Any) -> None:
        raise SystemExit("the process died after the receiver took the message")

    with monkeypatch.context() as patch:
        patch.setattr(Ledger, "mark_sent", crash)
        with pytest.raises(SystemExit):
            harness.run(view_spec())
    [sent_before_crash] = harness.receiver.keys()
    assert harness.states() == {"claimed": 1}

    # within the lease another run leaves the message to its (maybe still live) sender
    waiting = harness.run(view_spec(), run_id="run-2").counts["shipped"]
    assert (waiting.in_flight, waiting.sent) == (1, 1)

    # once the lease ran out, the message goes again with the same key: the receiver drops it
    harness.lease = dt.timedelta(0)
    again = harness.run(view_spec(), run_id="run-3").counts["shipped"]
    assert (again.sent, again.already_sent) == (1, 1)
    keys = harness.receiver.keys()
    assert keys.count(sent_before_crash) == 2 and len(keys) == 3
    assert len(harness.receiver.taken) == 2
    assert harness.states() == {"sent": 2}


# Backfills


def test_a_backfill_of_last_year_sends_nothing_unless_asked(harness: Harness) -> None:
    old_day = DAY - dt.timedelta(days=365)
    old = dt.datetime.combine(old_day, dt.time(9), dt.UTC)
    write_day(harness.lake, orders(3, at=old), day=old_day)
    counts = harness.run(view_spec(), day=old_day).counts["shipped"]
    assert (counts.matched, counts.skipped_outside_window, counts.sent) == (3, 3, 0)
    assert harness.receiver.requests == [] and harness.states() == {}
    asked = harness.run(view_spec(), day=old_day, run_id="run-2", include_old=True)
    assert asked.counts["shipped"].sent == 3


def test_a_rule_not_configured_sends_nothing_and_opens_no_ledger(harness: Harness) -> None:
    write_day(harness.lake, orders(2))

    def no_ledger() -> Ledger:
        raise AssertionError("the ledger was opened")

    harness.ledger = no_ledger  # type: ignore[method-assign]
    outcome = harness.run(view_spec(), environ={})
    assert outcome.counts["shipped"].not_configured == "set HOOK_URL"
    assert harness.receiver.requests == []


def test_the_rate_limit_spaces_the_sends(harness: Harness) -> None:
    write_day(harness.lake, orders(3))
    harness.run(view_spec(rate_per_minute=30))  # slots 2 s apart; the sleeps return at once
    first, second = harness.waits
    assert 1.5 < first <= 2.0 and 3.5 < second <= 4.0


# SMTP


def smtp_spec(port: int, **change: Any) -> ViewSpec:
    channel = {
        "type": "smtp",
        "host_env": "SMTP_HOST",
        "port": port,
        "starttls": False,
        "from": "orders@shop.example",
        "to": {"column": "email"},
        "subject": "Your order {{ order_id }} shipped",
        **change,
    }
    return view_spec(channel=channel)


def test_an_smtp_rule_sends_one_email_per_row_with_its_key(
    harness: Harness, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    write_day(
        harness.lake,
        [{**row, "email": f"c{row['order_id']}@shop.example"} for row in orders(2)],
    )
    environ = {"SMTP_HOST": "127.0.0.1"}
    counts = harness.run(smtp_spec(port), environ=environ).counts["shipped"]
    assert counts.sent == 2
    by_to = {m["To"]: m for m in box.messages}
    first = by_to["c1@shop.example"]
    assert first["Subject"] == "Your order 1 shipped"
    assert first["Message-ID"] == f"<{first['Idempotency-Key']}@etl-platform>"
    assert first.get_payload().strip() == "Order 1 shipped to city 1"
    assert harness.run(smtp_spec(port), environ=environ, run_id="r2").counts["shipped"].sent == 0
    assert len(box.messages) == 2


def test_an_smtp_5xx_is_a_dead_letter(harness: Harness, mailbox: tuple[Mailbox, int]) -> None:
    box, port = mailbox
    write_day(harness.lake, [{**orders(1)[0], "email": "x@refused.example"}])
    counts = harness.run(smtp_spec(port), environ={"SMTP_HOST": "127.0.0.1"}).counts["shipped"]
    assert (counts.sent, counts.dead_lettered, counts.retried) == (0, 1, 0)
    [letter] = dead_letters(harness)
    assert letter["status"] == 550 and "recipient refused" in letter["reason"]
    assert box.messages == []


# The asset


def test_the_asset_reports_its_counts_and_the_dead_letter_check(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_day(harness.lake, orders(4))
    harness.receiver.answers.extend([400, 400])
    spec = view_spec(dead_letter_alert_ratio=0.25, window="100000d")
    for name, value in {**harness.environ(), LEDGER_URL_ENV: harness.postgres_url}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(LEDGER_SCHEMA_ENV, harness.schema)
    [assets] = build_notification_assets(spec, load_sources(DEFAULTS_DIR / "sources.yaml"))
    catalog = str(harness.lake.root.parent / "lake.duckdb")
    result = dg.materialize(
        [assets],
        partition_key=DAY.isoformat(),
        resources={
            "lake": LakeResource(root=str(harness.lake.root)),
            "duckdb": DuckDBResource(database=catalog),
        },
    )
    assert result.success
    metadata = result.asset_materializations_for_node("notify__orders_enriched")[0].metadata
    assert metadata["sent"].value == 2 and metadata["dead_lettered"].value == 2
    assert metadata["shipped/matched"].value == 4
    [check] = result.get_asset_check_evaluations()
    assert check.asset_key == notifications_asset_key("orders_enriched")
    assert check.check_name == DEAD_LETTER_CHECK and not check.passed
    assert check.severity == dg.AssetCheckSeverity.ERROR
    assert_no_secret(metadata, check.metadata, dead_letters(harness))

    # the dead letters are a DuckDB view, like a view's rejects
    with duckdb.connect(catalog, read_only=True) as conn:
        rows = conn.execute(
            "SELECT rule, status, attempts, _run_id = ? AS this_run, updated_at "
            "FROM orders_enriched__dead_letters ORDER BY row_key",
            [result.run_id],
        ).fetchall()
    assert rows == [("shipped", 400, 1, True, DAY)] * 2


def test_the_dead_letters_view_exists_before_any_dead_letter(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    [assets] = build_notification_assets(view_spec(), load_sources(DEFAULTS_DIR / "sources.yaml"))
    catalog = str(harness.lake.root.parent / "lake.duckdb")
    for name in ("HOOK_URL", "HOOK_AUTH"):
        monkeypatch.delenv(name, raising=False)  # not configured: nothing sent, no ledger
    result = dg.materialize(
        [assets],
        partition_key=DAY.isoformat(),
        resources={
            "lake": LakeResource(root=str(harness.lake.root)),
            "duckdb": DuckDBResource(database=catalog),
        },
    )
    assert result.success
    with duckdb.connect(catalog, read_only=True) as conn:
        relation = conn.sql("SELECT * FROM orders_enriched__dead_letters")
        assert relation.fetchall() == []
        assert relation.columns == [*DEAD_LETTER_SCHEMA.names, "updated_at"]
