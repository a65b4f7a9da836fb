"""A starting view spec from a table's real columns and a sample of its JSON keys (pure)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import pyarrow as pa
import yaml

from etl_platform.layout import PARTITION_COLUMN
from etl_platform.specs.view_loader import VIEW_COMPONENT_TYPE


def spec_type(arrow: pa.DataType) -> str | None:
    """The spec's type name for an extracted column's Arrow type (None: nothing sensible)."""
    if pa.types.is_boolean(arrow):
        return "bool"
    if pa.types.is_integer(arrow) or pa.types.is_floating(arrow):
        return {"halffloat": "float32", "float": "float32", "double": "float64"}.get(
            str(arrow), str(arrow)
        )
    if pa.types.is_decimal(arrow):
        return f"decimal({arrow.precision},{arrow.scale})" if arrow.precision <= 38 else "string"
    if pa.types.is_timestamp(arrow):
        return "timestamp"
    if pa.types.is_date(arrow):
        return "date"
    if pa.types.is_string(arrow) or pa.types.is_large_string(arrow):
        return "string"
    return None


def _json_type(values: list[object]) -> str:
    kinds = {type(v) for v in values if v is not None}
    if kinds <= {bool}:
        return "bool"
    if kinds <= {int}:
        return "int64"
    if kinds <= {int, float}:
        return "float64"
    if kinds <= {list, dict}:
        return "json"
    return "string"


def sample_paths(texts: Iterable[str | None], max_depth: int = 3) -> dict[tuple[str, ...], str]:
    """Leaf key paths seen in a bounded sample of JSON texts, with a guessed type each."""
    seen: dict[tuple[str, ...], list[object]] = {}

    def walk(value: object, path: tuple[str, ...]) -> None:
        if isinstance(value, dict) and len(path) < max_depth:
            for k, v in value.items():
                walk(v, (*path, str(k)))
        elif path:
            seen.setdefault(path, []).append(value)

    for text in texts:
        try:
            doc = json.loads(text) if text else None
        except ValueError:
            continue
        if isinstance(doc, dict):
            walk(doc, ())
    return {p: _json_type(v) for p, v in sorted(seen.items())}


def _column_name(parts: Sequence[str], taken: set[str]) -> str:
    base = "_".join("".join(c if c.isalnum() else "_" for c in p) for p in parts).strip("_").lower()
    name = base if base and not base[0].isdigit() else f"c_{base}"
    while name in taken:
        name += "_"
    taken.add(name)
    return name


def scaffold_view(
    name: str,
    table: str,
    schema: pa.Schema,
    *,
    primary_key: Sequence[str],
    json_columns: Sequence[str],
    json_samples: dict[str, dict[tuple[str, ...], str]],
) -> str:
    """The defs.yaml text of a view with every column of `table` and every sampled JSON path."""
    columns: dict[str, dict] = {}
    taken: set[str] = set()
    skipped = []
    for field in schema:
        if field.name in json_columns:
            continue
        typ = spec_type(field.type)
        if typ is None:
            skipped.append(f"{field.name} ({field.type})")
            continue
        out = field.name if field.name != PARTITION_COLUMN else f"source_{field.name}"
        taken.add(out)
        columns[out] = {"from": field.name, "type": typ}
    for column in json_columns:
        for path, typ in json_samples.get(column, {}).items():
            out = _column_name([column, *path], taken)
            columns[out] = {"json": column, "path": ".".join(path), "type": typ}
    key = [k if k != PARTITION_COLUMN else f"source_{k}" for k in primary_key]
    attributes = {
        "name": name,
        "description": f"TODO: one row per {table} row, ...",
        "source": table,
        "columns": columns,
        "unique_key": key,
        "destinations": ["athena"],
        "freshness": {"fail_after": "1d"},
    }
    header = f"# Written by `etl-platform views new {name} --source {table}`; edit freely.\n"
    if skipped:
        header += f"# Columns left out (no view type): {', '.join(skipped)}\n"
    body = yaml.safe_dump(
        {"type": VIEW_COMPONENT_TYPE, "attributes": attributes},
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )
    return header + body
