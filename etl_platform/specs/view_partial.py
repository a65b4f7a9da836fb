"""The valid parts of a view spec that has invalid ones, so the checks against the sources still
run: one bad field (a duration, a path) must not hide the file's other problems.

Each field, and each column, lookup and flatten entry, is validated on its own. A part that
fails is replaced by a placeholder that the checks pass over, and its path is recorded so that
no check reports on it twice: pydantic has already said what is wrong with it.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

from etl_platform.specs.sources import Identifier
from etl_platform.specs.views import ColumnSpec, ExplodeSpec, FlattenSpec, LookupSpec, ViewSpec

#: What a required field becomes when its value is invalid.
_REQUIRED_PLACEHOLDERS: dict[str, object] = {
    "name": "",
    "source": "",
    "columns": {},
    "unique_key": [],
}


@dataclasses.dataclass(frozen=True)
class PartialView:
    spec: ViewSpec
    #: Field paths (`freshness`, `columns.total`, `lookups.1`) whose values were invalid.
    unchecked: frozenset[str] = frozenset()

    def covers(self, field: str) -> bool:
        """Whether `field` lies in an invalid part (its problem is already reported)."""
        return any(field == u or field.startswith(f"{u}.") for u in self.unchecked)


def partial_view(data: Mapping[str, Any]) -> PartialView:
    """A spec of `data`'s valid parts, placeholders for the rest (not a spec to build from)."""
    values: dict[str, object] = {}
    unchecked: set[str] = set()
    for name, info in ViewSpec.model_fields.items():
        if name not in data:
            if info.is_required():
                values[name] = _REQUIRED_PLACEHOLDERS[name]
                unchecked.add(name)
            continue
        raw = data[name]
        if name == "columns" and isinstance(raw, dict) and raw:
            values[name] = _columns(raw, unchecked)
        elif name in ("lookups", "flatten") and isinstance(raw, list):
            values[name] = _entries(name, raw, unchecked)
        else:
            try:
                values[name] = _field_adapter(name).validate_python(raw)
            except ValidationError:
                unchecked.add(name)
                placeholder = _placeholder(name, raw)
                if placeholder is not None:
                    values[name] = placeholder
    return PartialView(ViewSpec.model_construct(**values), frozenset(unchecked))


def _columns(raw: dict, unchecked: set[str]) -> dict[str, ColumnSpec]:
    """Valid columns as they are; a column with an invalid body keeps its name (keys and
    lookups may name it) with no source, which the checks pass over."""
    out: dict[str, ColumnSpec] = {}
    for key, body in raw.items():
        try:
            name = _adapter(Identifier).validate_python(key)
        except ValidationError:
            unchecked.add(f"columns.{key}")
            continue
        try:
            out[name] = _adapter(ColumnSpec).validate_python(body)
        except ValidationError:
            unchecked.add(f"columns.{name}")
            out[name] = ColumnSpec.model_construct(type="string")
    return out


def _entries(field: str, raw: list, unchecked: set[str]) -> list:
    """Lookups or flatten entries, an invalid one replaced in place (the others keep their
    index, which problems are named by)."""
    model: type[LookupSpec | FlattenSpec] = LookupSpec if field == "lookups" else FlattenSpec
    placeholder = (
        LookupSpec.model_construct(table="", on={}, columns={})
        if field == "lookups"
        else FlattenSpec.model_construct(json_column="", prefix="", max_depth=2)
    )
    out = []
    for i, body in enumerate(raw):
        try:
            out.append(_adapter(model).validate_python(body))
        except ValidationError:
            unchecked.add(f"{field}.{i}")
            out.append(placeholder)
    return out


def _placeholder(field: str, raw: object) -> object | None:
    """What stands in for an invalid field; None: the field's default."""
    if field in _REQUIRED_PLACEHOLDERS:
        return _REQUIRED_PLACEHOLDERS[field]
    if field == "explode":
        # Still an explode, so `item:` columns are not reported for lacking one.
        given = raw.get("index_column") if isinstance(raw, dict) else None
        index = given if isinstance(given, str) else "item_index"
        return ExplodeSpec.model_construct(json_column="", path="", index_column=index)
    return None


@functools.cache
def _field_adapter(name: str) -> TypeAdapter:
    info = ViewSpec.model_fields[name]
    return TypeAdapter(Annotated[info.annotation, info])


@functools.cache
def _adapter(kind: object) -> TypeAdapter:
    return TypeAdapter(kind)
