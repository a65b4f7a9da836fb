"""Type-check a view when definitions load, step by step as it runs: the spec layer sees the
columns a view reads but not their types, so a lookup key that cannot be compared, or
`LOWER(qty)`, would otherwise fail only when the view runs, without naming the field."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import polars as pl
import pyarrow as pa

from etl_platform.extract.schema_snapshot import snapshot_arrow_schema
from etl_platform.specs.expressions import ExpressionError
from etl_platform.specs.source_schema import SourceSchema
from etl_platform.specs.views import ViewSpec
from etl_platform.transform.dtypes import parse_type, storage_dtype
from etl_platform.transform.expressions import compile_expression

Problem = tuple[str, str]
#: What `sum` and `avg` take; `min` and `max` take any ordered type.
_NUMERIC = "a number (int, float or decimal)"


def lookup_arrow_types(spec: ViewSpec, snapshot: SourceSchema) -> dict[str, pa.DataType]:
    """Each looked-up output column's type as the extractor writes it (before any `type:`)."""
    out: dict[str, pa.DataType] = {}
    for lookup in spec.lookups:
        schema = snapshot_arrow_schema(snapshot, lookup.table)
        for column, name in lookup.outputs.items():
            if column in schema.names:
                out[name] = schema.field(column).type
    return out


def view_type_problems(spec: ViewSpec, snapshot: SourceSchema) -> list[Problem]:
    """The problems only types reveal, in the order the view runs: each lookup's keys, each
    computed column, then the report's measures and the second partitioning."""
    source = _polars_types(snapshot_arrow_schema(snapshot, spec.source))
    schema: dict[str, pl.DataType] = {
        name: storage_dtype(parse_type(spec.columns[name].type)) for name in spec.read_columns
    }
    if spec.explode:
        schema[spec.explode.index_column] = pl.Int32()
    problems: list[Problem] = []
    for i, lookup in enumerate(spec.lookups):
        related = _polars_types(snapshot_arrow_schema(snapshot, lookup.table))
        for left, right in lookup.on.items():
            view_side = schema.get(left, source.get(left))
            if view_side is None or right not in related:
                continue  # unknown columns are reported by the spec's checks
            if not _comparable(view_side, related[right]):
                problems.append(
                    (
                        f"lookups.{i}.on.{left}",
                        f"{left!r} is {view_side} and {lookup.table}.{right} is "
                        f"{related[right]}: they cannot be compared (an integer key joins any "
                        "integer; give a looked-up key an integer `type`)",
                    )
                )
        typed = lookup.typed
        for column, out in lookup.outputs.items():
            if out in typed:
                schema[out] = storage_dtype(parse_type(typed[out]))
            elif column in related:
                schema[out] = related[column]
    for name, text in spec.computed.items():
        problems += _expression_problems(name, text, schema)
        schema[name] = storage_dtype(parse_type(spec.columns[name].type))
    return problems + _report_type_problems(spec, schema)


def view_type_check(snapshot: SourceSchema) -> Callable[[ViewSpec], list[Problem]]:
    """The check `load_views` runs on each valid spec, with the sources' column types."""
    return lambda spec: view_type_problems(spec, snapshot)


def _polars_types(schema: pa.Schema) -> dict[str, pl.DataType]:
    return dict(pl.from_arrow(schema.empty_table()).schema)


def _comparable(view_side: pl.DataType, related: pl.DataType) -> bool:
    """What the lookup join compares: equal types, or integers of any width (by value)."""
    return view_side == related or (view_side.is_integer() and related.is_integer())


def _expression_problems(name: str, text: str, schema: Mapping[str, pl.DataType]) -> list[Problem]:
    """The expression compiled and run on no rows over the columns as typed when it runs."""
    try:
        pl.DataFrame(schema=dict(schema)).select(compile_expression(text, schema))
    except ExpressionError as e:
        return [(f"columns.{name}.expr", str(e))]
    except pl.exceptions.PolarsError as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        return [(f"columns.{name}.expr", f"cannot be computed on these types: {first}")]
    return []


def _report_type_problems(spec: ViewSpec, schema: Mapping[str, pl.DataType]) -> list[Problem]:
    problems: list[Problem] = []
    for name, measure in spec.measure_specs.items():
        dtype = schema.get(measure.column) if measure.column else None
        if dtype is None:
            continue  # count(), or a column already reported
        if measure.function in ("sum", "avg") and not dtype.is_numeric():
            problems.append(
                (
                    f"measures.{name}",
                    f"{measure.function}() needs {_NUMERIC}; {measure.column!r} is {dtype}",
                )
            )
        if measure.function in ("min", "max") and dtype.is_nested():
            problems.append((f"measures.{name}", f"{measure.column!r} ({dtype}) has no order"))
    by = spec.partition_by
    if by and by in schema and not isinstance(schema[by], (pl.Date, pl.Datetime)):
        problems.append(("partition_by", f"{by!r} is {schema[by]}, not a date or timestamp"))
    if by and isinstance(schema.get(by), pl.Datetime) and f"{by}_day" in schema:
        problems.append(
            (
                "partition_by",
                f"a timestamp's days are folders named {by}_day, which is an output column; "
                "rename it or partition by a computed date",
            )
        )
    return problems
