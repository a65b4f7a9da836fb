"""What the studio offers to point at: the tables of `sources.yaml`, their columns as the schema
snapshot has them (MySQL type, the Arrow type extraction writes, a view type), the keys of their
JSON columns as sampled from a shard, and the keys a lookup can join on."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from collections import Counter
from decimal import Decimal
from typing import Any

import polars as pl

from etl_platform.extract.schema_snapshot import column_info
from etl_platform.extract.types import UnsupportedTypeError, plan_column
from etl_platform.specs.source_schema import SourceSchema, type_name
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.types import parse_type_name
from etl_platform.specs.view_scaffold import sample_paths, spec_type

#: Latest rows read from a shard to sample a JSON column's keys (what `views new` reads).
SAMPLE_ROWS = 500
_INTEGER_TYPES = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint"}
_INTEGER_SPEC = re.compile(r"^u?int(8|16|32|64)$")
_MYSQL_KINDS = {
    **dict.fromkeys(("char", "varchar", "text", "tinytext", "mediumtext", "longtext"), "string"),
    **dict.fromkeys(("enum", "set"), "string"),
    **dict.fromkeys(("datetime", "timestamp"), "timestamp"),
    "date": "date",
}


@dataclasses.dataclass
class Catalog:
    """The platform's own config, read once when the studio starts."""

    sources: SourcesSpec
    schema: SourceSchema
    _samples: dict[tuple[str, str, str], list[dict[str, Any]]] = dataclasses.field(
        default_factory=dict
    )
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def tables(self) -> list[dict[str, Any]]:
        out = []
        for name, table in self.sources.tables.items():
            out.append(
                {
                    "name": name,
                    "primary_key": list(table.primary_key),
                    "json": list(table.json_columns),
                    "mode": table.mode,
                    "can_drive": not table.is_snapshot,
                    "in_snapshot": name in self.schema.tables,
                    "shards": self.sources.shards_for(name),
                }
            )
        return out

    def columns(self, table: str) -> list[dict[str, Any]]:
        """Each column the extractor reads: its MySQL type, Arrow type and view type (none for a
        column a view cannot type, as `views new` leaves it out)."""
        spec = self._table(table)
        out = []
        for name, mysql in self.schema.tables.get(table, {}).items():
            if name in spec.exclude_columns:
                continue
            try:
                arrow = plan_column(column_info(name, mysql), table=table).arrow_type
            except UnsupportedTypeError:
                arrow = None
            out.append(
                {
                    "name": name,
                    "mysql": mysql,
                    "arrow": str(arrow) if arrow is not None else None,
                    "type": None
                    if name in spec.json_columns or arrow is None
                    else spec_type(arrow),
                    "json": name in spec.json_columns,
                    "key": name in spec.primary_key,
                }
            )
        return out

    def json_keys(self, table: str, column: str, shard: str | None = None) -> list[dict[str, Any]]:
        """The key paths of a JSON column in the latest rows of one shard: in how many rows each
        appears, the JSON types seen, and the view type `views new` would give it."""
        spec = self._table(table)
        if column not in spec.json_columns:
            raise LookupError(f"column {column!r} is not listed in tables.{table}.json")
        shard = shard or self.sources.shards_for(table)[0]
        if shard not in self.sources.shards_for(table):
            raise LookupError(f"table {table!r} is not extracted from shard {shard!r}")
        key = (table, column, shard)
        with self._lock:
            if key not in self._samples:
                texts = self._sample_texts(table, column, shard)
                self._samples[key] = key_stats(texts)
            return self._samples[key]

    def _sample_texts(self, table: str, column: str, shard: str) -> list[str | None]:
        """The scaffold's sample: the latest rows, read and typed as extraction reads them."""
        from etl_platform.extract.connection import endpoint_for
        from etl_platform.extract.introspect import plan_on_shard
        from etl_platform.extract.sample_rows import sample_rows

        spec = self._table(table)
        endpoint = endpoint_for(shard, self.sources.shards[shard])
        plan = plan_on_shard(
            endpoint,
            table,
            cursor=spec.cursor,
            primary_key=spec.primary_key,
            exclude=spec.exclude_columns,
            shard=shard,
            connect_timeout=self.sources.extract.connect_timeout_seconds,
        )
        rows = sample_rows(
            endpoint, plan, limit=SAMPLE_ROWS, timezone=self.sources.shard_timezone(shard)
        )
        frame = pl.from_arrow(rows.select([column]))
        assert isinstance(frame, pl.DataFrame)
        return frame[column].to_list()

    def lookup_keys(self, table: str, view_columns: dict[str, str]) -> list[dict[str, str]]:
        """Pairs (view column, related column) a lookup of `table` can join on: the same name,
        or `<table in the singular>_<column>` (`customer_id` -> `customers.id`), of comparable
        types. `view_columns` maps each view column to its MySQL or view type."""
        self._table(table)
        related = {
            name: mysql
            for name, mysql in self.schema.tables.get(table, {}).items()
            if name not in self.sources.tables[table].exclude_columns
        }
        singular = _singular(table)
        primary_key = self.sources.tables[table].primary_key
        found = []
        for right, right_type in related.items():
            for left, left_type in view_columns.items():
                if left != right and left != f"{singular}_{right}":
                    continue
                if _kind(left_type) != _kind(right_type):
                    continue
                why = "same name" if left == right else f"{singular}_{right}"
                found.append({"left": left, "right": right, "why": f"{why}, {_kind(right_type)}"})
        # The related table's key first: that is what a lookup usually joins on.
        found.sort(key=lambda p: (p["right"] not in primary_key, p["right"] == p["left"]))
        return found

    def output_columns(self, attributes: dict[str, Any]) -> list[dict[str, str]]:
        """The view's output columns known at load, in output order, with a type family each
        (`date`, `timestamp`, `integer`, ...): what a grain, a measure or `partition_by` can
        name. Flatten's columns follow the data and are not among them."""
        out: dict[str, str] = {}
        for name, column in (attributes.get("columns") or {}).items():
            if isinstance(column, dict):
                out[str(name)] = _kind(str(column.get("type") or ""))
        explode = attributes.get("explode")
        if isinstance(explode, dict):
            out[str(explode.get("index_column") or "item_index")] = "integer"
        for lookup in attributes.get("lookups") or []:
            if not isinstance(lookup, dict):
                continue
            related = self.schema.tables.get(str(lookup.get("table")), {})
            for column, output in (lookup.get("columns") or {}).items():
                spec = output if isinstance(output, dict) else {"as": output}
                typ = spec.get("type") or related.get(column, "")
                out[str(spec.get("as") or column)] = _kind(str(typ))
        return [{"name": name, "kind": kind} for name, kind in out.items()]

    def _table(self, table: str) -> Any:
        if table not in self.sources.tables:
            raise LookupError(
                f"unknown table {table!r} (sources.yaml has {sorted(self.sources.tables)})"
            )
        return self.sources.tables[table]


def key_stats(texts: list[str | None]) -> list[dict[str, Any]]:
    """Per leaf path (as `sample_paths` finds them): rows holding it, JSON types seen, and the
    guessed view type. A document that is not a JSON object counts in `rows` only."""
    guessed = sample_paths(texts)
    counts: Counter[tuple[str, ...]] = Counter()
    kinds: dict[tuple[str, ...], set[str]] = {}
    for text in texts:
        try:
            doc = json.loads(text, parse_float=Decimal) if text else None
        except ValueError:
            continue
        if not isinstance(doc, dict):
            continue
        for path in guessed:
            value: Any = doc
            for part in path:
                if not isinstance(value, dict) or part not in value:
                    break
                value = value[part]
            else:
                counts[path] += 1
                kinds.setdefault(path, set()).add(_json_kind(value))
    rows = len(texts)
    return [
        {
            "path": ".".join(path),
            "count": counts[path],
            "rows": rows,
            "kinds": sorted(kinds.get(path, ())),
            "type": typ,
            "name": _suggested_name(path),
        }
        for path, typ in guessed.items()
    ]


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _suggested_name(path: tuple[str, ...]) -> str:
    """The last key, as a plain name: the analyst renames it before adding when it clashes."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", path[-1]).strip("_").lower() or "value"
    return name if not name[0].isdigit() else f"c_{name}"


def _singular(table: str) -> str:
    if table.endswith("ies"):
        return table[:-3] + "y"
    return table[:-1] if table.endswith("s") else table


def _kind(type_text: str) -> str:
    """A type's family for comparing keys: integers of any width compare by value."""
    text = type_text.strip().lower()
    if _INTEGER_SPEC.match(text) or type_name(text) in _INTEGER_TYPES:
        return "integer"
    if type_name(text) in _MYSQL_KINDS:
        return _MYSQL_KINDS[type_name(text)]
    try:
        return parse_type_name(text).name
    except ValueError:
        return type_name(text)
