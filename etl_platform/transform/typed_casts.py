"""Cast columns to their declared types, and set aside the rows that do not fit as rejects.

One rule for every typed column of a view, whatever made the value: a source column, a
looked-up column given a `type`, or a computed column. A value the cast would change (round,
cut, overflow, not parse) rejects its row with the reason, never stores a rounded or null value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import polars as pl

from etl_platform.transform._rejects import build_rejects, empty_rejects
from etl_platform.transform.dtypes import cast_failure, cast_source


@dataclasses.dataclass(frozen=True)
class Cast:
    """`source` cast to `dtype` as column `name`; rejects name the column `label`."""

    name: str
    source: str
    dtype: pl.DataType
    label: str


def cast_with_rejects(
    df: pl.DataFrame, casts: Sequence[Cast], key: Sequence[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`df` with each cast applied and the rows that failed one left out; the rejects name
    the first failing column (all of them in the reason) and its raw value."""
    if not casts:
        return df, empty_rejects()
    typed, wrong = {}, []
    for c in casts:
        typed[c.name], mask = cast_source(pl.col(c.source), df.schema[c.source], c.dtype)
        wrong.append(mask)
    masks = df.select(m.alias(f"w{j}") for j, m in enumerate(wrong))
    problem = masks.select(pl.any_horizontal(pl.all()).fill_null(False)).to_series()
    kept = df.with_columns(**typed).filter(~problem)
    if not problem.any():
        return kept, empty_rejects()
    # The reasons are worked out for the rejected rows alone, from their values as they were.
    failed = df.filter(problem)
    values = pl.concat(
        [
            failed.select(pl.col(c.source).alias(f"v{j}") for j, c in enumerate(casts)),
            masks.filter(problem),
        ],
        how="horizontal",
    )
    said = [
        pl.when(pl.col(f"w{j}")).then(
            pl.lit(f"column {c.label}: ")
            + cast_failure(pl.col(f"v{j}"), df.schema[c.source], c.dtype)
        )
        for j, c in enumerate(casts)
    ]
    details = values.select(
        reason=pl.concat_list(said).list.drop_nulls().list.join("; "),
        column=pl.coalesce(
            pl.when(pl.col(f"w{j}")).then(pl.lit(c.label)) for j, c in enumerate(casts)
        ),
        raw_value=pl.coalesce(
            pl.when(pl.col(f"w{j}")).then(pl.col(f"v{j}").cast(pl.String, strict=False))
            for j in range(len(casts))
        ),
    )
    return kept, build_rejects(failed, details, key_columns=key)


@dataclasses.dataclass(frozen=True)
class Rule:
    """Rows where `broken` is true are rejected, naming `column`, its `value` and `reason`."""

    broken: pl.Expr
    column: str
    value: pl.Expr
    reason: pl.Expr


def reject_where(
    df: pl.DataFrame, rules: Sequence[Rule], key: Sequence[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`df` without the rows that break a rule, and their rejects; a row breaking several is
    named by the first."""
    if not rules or df.is_empty():
        return df, empty_rejects()
    masks = df.select(r.broken.fill_null(False).alias(f"w{j}") for j, r in enumerate(rules))
    problem = masks.select(pl.any_horizontal(pl.all())).to_series()
    if not problem.any():
        return df, empty_rejects()
    failed = pl.concat([df, masks], how="horizontal").filter(problem)

    def first(part: str) -> pl.Expr:
        return pl.coalesce(
            pl.when(pl.col(f"w{j}")).then(_as_expr(getattr(r, part)).cast(pl.String))
            for j, r in enumerate(rules)
        )

    details = failed.select(
        column=first("column"), raw_value=first("value"), reason=first("reason")
    )
    return df.filter(~problem), build_rejects(failed, details, key_columns=key)


def _as_expr(value: pl.Expr | str) -> pl.Expr:
    return value if isinstance(value, pl.Expr) else pl.lit(value)
