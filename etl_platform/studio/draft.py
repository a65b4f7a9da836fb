"""The view being edited: its `defs.yaml` as a ruamel.yaml round-trip document.

The YAML text is the draft's only state: the page sends it back with each edit, an edit
changes the document in place (comments, quoting and field order kept), and the text is
dumped again. So a view loaded from disk and saved unchanged is written byte for byte.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from etl_platform.specs.view_loader import VIEW_COMPONENT_TYPE
from etl_platform.studio.draft_base import (
    FIELD_ORDER,
    DraftError,
    flow_map,
    flow_seq,
    yaml_io,
)
from etl_platform.studio.draft_base import text as quoted
from etl_platform.studio.draft_json import JsonOps
from etl_platform.studio.draft_lookups import LookupOps
from etl_platform.studio.draft_notifications import NotificationOps

__all__ = ["FIELD_ORDER", "Draft", "DraftError"]

#: Attributes the form sets as one text value; an empty value removes the field.
SCALAR_FIELDS = (
    "name",
    "description",
    "domain",
    "source",
    "schedule",
    "dist_key",
    "partition_by",
)
#: Attributes the form sets as a list of names.
LIST_FIELDS = ("unique_key", "destinations", "grain", "owners", "refresh")
#: Attributes the form sets with a checkbox, and their default: the default is left unwritten.
FLAG_FIELDS = {"across_shards": False, "history": True}
#: Keys of a column spec, in the order the demo writes them.
COLUMN_KEYS = ("from", "json", "path", "item", "expr", "type", "nullable")


class Draft(LookupOps, JsonOps, NotificationOps):
    """One view file: `type:` and `attributes:`, edited by the studio's form operations."""

    @classmethod
    def new(cls, name: str = "") -> Draft:
        attributes = CommentedMap()
        if name:
            attributes["name"] = name
        return cls(CommentedMap([("type", VIEW_COMPONENT_TYPE), ("attributes", attributes)]))

    @classmethod
    def from_text(cls, text: str) -> Draft:
        """Parse a view file; an empty text is a new draft."""
        if not text.strip():
            return cls.new()
        try:
            document = yaml_io().load(text)
        except YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise DraftError(f"invalid YAML{where}: {getattr(e, 'problem', None) or e}") from None
        if not isinstance(document, CommentedMap):
            raise DraftError("expected `type:` and `attributes:` at the top level")
        if not isinstance(document.get("attributes"), CommentedMap):
            document["attributes"] = CommentedMap()
        return cls(document)

    def text(self) -> str:
        out = io.StringIO()
        yaml_io().dump(self.document, out)
        return out.getvalue()

    def form(self) -> dict[str, Any]:
        """The attributes as plain data, for the page's fields."""
        return _plain(self.attributes)

    # --- edits -----------------------------------------------------------------------------

    def apply(self, op: Mapping[str, Any]) -> None:
        """Apply one form operation (`{"op": "set", "field": "name", "value": "x"}`)."""
        kind = op.get("op")
        handler = getattr(self, f"_op_{kind}", None) if isinstance(kind, str) else None
        if handler is None:
            raise DraftError(f"unknown operation {kind!r}")
        handler(op)

    def _op_set(self, op: Mapping[str, Any]) -> None:
        field, value = op.get("field"), str(op.get("value") or "").strip()
        if field == "max_reject_ratio":
            if not value:
                self.attributes.pop(field, None)
                return
            try:
                self._put(field, float(value))
            except ValueError:
                self._put(field, value)  # the validator names the problem
            return
        if field not in SCALAR_FIELDS:
            raise DraftError(f"{field!r} is not a field the form sets as text")
        if value:
            self._put(field, quoted(value) if field == "schedule" else value)
        else:
            self.attributes.pop(field, None)

    def _op_set_list(self, op: Mapping[str, Any]) -> None:
        field = op.get("field")
        if field not in LIST_FIELDS:
            raise DraftError(f"{field!r} is not a field the form sets as a list")
        values = [str(v).strip() for v in op.get("values") or [] if str(v).strip()]
        current = self.attributes.get(field)
        if not values:
            self.attributes.pop(field, None)
        elif isinstance(current, CommentedSeq):
            current[:] = values  # in place: the list's style and its comment stay
        else:
            self._put(field, flow_seq(values))

    def _op_set_flag(self, op: Mapping[str, Any]) -> None:
        field, value = op.get("field"), op.get("value")
        if field not in FLAG_FIELDS or not isinstance(value, bool):
            raise DraftError(f"{field!r} is not a field the form sets with a checkbox")
        if value == FLAG_FIELDS[field]:
            self.attributes.pop(field, None)
        else:
            self._put(field, value)

    def _op_set_freshness(self, op: Mapping[str, Any]) -> None:
        given = {k: str(op.get(k) or "").strip() for k in ("warn_after", "fail_after")}
        kept = {k: v for k, v in given.items() if v}
        if kept:
            self._put("freshness", flow_map(kept))
        else:
            self.attributes.pop("freshness", None)

    def _op_add_column(self, op: Mapping[str, Any]) -> None:
        name = str(op.get("name") or "").strip()
        spec = op.get("spec")
        if not name or not isinstance(spec, Mapping):
            raise DraftError("a column needs a name and a spec")
        ordered = [(k, spec[k]) for k in COLUMN_KEYS if spec.get(k) not in (None, "")]
        if "columns" not in self.attributes:
            self._put("columns", CommentedMap())
        self.attributes["columns"][name] = flow_map({k: _column_value(k, v) for k, v in ordered})

    def _op_remove_column(self, op: Mapping[str, Any]) -> None:
        columns = self.attributes.get("columns")
        if isinstance(columns, CommentedMap):
            columns.pop(op.get("name"), None)

    def _op_set_column_type(self, op: Mapping[str, Any]) -> None:
        column = (self.attributes.get("columns") or {}).get(op.get("name"))
        if not isinstance(column, CommentedMap):
            raise DraftError(f"no column {op.get('name')!r} to retype")
        column["type"] = quoted(str(op.get("type") or ""))

    def _op_set_column_nullable(self, op: Mapping[str, Any]) -> None:
        """`nullable: false` written after the column's type; true, the default, is left out."""
        column = (self.attributes.get("columns") or {}).get(op.get("name"))
        if not isinstance(column, CommentedMap) or not isinstance(op.get("nullable"), bool):
            raise DraftError(f"no column {op.get('name')!r} to make required or not")
        if op["nullable"]:
            column.pop("nullable", None)
        else:
            column["nullable"] = False

    def _op_set_column_expr(self, op: Mapping[str, Any]) -> None:
        column = (self.attributes.get("columns") or {}).get(op.get("name"))
        if not isinstance(column, CommentedMap) or "expr" not in column:
            raise DraftError(f"no computed column {op.get('name')!r} to change")
        column["expr"] = _column_value("expr", str(op.get("expr") or "").strip())

    def _op_set_measure(self, op: Mapping[str, Any]) -> None:
        """`{"name": "revenue", "function": "sum", "column": "total"}`: `revenue: sum(total)`,
        in place when the measure exists (its comment stays), else added at the end."""
        name = str(op.get("name") or "").strip()
        function = str(op.get("function") or "").strip()
        column = str(op.get("column") or "").strip()
        if not name or not function:
            raise DraftError("a measure needs a name and a function")
        if not isinstance(self.attributes.get("measures"), CommentedMap):
            self._put("measures", CommentedMap())
        self.attributes["measures"][name] = f"{function}({column})"

    def _op_remove_measure(self, op: Mapping[str, Any]) -> None:
        measures = self.attributes.get("measures")
        if isinstance(measures, CommentedMap):
            measures.pop(op.get("name"), None)
            if not measures:
                del self.attributes["measures"]


def _column_value(key: str, value: Any) -> Any:
    """An expression is always quoted, as the demo writes them: `a: b` or `'x'` would read
    otherwise in a flow mapping; a type as `_text` quotes it."""
    if key == "expr" and isinstance(value, str):
        return DoubleQuotedScalarString(value)
    return quoted(value) if key == "type" and isinstance(value, str) else value


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int):
        return int(value)
    return value
