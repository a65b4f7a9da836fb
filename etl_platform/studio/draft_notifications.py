"""The draft's `notifications:` edits: add, edit and remove a rule, and its channel.

Each control of the form changes one key of a rule (or of its channel) in place, so the
rule's other keys keep their comments. A value is written as typed and left to the
platform's validator to judge: a rate of `abc` stays `abc`, and its error shows beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString

from etl_platform.specs.notifications import NotificationRule, SmtpChannel, WebhookChannel
from etl_platform.studio.draft_base import DraftBase, DraftError, flow_map, item_at, set_keys


def _keys(model: type[Any]) -> tuple[str, ...]:
    return tuple(field.alias or name for name, field in model.model_fields.items())


#: A rule's keys and its channels' keys in the order the spec declares them.
RULE_KEYS = _keys(NotificationRule)
CHANNEL_KEYS = {"webhook": _keys(WebhookChannel), "smtp": _keys(SmtpChannel)}
INTEGERS = ("rate_per_minute", "attempts", "port")
NUMBERS = ("timeout_seconds", "dead_letter_alert_ratio")
#: Texts the page edits in a text area; quoted as the demo quotes its template.
TEMPLATES = ("template", "subject")
#: A checkbox's default, left unwritten (a checkbox cannot say "not set").
DEFAULTS = {"starttls": True}


def _number(key: str, value: str) -> int | float | str:
    """A count or a ratio as a number when it reads as one; any other text is kept for the
    validator to name."""
    try:
        return int(value) if key in INTEGERS or value.isdigit() else float(value)
    except ValueError:
        return value


def _text(key: str, value: str) -> str:
    if "\n" in value:
        return LiteralScalarString(value)  # a multi-line template stays readable
    return DoubleQuotedScalarString(value) if key in TEMPLATES else value


def _headers(value: object) -> CommentedMap | None:
    """`{"Authorization": "VAR"}`, or the page's text `Authorization: VAR, X-Team: TEAM_VAR`:
    header name -> variable name. A pair without `:` keeps an empty variable, which the
    validator names."""
    if isinstance(value, Mapping):
        pairs = {str(k).strip(): str(v).strip() for k, v in value.items()}
    else:
        pairs = {}
        for part in str(value or "").split(","):
            header, _, variable = part.partition(":")
            if header.strip() or variable.strip():
                pairs[header.strip()] = variable.strip()
    return flow_map(pairs) if pairs else None


def _recipient(value: object) -> Any:
    """`to`: an address as text, or `{"column": "customer_email"}` for a column of the row."""
    if isinstance(value, Mapping):
        column = str(value.get("column") or "").strip()
        return flow_map({"column": column}) if column else None
    return str(value or "").strip() or None


def _value(key: str, value: object) -> Any:
    """A key's value as the file writes it; None removes the key (an emptied field)."""
    if key == "headers_env":
        return _headers(value)
    if key == "to":
        return _recipient(value)
    if isinstance(value, bool):
        return None if DEFAULTS.get(key) is value else value
    given = str(value if value is not None else "").strip()
    if not given:
        return None
    if key in INTEGERS or key in NUMBERS:
        return _number(key, given)
    return _text(key, given)


class NotificationOps(DraftBase):
    """Form operations on `notifications`; each edits its rule in place."""

    def _rule(self, op: Mapping[str, Any]) -> CommentedMap:
        return item_at(self.attributes.get("notifications"), op.get("index"), "notification rule")

    def _op_add_notification(self, op: Mapping[str, Any]) -> None:
        """`{"name": "order_shipped", "channel": "webhook"}`: a rule at the list's end, with
        its channel's kind; the page then fills its fields (the validator lists the ones
        still missing beside them)."""
        name = str(op.get("name") or "").strip()
        if not name:
            raise DraftError("a notification rule needs a name")
        kind = str(op.get("channel") or "webhook")
        rule = CommentedMap([("name", name)])
        set_keys(rule, RULE_KEYS, {"channel": flow_map({"type": kind})})
        if not isinstance(self.attributes.get("notifications"), CommentedSeq):
            self._put("notifications", CommentedSeq())
        self.attributes["notifications"].append(rule)

    def _op_set_notification(self, op: Mapping[str, Any]) -> None:
        """`{"index": 0, "values": {"when": "status = 'shipped'", "rate_per_minute": "120"}}`:
        the given keys of the rule, an empty value removing its key."""
        rule = self._rule(op)
        values = op.get("values")
        if not isinstance(values, Mapping) or "channel" in values:
            raise DraftError("a rule's edit needs `values` (its channel has its own edit)")
        given = {str(k): _value(str(k), v) for k, v in values.items()}
        if "name" in given and given["name"] is None:
            raise DraftError("a notification rule needs a name")
        set_keys(rule, RULE_KEYS, given)

    def _op_set_notification_channel(self, op: Mapping[str, Any]) -> None:
        """`{"index": 0, "values": {"type": "smtp", "host_env": "SMTP_HOST"}}`: the given
        keys of the rule's channel. Another `type` starts a channel of that kind; the keys
        the two kinds share (none but `type` today) are not carried over."""
        rule = self._rule(op)
        values = op.get("values")
        if not isinstance(values, Mapping):
            raise DraftError("a channel's edit needs `values`")
        channel = rule.get("channel")
        if not isinstance(channel, CommentedMap):
            channel = flow_map({"type": "webhook"})
            set_keys(rule, RULE_KEYS, {"channel": channel})
        kind = str(values.get("type") or "").strip()
        if kind and kind != channel.get("type"):
            channel = flow_map({"type": kind})
            rule["channel"] = channel
        order = ("type", *CHANNEL_KEYS.get(str(channel.get("type")), ()))
        given = {str(k): _value(str(k), v) for k, v in values.items() if k != "type"}
        set_keys(channel, order, given)

    def _op_remove_notification(self, op: Mapping[str, Any]) -> None:
        notifications = self.attributes.get("notifications")
        self._rule(op)
        del notifications[op["index"]]
        if not notifications:
            del self.attributes["notifications"]
