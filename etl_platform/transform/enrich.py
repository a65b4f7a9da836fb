"""What a view adds to its deduplicated rows: lookups in order (a later one may join on what an
earlier one brought in), their declared types, computed columns, then the required columns.

Each step may set rows aside as rejects with the reason: a row an inner lookup found nothing
for, a looked-up or computed value that does not fit its type, a NULL in a `nullable: false`
column. They run after dedupe: they only add columns or drop whole rows, so the dedupe winner
is the same, and they work on fewer rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import polars as pl

from etl_platform.specs.views import LookupSpec, ViewSpec
from etl_platform.transform._jsonpath import fresh_name
from etl_platform.transform._rejects import empty_rejects
from etl_platform.transform.dtypes import parse_type, storage_dtype
from etl_platform.transform.expressions import compile_expression
from etl_platform.transform.lookups import apply_lookup
from etl_platform.transform.typed_casts import Cast, Rule, cast_with_rejects, reject_where


@dataclasses.dataclass
class Enriched:
    rows: pl.DataFrame
    rejects: pl.DataFrame
    orphans: dict[str, int]


def enrich(
    spec: ViewSpec,
    df: pl.DataFrame,
    *,
    related: Mapping[str, pl.DataFrame],
    related_cursors: Mapping[str, str],
    key: Sequence[str],
) -> Enriched:
    """Lookups, computed columns and required columns over one shard's deduplicated rows."""
    rejects: list[pl.DataFrame] = [empty_rejects()]
    orphans: dict[str, int] = {}
    for lookup in spec.lookups:
        df, missing, lookup_rejects = _lookup(df, lookup, related, related_cursors, key)
        orphans[lookup.table] = orphans.get(lookup.table, 0) + missing
        rejects.append(lookup_rejects)
        df, cast_rejects = cast_with_rejects(df, _lookup_casts(lookup), key)
        rejects.append(cast_rejects)
    for name, text in spec.computed.items():
        df = df.with_columns(compile_expression(text, df.schema).alias(name))
        dtype = storage_dtype(parse_type(spec.columns[name].type))
        df, cast_rejects = cast_with_rejects(df, [Cast(name, name, dtype, name)], key)
        rejects.append(cast_rejects)
    df, null_rejects = reject_where(df, _required_rules(spec), key)
    rejects.append(null_rejects)
    return Enriched(df, pl.concat(rejects, how="vertical_relaxed"), orphans)


def _lookup(
    df: pl.DataFrame,
    lookup: LookupSpec,
    related: Mapping[str, pl.DataFrame],
    related_cursors: Mapping[str, str],
    key: Sequence[str],
) -> tuple[pl.DataFrame, int, pl.DataFrame]:
    """One lookup: (rows, orphans, rejects). With `join: inner`, the rows that found no
    related row are rejects (`no customers row for {"customer_id":7}`), a NULL key included,
    as in SQL's inner join."""
    found = fresh_name("__found", [*df.columns, *lookup.outputs.values()])
    inner = lookup.join == "inner"
    df, orphans = apply_lookup(
        df,
        related[lookup.table],
        on=lookup.on,
        columns=lookup.outputs,
        related_cursor=related_cursors[lookup.table],
        period=lookup.period,
        found=found if inner else None,
    )
    if not inner:
        return df, orphans, empty_rejects()
    asked = lookup.view_columns
    key_text = pl.struct(asked).struct.json_encode()
    rule = Rule(
        broken=~pl.col(found),
        column=", ".join(asked),
        value=key_text,
        reason=pl.lit(f"no {lookup.table} row for ") + key_text,
    )
    df, rejects = reject_where(df, [rule], key)
    return df.drop(found), orphans, rejects


def _lookup_casts(lookup: LookupSpec) -> list[Cast]:
    return [
        Cast(out, out, storage_dtype(parse_type(type_)), out) for out, type_ in lookup.typed.items()
    ]


def _required_rules(spec: ViewSpec) -> list[Rule]:
    """A NULL in a column declared `nullable: false`: the reason names the column."""
    required = [name for name, c in spec.columns.items() if not c.nullable]
    required += [out for lookup in spec.lookups for out in lookup.required]
    return [
        Rule(
            broken=pl.col(name).is_null(),
            column=name,
            value=pl.lit(None, pl.String),
            reason=pl.lit(f"column {name} is NULL; the view declares it nullable: false"),
        )
        for name in required
    ]
