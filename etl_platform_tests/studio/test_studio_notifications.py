"""The studio's controls for `notifications:`: each rule and its channel added, edited and
removed through the draft, in place (the demo's comments kept), and the platform's validator
naming the field of a bad value."""

from __future__ import annotations

import pytest

from etl_platform.env import DEFAULTS_DIR
from etl_platform.specs.loader import read_yaml
from etl_platform.studio.draft import Draft, DraftError
from etl_platform_tests.studio.test_studio_units import _new, _problems

DEMO = DEFAULTS_DIR / "views" / "orders_enriched" / "defs.yaml"
RULE = "attributes.notifications.0"


def _demo_rule() -> dict:
    demo = read_yaml(DEMO)
    assert isinstance(demo, dict)
    return demo["attributes"]["notifications"][0]


def _order_shipped_ops() -> list[dict[str, object]]:
    """The demo's `order_shipped` rule as the page's controls send it, one field a time."""
    rule = _demo_rule()
    fields = [
        "description",
        "when",
        "once_per",
        "template",
        "rate_per_minute",
        "window",
    ]
    return [
        {"op": "add_notification", "name": "order_shipped", "channel": "webhook"},
        *({"op": "set_notification", "index": 0, "values": {f: str(rule[f])}} for f in fields),
        {
            "op": "set_notification_channel",
            "index": 0,
            "values": {"url_env": rule["channel"]["url_env"]},
        },
    ]


def _status_view(*ops: dict[str, object]) -> Draft:
    return _new(
        {"op": "add_column", "name": "status", "spec": {"from": "status", "type": "string"}}, *ops
    )


def test_the_demos_rule_is_built_field_by_field() -> None:
    draft = _status_view(
        *(
            {"op": "add_column", "name": n, "spec": {"from": c, "type": t}}
            for n, c, t in (
                ("order_id", "id", "uint64"),
                ("city", "currency", "string"),
                ("currency", "currency", "string"),
            )
        ),
        *_order_shipped_ops(),
    )
    assert draft.form()["notifications"] == [_demo_rule()]
    assert _problems(draft) == []
    text = draft.text()
    assert text.endswith(
        "  notifications:\n"
        "    - name: order_shipped\n"
        "      description: Tell the shipping channel once per order when it ships.\n"
        "      when: status = 'shipped'\n"
        "      channel: {type: webhook, url_env: ETL_PLATFORM_DEMO_SHIPPED_WEBHOOK_URL}\n"
        '      template: "Order {{ order_id }} ({{ _shard }}) shipped to'
        " {{ city or 'an unknown city' }}: {{ total }} {{ currency }}\"\n"
        "      once_per: key\n"
        "      rate_per_minute: 120\n"
        "      window: 1d\n"
    )
    assert Draft.from_text(text).form() == draft.form()  # it reads back as it was written


def test_editing_the_demos_rule_keeps_its_comments_and_order() -> None:
    text = DEMO.read_text()
    draft = Draft.from_text(text)
    draft.apply(
        {"op": "set_notification", "index": 0, "values": {"rate_per_minute": "30", "window": ""}}
    )
    edited = draft.text()
    assert "# one message per order, not one per later update" in edited
    assert "notifications:                    # docs/notifications.md" in edited
    assert "      rate_per_minute: 30\n" in edited and "window:" not in edited
    # Back to the demo's values: the file is the demo's again, byte for byte.
    draft.apply(
        {"op": "set_notification", "index": 0, "values": {"rate_per_minute": "120", "window": "1d"}}
    )
    assert draft.text() == text


def test_a_channel_changes_kind_and_takes_its_fields() -> None:
    draft = Draft.from_text(DEMO.read_text())
    draft.apply(
        {
            "op": "set_notification_channel",
            "index": 0,
            "values": {"headers_env": "Authorization: SHIP_AUTH, X-Team: SHIP_TEAM"},
        }
    )
    assert (
        "channel: {type: webhook, url_env: ETL_PLATFORM_DEMO_SHIPPED_WEBHOOK_URL, "
        "headers_env: {Authorization: SHIP_AUTH, X-Team: SHIP_TEAM}}"
    ) in draft.text()
    smtp = {
        "type": "smtp",
        "host_env": "SMTP_HOST",
        "port": "2525",
        "password_env": "SMTP_PASSWORD",
        "starttls": False,
        "from": "shop@example.com",
        "to": {"column": "customer_email"},
        "subject": "Order {{ order_id }} shipped",
    }
    draft.apply({"op": "set_notification_channel", "index": 0, "values": smtp})
    assert draft.form()["notifications"][0]["channel"] == {
        **smtp,
        "port": 2525,
        "to": {"column": "customer_email"},
    }
    assert _problems(Draft.from_text(draft.text().replace("orders_enriched", "v"))) == []
    draft.apply({"op": "set_notification_channel", "index": 0, "values": {"starttls": True}})
    assert "starttls" not in draft.text()  # the default is left unwritten
    draft.apply({"op": "set_notification_channel", "index": 0, "values": {"to": "ops@example.com"}})
    assert draft.form()["notifications"][0]["channel"]["to"] == "ops@example.com"


def test_rules_are_added_at_the_end_and_removed() -> None:
    draft = Draft.from_text(DEMO.read_text())
    draft.apply({"op": "add_notification", "name": "big_order", "channel": "smtp"})
    draft.apply({"op": "set_notification", "index": 1, "values": {"when": "total > 1000"}})
    rules = draft.form()["notifications"]
    assert [r["name"] for r in rules] == ["order_shipped", "big_order"]
    assert rules[1] == {"name": "big_order", "when": "total > 1000", "channel": {"type": "smtp"}}
    draft.apply({"op": "remove_notification", "index": 0})
    assert [r["name"] for r in draft.form()["notifications"]] == ["big_order"]
    draft.apply({"op": "remove_notification", "index": 0})
    assert "notifications" not in draft.attributes
    assert "# the customer row as it was at the end of the day" in draft.text()


def test_a_new_rules_missing_and_bad_fields_are_named_by_the_validator() -> None:
    draft = _status_view({"op": "add_notification", "name": "shipped"})
    assert {field for field, _ in _problems(draft)} == {
        f"{RULE}.when",
        f"{RULE}.template",
        f"{RULE}.channel.webhook.url_env",
    }
    # The rule's own fields first (the spec's model), ...
    for values in ({"rate_per_minute": "fast"}, {"window": "1q"}, {"dead_letter_alert_ratio": "2"}):
        draft.apply({"op": "set_notification", "index": 0, "values": values})
    draft.apply(
        {"op": "set_notification_channel", "index": 0, "values": {"url_env": "1_NOT_A_NAME"}}
    )
    draft.apply({"op": "set_notification", "index": 0, "values": {"when": "x", "template": "x"}})
    problems = dict(_problems(draft))
    assert "integer" in problems[f"{RULE}.rate_per_minute"]
    assert "bad duration '1q'" in problems[f"{RULE}.window"]
    assert f"{RULE}.dead_letter_alert_ratio" in problems
    assert "not an environment variable name" in problems[f"{RULE}.channel.webhook.url_env"]
    assert "rate_per_minute: fast\n" in draft.text()  # kept as typed
    # ... then what it reads of the view's columns.
    draft.apply(
        {
            "op": "set_notification",
            "index": 0,
            "values": {
                "rate_per_minute": "60",
                "window": "2h",
                "dead_letter_alert_ratio": "0.5",
                "when": "statu = 'shipped'",
                "template": "{{ total }} {{ nope }}",
            },
        }
    )
    draft.apply({"op": "set_notification_channel", "index": 0, "values": {"url_env": "HOOK"}})
    problems = dict(_problems(draft))
    assert set(problems) == {f"{RULE}.when", f"{RULE}.template"}
    assert "did you mean 'status'" in problems[f"{RULE}.when"]
    assert "nope" in problems[f"{RULE}.template"]


@pytest.mark.parametrize(
    "op",
    [
        {"op": "add_notification", "name": " "},
        {"op": "set_notification", "index": 3, "values": {"when": "x"}},
        {"op": "set_notification", "index": 0, "values": {"name": ""}},
        {"op": "set_notification", "index": 0, "values": {"channel": {}}},
        {"op": "remove_notification", "index": 1},
    ],
    ids=["no-name", "no-rule", "emptied-name", "channel-as-value", "remove-missing"],
)
def test_an_edit_of_no_rule_is_refused(op: dict[str, object]) -> None:
    draft = Draft.from_text(DEMO.read_text())
    with pytest.raises(DraftError):
        draft.apply(op)
