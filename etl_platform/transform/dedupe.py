"""Keep the latest version of each row, the same way whatever order the rows arrive in.

A day's partition can hold several versions of a row (a row updated twice, a delta file
overlapping the full extract, a late lookback). The greatest cursor wins; exact ties are
broken by the rows' other values, column by column in the frame's order (greatest first,
null last; a view puts its declared columns first), so re-running on shuffled input gives the
identical frame. Values rather than a hash decide ties because polars' hash may change between
versions, and a re-run after an upgrade must not pick another row.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from etl_platform.transform._rejects import check_columns


def latest_rows(df: pl.DataFrame, group: Sequence[str], cursor: str) -> pl.DataFrame:
    """One row per `group` value: greatest `cursor`, ties by the other values; sorted by group.

    A null cursor loses to any non-null one. Null group values form their own group.
    """
    group = list(group)
    if not df.select(group).is_duplicated().any():
        # The usual case (a day's rows, compacted lookup state): one hash pass instead of the
        # two windows and filters below, which give the same frame when every group is one row.
        return df.sort(group, nulls_last=True, maintain_order=True)
    cursor_max = pl.col(cursor).max().over(group)
    top = df.filter((pl.col(cursor) == cursor_max).fill_null(cursor_max.is_null()))
    tied = pl.len().over(group) > 1
    single, ties = top.filter(~tied), top.filter(tied)
    if ties.height:
        others = [c for c in df.columns if c not in group and df.schema[c] != pl.Object]
        ties = ties.sort(others, descending=True, nulls_last=True, maintain_order=True)
        ties = ties.unique(subset=group, keep="first", maintain_order=True)
    return pl.concat([single, ties]).sort(group, nulls_last=True, maintain_order=True)


def dedupe_latest(
    df: pl.DataFrame, *, key: Sequence[str], cursor: str, partition: str = "_shard"
) -> tuple[pl.DataFrame, dict[str | None, int]]:
    """One row per (partition, *key): the latest by `cursor`; count what was removed.

    Args:
        df: rows of one or more partitions (shards): keys are only unique within one.
        key: the view's unique key columns.
        cursor: version column, greatest wins (e.g. the source row's `updated_at`).
        partition: column whose values scope the key, `_shard` by default.

    Returns:
        (deduplicated rows sorted by partition and key, removed rows per partition value;
        every partition present in `df` is listed, 0 when nothing was removed; a null
        partition is listed under None). Rows with a null in `key` are kept as they are,
        after the others and sorted by all their values: they cannot be matched to a
        version, and the caller's key check reports them.
    """
    check_columns(df, [*key, cursor, partition], "dedupe")
    if not key:
        raise ValueError("dedupe: key must name at least one column")
    has_null_key = pl.any_horizontal(pl.col(k).is_null() for k in key)
    keyed, unkeyed = df.filter(~has_null_key), df.filter(has_null_key)
    latest = latest_rows(keyed, [partition, *key], cursor)
    if unkeyed.height:
        sortable = [c for c in df.columns if df.schema[c] != pl.Object]
        unkeyed = unkeyed.sort(sortable, nulls_last=True, maintain_order=True)
    before = keyed.group_by(partition).len("before")
    after = latest.group_by(partition).len("after")
    removed = before.join(after, on=partition, how="left", nulls_equal=True).select(
        pl.col(partition).cast(pl.String), pl.col("before") - pl.col("after").fill_null(0)
    )
    return pl.concat([latest, unkeyed]), dict(removed.iter_rows())
