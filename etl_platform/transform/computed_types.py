"""Type-check computed columns when definitions load: the spec layer sees an expression's
columns but not their types, so `LOWER(qty)` would otherwise fail only when the view runs."""

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


def lookup_arrow_types(spec: ViewSpec, snapshot: SourceSchema) -> dict[str, pa.DataType]:
    """Each looked-up output column's type as the extractor writes it (before any `type:`)."""
    out: dict[str, pa.DataType] = {}
    for lookup in spec.lookups:
        schema = snapshot_arrow_schema(snapshot, lookup.table)
        for column, name in lookup.outputs.items():
            if column in schema.names:
                out[name] = schema.field(column).type
    return out


def computed_type_problems(
    spec: ViewSpec, lookup_types: Mapping[str, pa.DataType]
) -> list[Problem]:
    """Each computed column compiled and run on no rows, over the columns as typed when it
    runs: declared columns read from the row, looked-up columns (their `type:` when given),
    and the computed columns before it."""
    schema: dict[str, pl.DataType] = {
        name: storage_dtype(parse_type(spec.columns[name].type)) for name in spec.read_columns
    }
    if spec.explode:
        schema[spec.explode.index_column] = pl.Int32()
    looked_up = pl.from_arrow(pa.schema(lookup_types).empty_table()).schema
    for lookup in spec.lookups:
        typed = lookup.typed
        for out in lookup.outputs.values():
            if out in typed:
                schema[out] = storage_dtype(parse_type(typed[out]))
            elif out in looked_up:
                schema[out] = looked_up[out]
    problems: list[Problem] = []
    for name, text in spec.computed.items():
        try:
            pl.DataFrame(schema=schema).select(compile_expression(text, schema))
        except ExpressionError as e:
            problems.append((f"columns.{name}.expr", str(e)))
        except pl.exceptions.PolarsError as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            problems.append((f"columns.{name}.expr", f"cannot be computed on these types: {first}"))
        schema[name] = storage_dtype(parse_type(spec.columns[name].type))
    return problems


def expression_type_check(snapshot: SourceSchema) -> Callable[[ViewSpec], list[Problem]]:
    """The check `load_views` runs on each valid spec, with the sources' column types."""
    return lambda spec: computed_type_problems(spec, lookup_arrow_types(spec, snapshot))
