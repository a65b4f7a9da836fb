"""What every group of the draft's edits shares: the YAML layout of the demo's views, and the
document with its attributes, so each group lives in a module of its own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, PlainScalarString

from etl_platform.specs.views import ViewSpec


class DraftError(ValueError):
    """An edit the draft cannot apply, or a text that is not a view file; the message says why."""


def yaml_io() -> YAML:
    """Round-trip YAML 1.2 (`on:` stays a string) in the layout of the demo's views."""
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long line the analyst wrote on one
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _field_order() -> list[str]:
    """The attributes in the order ViewSpec declares them, as a file spells them."""
    return [field.alias or name for name, field in ViewSpec.model_fields.items()]


FIELD_ORDER = _field_order()


def flow_map(items: Mapping[str, Any]) -> CommentedMap:
    out = CommentedMap(items)
    out.fa.set_flow_style()
    return out


def flow_seq(items: Sequence[Any]) -> CommentedSeq:
    out = CommentedSeq(items)
    out.fa.set_flow_style()
    return out


def text(value: str) -> str:
    """Quoted as the demo quotes them: a type with a comma or a cron would read otherwise.
    Otherwise plain, also where a quoted value was (ruamel would keep the old value's quotes)."""
    if any(c in value for c in "(),*{}[]#:") or value.strip() != value:
        return DoubleQuotedScalarString(value)
    return PlainScalarString(value)


def set_keys(target: CommentedMap, order: Sequence[str], values: Mapping[str, Any]) -> None:
    """Set, add or remove (a None value) keys of a mapping in place, so the keys it keeps keep
    their comments; a new key goes where `order` puts it among those present."""
    for key, value in values.items():
        if value is None:
            target.pop(key, None)
        elif key in target:
            target[key] = value
        else:
            rank = order.index(key) if key in order else len(order)
            position = sum(1 for k in target if (order.index(k) if k in order else -1) < rank)
            target.insert(position, key, value)


def item_at(items: object, index: object, what: str) -> CommentedMap:
    """The `index`-th mapping of a list attribute, or a DraftError naming it."""
    if (
        isinstance(items, list)
        and isinstance(index, int)
        and 0 <= index < len(items)
        and isinstance(items[index], CommentedMap)
    ):
        return items[index]
    raise DraftError(f"no {what} {index!r}")


class DraftBase:
    """The document and the placing of a new attribute, which every group of edits uses."""

    def __init__(self, document: CommentedMap) -> None:
        self.document = document

    @property
    def attributes(self) -> CommentedMap:
        return self.document["attributes"]

    def _put(self, key: str, value: Any) -> None:
        """Set an attribute; a new one goes where ViewSpec declares it among those present."""
        set_keys(self.attributes, FIELD_ORDER, {key: value})
