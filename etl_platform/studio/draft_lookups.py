"""The draft's lookup edits: add and remove a lookup, its period, and each looked-up column as
a plain output name or as `{as, type, nullable}`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from etl_platform.studio.draft_base import DraftBase, DraftError, flow_map, item_at, set_keys, text

#: Keys of a lookup in the order LookupSpec declares them (and the docs write them).
LOOKUP_KEYS = ("table", "on", "period", "columns", "join")
PERIOD_KEYS = ("view", "from", "to")
LOOKED_UP_KEYS = ("as", "type", "nullable")


def looked_up(column: str, spec: object) -> Any:
    """A looked-up column as the file writes it: the output name alone when it has no type and
    may be NULL, else `{as, type, nullable: false}` (`as` defaults to the related column)."""
    if not isinstance(spec, Mapping):
        return str(spec or column)
    name = str(spec.get("as") or column).strip()
    typ = str(spec.get("type") or "").strip()
    required = spec.get("nullable") is False
    if not typ and not required:
        return name
    out: dict[str, Any] = {"as": name}
    if typ:
        out["type"] = text(typ)
    if required:
        out["nullable"] = False
    return flow_map(out)


class LookupOps(DraftBase):
    """Form operations on `lookups`; each edits the lookup in place, so its comments stay."""

    def _lookup(self, op: Mapping[str, Any]) -> CommentedMap:
        return item_at(self.attributes.get("lookups"), op.get("index"), "lookup")

    def _op_add_lookup(self, op: Mapping[str, Any]) -> None:
        on, columns = op.get("on"), op.get("columns")
        if not isinstance(on, Mapping) or not isinstance(columns, Mapping):
            raise DraftError("a lookup needs `on` and `columns` mappings")
        lookup = CommentedMap([("table", str(op.get("table") or ""))])
        lookup["on"] = flow_map({str(k): str(v) for k, v in on.items()})
        lookup["columns"] = flow_map({str(k): looked_up(str(k), v) for k, v in columns.items()})
        if op.get("join") == "inner":
            lookup["join"] = "inner"
        if "lookups" not in self.attributes:
            self._put("lookups", CommentedSeq())
        self.attributes["lookups"].append(lookup)

    def _op_remove_lookup(self, op: Mapping[str, Any]) -> None:
        lookups = self.attributes.get("lookups")
        index = op.get("index")
        if isinstance(lookups, list) and isinstance(index, int) and 0 <= index < len(lookups):
            del lookups[index]
            if not lookups:
                del self.attributes["lookups"]

    def _op_set_lookup_period(self, op: Mapping[str, Any]) -> None:
        """`{"index": 0, "view": "from_date", "from": "from_date", "to": "to_date"}`; no `view`
        and no `from` removes the period, no `to` leaves it open-ended."""
        lookup = self._lookup(op)
        given = {k: str(op.get(k) or "").strip() or None for k in PERIOD_KEYS}
        if given["view"] is None and given["from"] is None:
            lookup.pop("period", None)
            return
        period = lookup.get("period")
        if isinstance(period, CommentedMap):
            set_keys(period, PERIOD_KEYS, given)
        else:
            kept = {k: v for k, v in given.items() if v is not None}
            set_keys(lookup, LOOKUP_KEYS, {"period": flow_map(kept)})

    def _op_set_lookup_column(self, op: Mapping[str, Any]) -> None:
        """`{"index": 0, "column": "total", "as": "order_total", "type": "decimal(12,2)",
        "nullable": false}`: the column's entry, added when the lookup does not read it yet."""
        lookup = self._lookup(op)
        column = str(op.get("column") or "").strip()
        if not column:
            raise DraftError("a looked-up column needs the related column's name")
        if not isinstance(lookup.get("columns"), CommentedMap):
            set_keys(lookup, LOOKUP_KEYS, {"columns": flow_map({})})
        columns = lookup["columns"]
        value = looked_up(column, op)
        current = columns.get(column)
        if isinstance(current, CommentedMap) and isinstance(value, CommentedMap):
            set_keys(current, LOOKED_UP_KEYS, {k: value.get(k) for k in LOOKED_UP_KEYS})
        else:
            columns[column] = value

    def _op_remove_lookup_column(self, op: Mapping[str, Any]) -> None:
        columns = self._lookup(op).get("columns")
        if isinstance(columns, CommentedMap):
            columns.pop(str(op.get("column")), None)
