"""Denormalise: bring columns of related rows (same shard) into the view's rows.

`lookups: [{table: customers, on: {customer_id: id}, columns: {email: customer_email}}]`
becomes a left join on the latest version of each related key, so a view row never
multiplies and a missing related row shows up as an orphan count, not a lost row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from etl_platform.transform._jsonpath import fresh_name
from etl_platform.transform._rejects import check_columns
from etl_platform.transform.dedupe import latest_rows


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


def fold_latest(
    latest: pl.DataFrame, rows: pl.DataFrame, *, key: Sequence[str], cursor: str
) -> pl.DataFrame:
    """`latest_per_key(latest + rows)` when `latest` is already one row per key.

    Only the keys `rows` touch are compacted again; the rest of `latest` is carried over.
    Lookup state folds a small day into a large state, so this is much cheaper than compacting
    the whole union, and gives the same frame.
    """
    key = list(key)
    if not rows.height:
        return latest
    if any(latest.schema[k] != rows.schema[k] for k in key):  # joins need equal key types
        return latest_per_key(
            pl.concat([latest, rows], how="vertical_relaxed"), key=key, cursor=cursor
        )
    touched = rows.select(key).unique()
    kept = latest.join(touched, on=key, how="anti", nulls_equal=True)
    redone = pl.concat(
        [latest.join(touched, on=key, how="semi", nulls_equal=True), rows], how="vertical_relaxed"
    )
    merged = pl.concat(
        [kept, latest_per_key(redone, key=key, cursor=cursor)], how="vertical_relaxed"
    )
    return merged.sort(key, nulls_last=True, maintain_order=True)


def apply_lookup(
    df: pl.DataFrame,
    related: pl.DataFrame,
    *,
    on: Mapping[str, str],
    columns: Mapping[str, str],
    related_cursor: str,
) -> tuple[pl.DataFrame, int]:
    """Left-join `related[c]` into `df` as `columns[c]`, matching `df[l] == related[r]`.

    Args:
        df: view rows; their count and order are kept.
        related: rows of the related table (may hold several versions per key).
        on: view column -> related column, all must match.
        columns: related column -> output column name (must be new in `df`).
        related_cursor: version column of `related`; the latest version per key is used.

    Returns:
        (df with the output columns added, orphans: rows whose join key is fully non-null
        but found no related row). Integer keys of different width or signedness are
        compared by value: the related key is cast to the view key's dtype, and related
        keys that do not fit it (e.g. a UInt64 above 2**63 against Int64) cannot match.
    """
    if not on:
        raise ValueError("lookup: `on` must name at least one column pair")
    check_columns(df, list(on), "lookup join (view side)")
    check_columns(related, [*on.values(), *columns, related_cursor], "lookup (related side)")
    clashes = [out for out in columns.values() if out in df.columns]
    if clashes or len(set(columns.values())) < len(columns):
        raise ValueError(f"lookup: output column(s) {clashes} clash with view columns")

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
    return joined.drop(matched, *(c for c in join_keys.values() if c in joined.columns)), orphans


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
