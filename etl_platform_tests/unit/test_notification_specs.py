"""Notification rules: their shape, their checks against the view's columns, the sandboxed
templates, and the pure parts of delivery (row selection, keys), without a server."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pydantic
import pytest
import yaml

from etl_platform.env import DEFAULTS_DIR
from etl_platform.notify.deliver import idempotency_key, row_key, row_version, rule_rows
from etl_platform.notify.render import RenderError, render
from etl_platform.specs.errors import SpecErrors
from etl_platform.specs.expression_text import ExpressionError
from etl_platform.specs.loader import load_source_schema, load_sources
from etl_platform.specs.notifications import NotificationRule, notification_problems
from etl_platform.specs.view_loader import VIEW_COMPONENT_TYPE, load_views

SOURCES = load_sources(DEFAULTS_DIR / "sources.yaml")
SCHEMA = load_source_schema(DEFAULTS_DIR / "sources.schema.yaml")
COLUMNS = ["order_id", "status", "total", "city", "coupon", "_shard", "_updated_at"]
WEBHOOK = {"type": "webhook", "url_env": "HOOK_URL"}


def rule(**change: Any) -> NotificationRule:
    return NotificationRule.model_validate(
        {
            "name": "shipped",
            "when": "status = 'shipped'",
            "channel": WEBHOOK,
            "template": "Order {{ order_id }} shipped",
            **change,
        }
    )


def test_a_rule_has_safe_defaults() -> None:
    r = rule()
    assert (r.window, r.once_per, r.rate_per_minute, r.attempts) == ("1d", "version", 60, 4)
    assert r.channel.variables == ["HOOK_URL"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"channel": {**WEBHOOK, "url_env": "not a name"}}, "not an environment variable name"),
        ({"channel": {**WEBHOOK, "headers_env": {"Idempotency-Key": "K"}}}, "set by the platform"),
        ({"channel": {**WEBHOOK, "url": "http://x"}}, "Extra inputs are not permitted"),
        ({"channel": {"type": "pager"}}, "does not match any of the expected tags"),
        ({"window": "yesterday"}, "bad duration"),
        ({"rate_per_minute": 0}, "greater than or equal to 1"),
    ],
    ids=["env-name", "reserved-header", "url-in-file", "unknown-channel", "window", "rate"],
)
def test_a_bad_rule_is_refused(change: dict, reason: str) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        rule(**change)
    assert reason in str(info.value)


@pytest.mark.parametrize(
    ("rules", "field", "reason"),
    [
        ([rule(when="stauts = 'shipped'")], "notifications.0.when", "did you mean 'status'?"),
        ([rule(when="SELECT 1")], "notifications.0.when", "SELECT is not allowed"),
        ([rule(template="{{ totl }}")], "notifications.0.template", "did you mean 'total'?"),
        ([rule(template="{% if %}")], "notifications.0.template", "template syntax error"),
        ([rule(), rule()], "notifications", "'shipped' is used 2 times"),
        (
            [
                rule(
                    channel={
                        "type": "smtp",
                        "host_env": "SMTP_HOST",
                        "from": "a@b.c",
                        "to": {"column": "email"},
                        "subject": "{{ order_id }}",
                    }
                )
            ],
            "notifications.0.channel.to.column",
            "unknown column 'email'",
        ),
    ],
    ids=["when-column", "when-select", "template-field", "template-syntax", "dup", "to-column"],
)
def test_rules_are_checked_against_the_view(
    rules: list[NotificationRule], field: str, reason: str
) -> None:
    problems = notification_problems(rules, COLUMNS)
    assert any(f == field and reason in r for f, r in problems), problems


TYPES = {"order_id": "int64", "status": "string", "paid": "bool", "_updated_at": "timestamp"}


@pytest.mark.parametrize(
    ("when", "kind"),
    [
        ("order_id + 1", "a number"),
        ("status", "column 'status' (string)"),
        ("(LOWER(status))", "text"),
        ("CASE WHEN paid THEN 'yes' ELSE 'no' END", "text"),
        ("CAST(order_id AS VARCHAR)", "a CAST (string)"),
    ],
    ids=["arithmetic", "text-column", "function", "case", "cast"],
)
def test_a_condition_that_is_not_true_or_false_is_refused_at_validation(
    when: str, kind: str
) -> None:
    problems = notification_problems([rule(when=when)], [*COLUMNS, "paid"], types=TYPES)
    assert problems == [
        (
            "notifications.0.when",
            f"must be a condition (TRUE/FALSE), e.g. status = 'shipped'; this one is {kind}",
        )
    ]


@pytest.mark.parametrize(
    "when",
    ["paid", "NOT paid OR status IS NULL", "COALESCE(paid, FALSE)", "CAST(status AS BOOLEAN)"],
    ids=["bool-column", "logic", "coalesce", "cast"],
)
def test_a_true_or_false_condition_passes(when: str) -> None:
    assert notification_problems([rule(when=when)], [*COLUMNS, "paid"], types=TYPES) == []


def test_a_condition_whose_type_only_the_data_gives_is_left_to_the_run() -> None:
    """A looked-up column without `type` or a flattened one: the run checks it."""
    for when in ("coupon", "COALESCE(payload_tier, 'x')"):
        assert notification_problems([rule(when=when)], COLUMNS, ["payload_"], TYPES) == []


def test_a_flattened_column_is_let_through_by_its_prefix() -> None:
    r = rule(when="payload_tier = 'gold'", template="{{ payload_tier }}")
    assert notification_problems([r], COLUMNS, ["payload_"]) == []
    assert notification_problems([r], COLUMNS) != []


def test_a_view_file_with_a_bad_rule_names_the_field(tmp_path: Path) -> None:
    folder = tmp_path / "v"
    folder.mkdir()
    attributes = {
        "name": "v",
        "source": "orders",
        "columns": {"order_id": {"from": "id", "type": "uint64"}},
        "unique_key": ["order_id"],
        "notifications": [
            {"name": "r", "when": "order_id > 1", "channel": WEBHOOK, "template": "{{ nope }}"}
        ],
    }
    (folder / "defs.yaml").write_text(
        yaml.safe_dump({"type": VIEW_COMPONENT_TYPE, "attributes": attributes})
    )
    with pytest.raises(SpecErrors) as info:
        load_views(tmp_path, SOURCES, SCHEMA)
    problems = [(f, r) for e in info.value.errors for f, r in e.problems]
    assert ("attributes.notifications.0.template", "unknown column 'nope'") in problems


def test_a_view_file_with_a_number_for_a_condition_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "v"
    folder.mkdir()
    attributes = {
        "name": "v",
        "source": "orders",
        "columns": {"order_id": {"from": "id", "type": "uint64"}},
        "unique_key": ["order_id"],
        "notifications": [
            {"name": "r", "when": "order_id * 2", "channel": WEBHOOK, "template": "hi"}
        ],
    }
    (folder / "defs.yaml").write_text(
        yaml.safe_dump({"type": VIEW_COMPONENT_TYPE, "attributes": attributes})
    )
    with pytest.raises(SpecErrors) as info:
        load_views(tmp_path, SOURCES, SCHEMA)
    problems = [(f, r) for e in info.value.errors for f, r in e.problems]
    assert (
        "attributes.notifications.0.when",
        "must be a condition (TRUE/FALSE), e.g. status = 'shipped'; this one is a number",
    ) in problems


def test_the_demo_rule_loads() -> None:
    views = {v.spec.name: v.spec for v in load_views(DEFAULTS_DIR / "views", SOURCES, SCHEMA)}
    [demo] = views["orders_enriched"].notifications
    assert demo.name == "order_shipped" and demo.once_per == "key"


# Templates: the row's fields, nothing else


def test_a_template_renders_the_row() -> None:
    assert render("{{ id }}: {{ city | upper }}", {"id": 7, "city": "Lyon"}) == "7: LYON"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{{ missing }}", "UndefinedError"),
        ("{{ range(3) | list }}", "UndefinedError"),
        ("{{ city.__class__.__mro__ }}", "SecurityError"),
        ("{{ tags.append(1) }}", "SecurityError"),
        ("{{ coupon.upper() }}", "UndefinedError"),
        ("{{ 1 / zero }}", "ZeroDivisionError"),
    ],
    ids=["missing-field", "no-globals", "dunder", "mutation", "method-on-null", "division"],
)
def test_a_template_reads_nothing_but_the_row(text: str, reason: str) -> None:
    row = {"city": "Lyon", "tags": [], "coupon": None, "zero": 0}
    with pytest.raises(RenderError, match=reason):
        render(text, row)


# Row selection, keys and versions

NOW = dt.datetime(2026, 5, 10, 12, tzinfo=dt.UTC)


def frame(*updated: dt.datetime, status: str = "shipped") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "_shard": ["s0"] * len(updated),
            "order_id": list(range(1, len(updated) + 1)),
            "status": [status] * len(updated),
            "_updated_at": list(updated),
        },
        schema_overrides={"_updated_at": pl.Datetime("us", "UTC")},
    )


def test_rows_older_than_the_window_are_skipped_unless_asked() -> None:
    rows = frame(NOW - dt.timedelta(hours=2), NOW - dt.timedelta(days=400))
    recent, older = rule_rows(rows, rule(), NOW)
    assert [r["order_id"] for r in recent] == [1] and older == 1
    everything, older = rule_rows(rows, rule(), NOW, include_old=True)
    assert len(everything) == 2 and older == 0


def test_a_null_condition_does_not_match() -> None:
    rows = frame(NOW).with_columns(pl.lit(None, pl.String).alias("status"))
    assert rule_rows(rows, rule(), NOW) == ([], 0)


def test_the_idempotency_key_is_one_per_row_version() -> None:
    [row] = frame(NOW).to_dicts()
    key, version = row_key(row, ["order_id"]), row_version(row, rule())
    assert key == '["s0", 1]' and version.startswith("2026-05-10T12:00:00")
    assert idempotency_key("v", "r", key, version) == idempotency_key("v", "r", key, version)
    assert idempotency_key("v", "r", key, version) != idempotency_key("v", "r", key, "later")
    assert row_version(row, rule(once_per="key")) == ""


def test_a_condition_that_is_not_true_or_false_fails_the_run_naming_it() -> None:
    """What validation cannot type (a flattened or untyped looked-up column) fails the run,
    naming the view, the rule and the expression."""
    rows = frame(NOW).with_columns(pl.lit("gold").alias("payload_tier"))
    with pytest.raises(ExpressionError) as info:
        rule_rows(rows, rule(when="payload_tier"), NOW, view="orders_enriched")
    assert str(info.value) == (
        "view orders_enriched, rule shipped, when `payload_tier`: "
        "must be a condition (TRUE/FALSE), but is String"
    )
    with pytest.raises(ExpressionError, match=r"^view orders_enriched, rule shipped, when `x`: "):
        rule_rows(rows, rule(when="x"), NOW, view="orders_enriched")
