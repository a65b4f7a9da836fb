"""The draft's JSON edits: `flatten` entries and `explode`. The `item:` columns an explode
brings are ordinary columns (`add_column` with an `item` spec)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from etl_platform.studio.draft_base import DraftBase, DraftError, flow_map, item_at, set_keys

FLATTEN_KEYS = ("json", "prefix", "max_depth")
EXPLODE_KEYS = ("json", "path", "index_column")


def _depth(value: object) -> int | str | None:
    """A depth as a number when it is one; any other text is kept for the validator to name."""
    given = str(value if value is not None else "").strip()
    if not given:
        return None
    return int(given) if given.isascii() and given.isdigit() else given


def _flatten_values(op: Mapping[str, Any]) -> dict[str, Any]:
    json_column = str(op.get("json") or "").strip()
    if not json_column:
        raise DraftError("a flatten entry needs a JSON column")
    return {
        "json": json_column,
        "prefix": str(op.get("prefix") or "").strip() or None,
        "max_depth": _depth(op.get("max_depth")),
    }


class JsonOps(DraftBase):
    """Form operations on `flatten` and `explode`, in place so their comments stay."""

    def _op_add_flatten(self, op: Mapping[str, Any]) -> None:
        """`{"json": "profile", "prefix": "profile_", "max_depth": 2}`, at the list's end."""
        values = {k: v for k, v in _flatten_values(op).items() if v is not None}
        if not isinstance(self.attributes.get("flatten"), CommentedSeq):
            self._put("flatten", CommentedSeq())
        self.attributes["flatten"].append(flow_map(values))

    def _op_set_flatten(self, op: Mapping[str, Any]) -> None:
        entry = item_at(self.attributes.get("flatten"), op.get("index"), "flatten entry")
        set_keys(entry, FLATTEN_KEYS, _flatten_values(op))

    def _op_remove_flatten(self, op: Mapping[str, Any]) -> None:
        flatten = self.attributes.get("flatten")
        item_at(flatten, op.get("index"), "flatten entry")
        del flatten[op["index"]]
        if not flatten:
            del self.attributes["flatten"]

    def _op_set_explode(self, op: Mapping[str, Any]) -> None:
        """`{"json": "payload", "path": "items", "index_column": "item_index"}`; no JSON
        column removes the explode (its `item:` columns then fail validation, by name)."""
        given = {k: str(op.get(k) or "").strip() or None for k in EXPLODE_KEYS}
        if given["json"] is None:
            self.attributes.pop("explode", None)
            return
        current = self.attributes.get("explode")
        if isinstance(current, CommentedMap):
            set_keys(current, EXPLODE_KEYS, given)
        else:
            self._put("explode", flow_map({k: v for k, v in given.items() if v is not None}))
