"""A starting view spec from a table's real columns and a sample of its JSON keys (pure)."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import pyarrow as pa
import yaml

from etl_platform.layout import PARTITION_COLUMN
from etl_platform.specs.view_loader import VIEW_COMPONENT_TYPE
from etl_platform.specs.views import ViewSpec

#: More decimals than this in a sampled JSON number: a measurement (float64), not money.
MAX_SCALE = 4
#: The largest precision a scaffolded JSON decimal gets (an int64 holds it).
MAX_PRECISION = 18
#: The views' default `max_reject_ratio`.
DEFAULT_REJECT_RATIO: float = ViewSpec.model_fields["max_reject_ratio"].default
_DECIMAL_TEXT = re.compile(r"^-?\d+\.\d+$")


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
    present = [v for v in values if v is not None]
    kinds = {type(v) for v in present}
    if not kinds:
        return "string"
    if kinds <= {bool}:
        return "bool"
    if kinds & {list, dict}:
        return "json"  # `string` would reject the objects and arrays
    if kinds <= {int}:
        return "int64"
    decimal = _decimal_type(present)
    if decimal:
        return decimal
    if kinds <= {int, float, Decimal}:
        return "float64"
    return "string"


def _decimal_type(values: list[object]) -> str | None:
    """`decimal(p,s)` for money-like values: numbers or numeric strings ("39.80") with at most
    `MAX_SCALE` decimals, some with a fraction. The scale is at least 2 (39.8 is 39.80); the
    precision leaves room above the largest value seen, up to `MAX_PRECISION`."""
    scales, integers, fraction = [], [], False
    for value in values:
        textual = isinstance(value, str) and _DECIMAL_TEXT.match(value)
        if isinstance(value, bool) or not (textual or isinstance(value, int | Decimal)):
            return None
        number = Decimal(value)  # type: ignore[arg-type]
        if not number.is_finite():
            return None
        fraction = fraction or not isinstance(value, int)
        _, digits, exponent = number.as_tuple()
        assert isinstance(exponent, int)  # finite
        scales.append(max(0, -exponent))
        integers.append(max(1, len(digits) + exponent))
    if not fraction or max(scales) > MAX_SCALE:
        return None
    scale = max(2, *scales)
    if max(integers) + scale > MAX_PRECISION:
        return None
    precision = min(MAX_PRECISION, max(10, max(integers) + 3) + scale)
    return f"decimal({precision},{scale})"


def sample_paths(texts: Iterable[str | None], max_depth: int = 3) -> dict[tuple[str, ...], str]:
    """Leaf key paths seen in a bounded sample of JSON texts, with a guessed type each.

    Numbers are read as written (`Decimal`), so money keeps its decimals for the guess."""
    seen: dict[tuple[str, ...], list[object]] = {}
    objects: set[tuple[str, ...]] = set()  # paths that held an object in some document

    def walk(value: object, path: tuple[str, ...]) -> None:
        if isinstance(value, dict) and len(path) < max_depth:
            objects.add(path)
            for k, v in value.items():
                walk(v, (*path, str(k)))
        elif path:
            seen.setdefault(path, []).append(value)

    for text in texts:
        try:
            doc = json.loads(text, parse_float=Decimal) if text else None
        except ValueError:
            continue
        if isinstance(doc, dict):
            walk(doc, ())
    # A path that is an object in some documents and not in others is kept whole as JSON text,
    # which takes both; a key below it would reject the documents where it is no object.
    mixed = objects & seen.keys()
    return {
        p: "json" if p in mixed else _json_type(v)
        for p, v in sorted(seen.items())
        if not any(p[:i] in mixed for i in range(1, len(p)))
    }


def _column_name(parts: Sequence[str], taken: set[str]) -> str:
    base = "_".join("".join(c if c.isalnum() else "_" for c in p) for p in parts).strip("_").lower()
    name = base if base and not base[0].isdigit() else f"c_{base}"
    while name in taken:
        name += "_"
    taken.add(name)
    return name


@dataclasses.dataclass
class ScaffoldedView:
    """A view spec being scaffolded: its attributes in file order, and the comments that say
    what the scaffold left out or measured."""

    name: str
    table: str
    attributes: dict[str, Any]
    #: Comment lines at the top of the file.
    notes: list[str] = dataclasses.field(default_factory=list)
    #: Comment lines above `max_reject_ratio`.
    reject_note: list[str] = dataclasses.field(default_factory=list)

    @property
    def columns(self) -> dict[str, dict[str, str]]:
        return self.attributes["columns"]

    def spec(self) -> ViewSpec:
        return ViewSpec.model_validate(self.attributes)


def scaffold_view(
    name: str,
    table: str,
    schema: pa.Schema,
    *,
    primary_key: Sequence[str],
    json_columns: Sequence[str],
    json_samples: dict[str, dict[tuple[str, ...], str]],
) -> ScaffoldedView:
    """A view with every column of `table` and every sampled JSON path."""
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
        "max_reject_ratio": DEFAULT_REJECT_RATIO,
    }
    notes = [f"Columns left out (no view type): {', '.join(skipped)}"] if skipped else []
    return ScaffoldedView(name, table, attributes, notes)


def reject_allowance(rejected: int, rows: int) -> float:
    """A `max_reject_ratio` that a sample's reject rate passes: the rate plus three standard
    errors of a sample that size (the sample is not the whole table), rounded up to half a
    percent, never below the default."""
    if not rows or not rejected:
        return DEFAULT_REJECT_RATIO
    rate = rejected / rows
    bound = rate + 3 * math.sqrt(rate * (1 - rate) / rows)
    return min(1.0, max(DEFAULT_REJECT_RATIO, math.ceil(bound * 200 - 1e-9) / 200))


#: Commented examples of the fields a scaffold cannot guess, written above `unique_key`.
MORE_FIELDS = (
    "More fields (docs/views.md has each):",
    "- under columns, a computed column (after the lookups):",
    '    net: {expr: "total - COALESCE(discount, 0)", type: "decimal(12,2)"}',
    "- on any column, `nullable: false`: a row whose value is NULL becomes a reject",
    "lookups:                      # related rows as of the end of the day, in this order",
    "  - table: customers",
    "    on: {customer_id: id}",
    "    join: left                # or inner: a row without a related row becomes a reject",
    "    columns: {email: customer_email, region_id: {as: region_id, type: int32}}",
    "  - table: regions            # a chain: joins on region_id, brought in just above",
    "    on: {region_id: id}",
    "    columns: {name: region_name}",
    "grain: [order_day, status]    # a report (reports/<name>) of the current rows, with:",
    "measures: {orders: count(), revenue: sum(total), buyers: count_distinct(customer_id)}",
    "across_shards: true           # one report row per grain value, not per shard",
    "partition_by: order_day       # also lay the current rows out by this date column",
)


def render_view(view: ScaffoldedView) -> str:
    """The defs.yaml text: flat mappings (a column, a list) on one line each, the notes as
    comments."""
    header = [
        f"Written by `etl-platform views new {view.name} --source {view.table}`; edit freely.",
        *view.notes,
    ]
    body = yaml.safe_dump(
        {"type": VIEW_COMPONENT_TYPE, "attributes": view.attributes},
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=None,
    )
    lines = [f"# {line}" for line in header]
    for line in body.splitlines():
        if line.startswith("  unique_key:"):
            lines += [f"  # {example}" for example in MORE_FIELDS]
        if line.startswith("  max_reject_ratio:"):
            lines += [f"  # {note}" for note in view.reject_note]
        lines.append(line)
    return "\n".join(lines) + "\n"
