"""What the studio offers to point at: the tables of `sources.yaml`, their columns as the schema
snapshot has them (MySQL type, the Arrow type extraction writes, a view type), the keys of their
JSON columns as sampled from a shard (or the lake), the keys a lookup can join on, and the date
columns a period lookup can name."""

from __future__ import annotations

import dataclasses
import re
import threading
from pathlib import Path
from typing import Any

from etl_platform.extract.schema_snapshot import column_info
from etl_platform.extract.types import UnsupportedTypeError, plan_column
from etl_platform.specs.source_schema import SourceSchema, type_name
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.types import parse_type_name
from etl_platform.specs.view_scaffold import spec_type
from etl_platform.studio.json_sample import SAMPLE_ROWS, key_stats, sample_json

__all__ = ["SAMPLE_ROWS", "Catalog", "key_stats"]

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
    _samples: dict[tuple[str, str, str], dict[str, Any]] = dataclasses.field(default_factory=dict)
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

    def json_keys(
        self,
        table: str,
        column: str,
        shard: str | None = None,
        lake_root: Path | None = None,
    ) -> dict[str, Any]:
        """The key paths of a JSON column in the latest rows of one shard (any shard carrying
        the table; the first by default), or of the lake's raw days of that shard when it
        cannot be reached: `keys` (`key_stats`), `shard`, and `source` saying which."""
        spec = self._table(table)
        if column not in spec.json_columns:
            raise LookupError(f"column {column!r} is not listed in tables.{table}.json")
        shard = shard or self.sources.shards_for(table)[0]
        if shard not in self.sources.shards_for(table):
            raise LookupError(f"table {table!r} is not extracted from shard {shard!r}")
        key = (table, column, shard)
        with self._lock:
            if key in self._samples:
                return self._samples[key]
        answer = sample_json(self.sources, lake_root, table, column, shard)
        if answer["from"] == "shard":  # a fallback is not kept: the shard may be back next time
            with self._lock:
                self._samples[key] = answer
        return answer

    def date_columns(self, table: str) -> list[str]:
        """The table's DATE and DATETIME/TIMESTAMP columns: what a period's `from` and `to`
        (or, of the driving table, its `view`) can name."""
        return [
            name
            for name, mysql in self.schema.tables.get(table, {}).items()
            if name not in self.sources.tables[table].exclude_columns
            and _kind(mysql) in ("date", "timestamp")
        ]

    def period_columns(self, attributes: dict[str, Any]) -> dict[str, Any]:
        """What a period lookup can name: for `view`, the date and timestamp columns of the
        driving table and the view's declared and looked-up ones (not computed: lookups run
        before them); for `from` and `to`, each looked-up table's."""
        source = str(attributes.get("source") or "")
        view = self.date_columns(source) if source in self.sources.tables else []
        columns = attributes.get("columns") or {}
        for output in self.output_columns(attributes):
            computed = isinstance(columns.get(output["name"]), dict) and bool(
                columns[output["name"]].get("expr")
            )
            dated = output["kind"] in ("date", "timestamp")
            if dated and not computed and output["name"] not in view:
                view.append(output["name"])
        tables = {
            str(lookup.get("table"))
            for lookup in attributes.get("lookups") or []
            if isinstance(lookup, dict) and str(lookup.get("table")) in self.sources.tables
        }
        return {"view": view, "related": {t: self.date_columns(t) for t in sorted(tables)}}

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
