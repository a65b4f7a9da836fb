"""Denormalise: bring columns of related rows (same shard) into the view's rows.

`lookups: [{table: customers, on: {customer_id: id}, columns: {email: customer_email}}]`
becomes a left join on the latest version of each related key, so a view row never
multiplies and a missing related row shows up as an orphan count, not a lost row.

A lookup with a `period` (`{view: from_date, from: from_date, to: to_date}`) picks, among the
related rows matching `on`, the one whose period holds the view row's date; still one row at
most per view row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from etl_platform.specs.views import PeriodSpec
from etl_platform.transform._jsonpath import fresh_name
from etl_platform.transform._rejects import check_columns
from etl_platform.transform.dedupe import latest_rows

#: What period bounds and view dates are compared as: a date is its midnight, UTC.
INSTANT = pl.Datetime("us", "UTC")


def latest_per_key(df: pl.DataFrame, *, key: Sequence[str], cursor: str) -> pl.DataFrame:
    """Compact a related table's versions to the latest row per key (dedupe's tie-break).

    Rows with a null in `key` are dropped: no view row can ever join to them, and keeping
    them would grow compacted lookup state forever.
    """
    check_columns(df, [*key, cursor], "lookup state")
    if not key:
        raise ValueError("latest_per_key: key must name at least one column")
    keyed = df.filter(pl.all_horizontal(pl.col(k).is_not_null() for k in key))
    return latest_rows(keyed, key, cursor)


def apply_lookup(
    df: pl.DataFrame,
    related: pl.DataFrame,
    *,
    on: Mapping[str, str],
    columns: Mapping[str, str],
    related_cursor: str,
    period: PeriodSpec | None = None,
    found: str | None = None,
) -> tuple[pl.DataFrame, int]:
    """Left-join `related[c]` into `df` as `columns[c]`, matching `df[l] == related[r]`.

    Args:
        df: view rows; their count and order are kept.
        related: rows of the related table (may hold several versions per key; with
            `period`, every row is a period: pass the table as of the day, one row per key).
        on: view column -> related column, all must match.
        columns: related column -> output column name (must be new in `df`).
        related_cursor: version column of `related`; the latest version per key is used
            (not with `period`).
        period: pick the matching row whose period holds `df[period.view]`
            (`period_lookup`).
        found: when given, a boolean column of that name says whether the row found a
            related row (an inner join leaves out the rows where it is false).

    Returns:
        (df with the output columns added, orphans: rows whose join key is fully non-null
        but found no related row). Integer keys of different width or signedness are
        compared by value: the related key is cast to the view key's dtype, and related
        keys that do not fit it (e.g. a UInt64 above 2**63 against Int64) cannot match.
    """
    if not on:
        raise ValueError("lookup: `on` must name at least one column pair")
    check_columns(df, list(on), "lookup join (view side)")
    bounds = period.bounds if period else []
    check_columns(
        related, [*on.values(), *columns, related_cursor, *bounds], "lookup (related side)"
    )
    clashes = [out for out in columns.values() if out in df.columns]
    if clashes or len(set(columns.values())) < len(columns):
        raise ValueError(f"lookup: output column(s) {clashes} clash with view columns")
    if period is not None:
        return period_lookup(df, related, on=on, columns=columns, period=period, found=found)

    taken = [*df.columns, *columns.values()]
    join_keys = {left: fresh_name(f"__key_{i}", taken) for i, left in enumerate(on)}
    matched = fresh_name("__matched", [*taken, *join_keys.values()])
    cursor = fresh_name("__cursor", [*taken, *join_keys.values(), matched])
    right = related.select(
        *(
            _cast_key(related, on[left], df.schema[left]).alias(name)
            for left, name in join_keys.items()
        ),
        *(pl.col(src).alias(out) for src, out in columns.items()),
        pl.col(related_cursor).alias(cursor),
    )
    # Only the keys these rows ask for: a shard's state holds every customer, a day a few.
    wanted = df.select(pl.col(left).alias(name) for left, name in join_keys.items()).unique()
    right = right.join(wanted, on=list(join_keys.values()), how="semi", nulls_equal=False)
    right = latest_per_key(right, key=list(join_keys.values()), cursor=cursor)
    right = right.drop(cursor).with_columns(pl.lit(True).alias(matched))
    joined = df.join(
        right,
        left_on=list(join_keys),
        right_on=list(join_keys.values()),
        how="left",
        maintain_order="left",
        coalesce=True,
    )
    keyed = pl.all_horizontal(pl.col(left).is_not_null() for left in on)
    orphans = joined.select((keyed & pl.col(matched).is_null()).sum()).item()
    joined = joined.drop(*(c for c in join_keys.values() if c in joined.columns))
    return _found_column(joined, matched, found), orphans


def _cast_key(related: pl.DataFrame, column: str, target: pl.DataType) -> pl.Expr:
    """The related key in the view key's dtype; integers of another width/sign by value."""
    source = related.schema[column]
    if source == target:
        return pl.col(column)
    if source.is_integer() and target.is_integer():
        return pl.col(column).cast(target, strict=False)
    raise ValueError(
        f"lookup: related column `{column}` ({source}) cannot be compared with the view key "
        f"of dtype {target}"
    )


def period_lookup(
    df: pl.DataFrame,
    related: pl.DataFrame,
    *,
    on: Mapping[str, str],
    columns: Mapping[str, str],
    period: PeriodSpec,
    found: str | None = None,
) -> tuple[pl.DataFrame, int]:
    """`apply_lookup` with a period: among the rows of `related` matching `on`, the one with
    `from <= df[period.view] < to` (`period_of` gives the rules).

    Returns:
        (df with the output columns added, orphans: rows with a fully non-null key and a
        non-null date that no period holds). A null date looks nothing up and is no orphan.
    """
    check_columns(df, [period.view], "period lookup (view side)")
    taken = [*df.columns, *related.columns, *columns.values()]
    keys = _fresh_names([f"__key_{i}" for i in range(len(on))], taken)
    at, matched = _fresh_names(["__at", "__matched"], [*taken, *keys])
    join_keys = dict(zip(on, keys, strict=True))
    asked = df.with_columns(
        *(pl.col(view).alias(key) for view, key in join_keys.items()),
        instant(df, period.view).alias(at),
    )
    # Each distinct (key, date) once: a day's rows often share them.
    left = (
        asked.select(*keys, at)
        .filter(pl.all_horizontal(pl.col(c).is_not_null() for c in [*keys, at]))
        .unique()
    )
    candidates = related.with_columns(
        _cast_key(related, on[view], df.schema[view]).alias(key) for view, key in join_keys.items()
    ).join(left.select(keys).unique(), on=keys, how="semi")
    held = period_of(
        left, candidates, keys=keys, at=at, period=period, columns=columns, order=related.columns
    )
    held = held.select(*keys, at, *columns.values()).with_columns(pl.lit(True).alias(matched))
    joined = asked.join(held, on=[*keys, at], how="left", maintain_order="left")
    dated = pl.all_horizontal(pl.col(c).is_not_null() for c in [*on, period.view])
    orphans = joined.select((dated & pl.col(matched).is_null()).sum()).item()
    return _found_column(joined.drop(*keys, at), matched, found), orphans


def _found_column(joined: pl.DataFrame, matched: str, found: str | None) -> pl.DataFrame:
    """The join's marker dropped, or kept as the boolean `found` when the caller asks."""
    if found is None:
        return joined.drop(matched)
    return joined.with_columns(pl.col(matched).fill_null(False).alias(found)).drop(matched)


def period_of(
    left: pl.DataFrame,
    related: pl.DataFrame,
    *,
    keys: Sequence[str],
    at: str,
    period: PeriodSpec,
    columns: Mapping[str, str],
    order: Sequence[str],
) -> pl.DataFrame:
    """Each row of `left` (non-null `keys` and instant `at`) with the output columns of the
    related row whose period holds `at`; rows that none holds are left out.

    The rules, so the answer never depends on row order:
    - a period is `from <= at < to`; a null `to` never ends; a null `from` holds nothing;
    - without `to`, a period ends at the next `from` of the same key (an as-of join);
    - overlapping periods: the latest `from` wins, then the latest `to` (null first), then
      the related rows ordered by `order` ascending (the state's key columns come first).
    """
    taken = [*left.columns, *related.columns, *columns.values()]
    start, end, rank = _fresh_names(["__from", "__to", "__rank"], taken)
    bounds = [instant(related, period.from_).alias(start)]
    if period.to:
        bounds.append(instant(related, period.to).alias(end))
    periods = (
        related.sort(order, nulls_last=True, maintain_order=True)
        .select(
            *keys,
            *(pl.col(src).alias(out) for src, out in columns.items()),
            *bounds,
            pl.int_range(pl.len(), dtype=pl.UInt32).alias(rank),
        )
        .filter(pl.col(start).is_not_null())
    )
    if not period.to:
        starts = periods.sort(rank).unique([*keys, start], keep="first", maintain_order=True)
        return (
            left.sort(at)
            .join_asof(
                starts.sort(start),
                left_on=at,
                right_on=start,
                by=list(keys),
                strategy="backward",
                check_sortedness=False,
            )
            .filter(pl.col(rank).is_not_null())
        )
    holding = left.join(periods, on=list(keys), how="inner").filter(
        (pl.col(start) <= pl.col(at)) & (pl.col(end).is_null() | (pl.col(at) < pl.col(end)))
    )
    return holding.sort(
        [*keys, at, start, end, rank], descending=[False] * (len(keys) + 1) + [True, True, False]
    ).unique([*keys, at], keep="first", maintain_order=True)


def instant(frame: pl.DataFrame, column: str) -> pl.Expr:
    """`column` as a UTC instant, a date as its midnight: periods compare instants, never text.
    A datetime without a time zone is read as UTC, as the raw zone writes them."""
    dtype = frame.schema[column]
    if dtype in (pl.Date, pl.Null):
        return pl.col(column).cast(INSTANT)
    if isinstance(dtype, pl.Datetime):
        expr = pl.col(column)
        expr = (
            expr.dt.replace_time_zone("UTC")
            if dtype.time_zone is None
            else expr.dt.convert_time_zone("UTC")
        )
        return expr.dt.cast_time_unit("us")
    raise ValueError(f"period lookup: column `{column}` is {dtype}, not a date or datetime")


def _fresh_names(bases: Sequence[str], taken: Sequence[str]) -> list[str]:
    """Temporary column names, new to `taken` and to each other."""
    out: list[str] = []
    for base in bases:
        out.append(fresh_name(base, [*taken, *out]))
    return out
