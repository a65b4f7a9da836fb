"""A view's current rows: the latest version of each `_shard` + unique key over all its days.

A view day holds one row per key whose cursor fell on that day, so a key updated on several
days has a version in each. Its current row is the latest of them: the greatest `_updated_at`,
then the later view day (`_day`), then the rows' values (`dedupe.latest_rows`), so the answer
does not depend on the order days are read in.

The table is kept up to date by folding in only the days that changed. A key whose current row
came from a day that changed or went away, and to which no changed day now gives a version at
least as late, may have its latest version in a day that did not change, which the table does
not hold: such "vanished" keys are read again from the other days (`reread`), so the result is
always the latest per key over all days as they are now.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence

import polars as pl

from etl_platform.transform.dedupe import latest_rows

SHARD = "_shard"
CURSOR = "_updated_at"
#: The view day a current row came from.
DAY = "_day"
#: Changed days' rows held before they are folded in together: small days share one fold, a
#: day of this size or more is folded alone. Each fold copies the table, so a large table
#: waits for a batch of `1 / FOLD_SHARE` of its rows: a first build over years of days costs a
#: few copies of the table, not one per day, for a quarter of the table held on top of it.
FOLD_ROWS = 250_000
FOLD_SHARE = 4

#: Given the vanished keys (the group columns), their rows in the days that did not change,
#: each frame with `_day`.
Reread = Callable[[pl.DataFrame], Iterable[pl.DataFrame]]


def group_columns(key: Sequence[str]) -> list[str]:
    """What a current row is one per: the shard and the view's unique key."""
    return [SHARD, *key]


def with_day(rows: pl.DataFrame, day: dt.date) -> pl.DataFrame:
    return rows.with_columns(pl.lit(day, pl.Date).alias(DAY))


def latest_current(rows: pl.DataFrame, group: Sequence[str]) -> pl.DataFrame:
    """`latest_rows` with the later `_day` as the first tie-break, in `rows`' column order.

    A key with a null in it forms one group with the others of the same values (as
    `latest_rows` has it): the view's `unique_key_not_null` check already failed on them.
    """
    first = [*group, CURSOR, DAY]
    ranked = rows.select(*first, *(c for c in rows.columns if c not in first))
    return latest_rows(ranked, group, CURSOR).select(rows.columns)


def _concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Days written by other versions of a view differ in columns and types: their union."""
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")


def _aligned(
    a: pl.DataFrame, b: pl.DataFrame, columns: Sequence[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`a` and `b` with `columns` in their common type, so they can be joined on them."""
    if all(a.schema[c] == b.schema[c] for c in columns):
        return a, b
    common = pl.concat([a.select(columns).head(0), b.select(columns).head(0)], how="relaxed")
    return a.cast(dict(common.schema)), b.cast(dict(common.schema))


def _later_or_same(cursor: str, day: str, old_cursor: str, old_day: str) -> pl.Expr:
    """(cursor, day) >= (old cursor, old day), a null cursor before any other."""
    new, old = pl.col(cursor), pl.col(old_cursor)
    greater = pl.when(old.is_null()).then(new.is_not_null()).otherwise((new > old).fill_null(False))
    same = (new == old).fill_null(False) | (new.is_null() & old.is_null())
    return greater | (same & (pl.col(day) >= pl.col(old_day)))


class CurrentMerge:
    """The previous current rows with changed days folded in, one day (or a few small ones) at
    a time, so what is held is the table and about one day.

    Give every day gone or changed when it starts (`replaced`), then `add_day` for each day
    changed, then `vanished()`, then `add_found` with those keys' rows from the other days,
    then `result()`.
    """

    def __init__(
        self,
        previous: pl.DataFrame | None,
        replaced: Iterable[dt.date],
        *,
        key: Sequence[str],
        fold_rows: int = FOLD_ROWS,
    ) -> None:
        self.group = group_columns(key)
        self._rows = previous
        self._replaced = set(replaced)
        self._added: set[dt.date] = set()
        self._displaced: pl.DataFrame | None = None
        self._pending: list[pl.DataFrame] = []
        self._pending_rows = 0
        self._fold_rows = fold_rows
        if self._rows is not None and self._rows.height and self._replaced:
            # Every replaced day's rows leave before any day is folded in: a changed day's
            # version that lost to a row about to leave would be lost with it. Those keys' old
            # versions are kept aside to tell whether a changed day gives them one at least as
            # late (`vanished`).
            leaving = pl.col(DAY).is_in(sorted(self._replaced))
            self._displaced = self._rows.filter(leaving).select(*self.group, CURSOR, DAY)
            self._rows = self._rows.filter(~leaving)

    def add_day(self, day: dt.date, rows: pl.DataFrame) -> None:
        """The day as it is now, in place of the day as the table had it."""
        if day not in self._replaced or day in self._added:
            raise ValueError(f"current rows: day {day} is not a replaced day, or given twice")
        self._added.add(day)
        self._hold(with_day(rows, day))

    def add_found(self, rows: pl.DataFrame) -> None:
        """Rows (with `_day`) of days that did not change, read for the vanished keys."""
        self._hold(rows)

    def _hold(self, rows: pl.DataFrame) -> None:
        self._pending.append(rows)
        self._pending_rows += rows.height
        held = 0 if self._rows is None else self._rows.height
        if self._pending_rows >= max(self._fold_rows, held // FOLD_SHARE):
            self._fold()

    def _fold(self) -> None:
        if not self._pending:
            return
        batch = _concat(self._pending)
        self._pending, self._pending_rows = [], 0
        if self._rows is None:
            self._rows = latest_current(batch, self.group)
            return
        # Only the keys the batch touches are ranked; the others are carried over as they are.
        self._rows, batch = _aligned(self._rows, batch, self.group)
        keys = batch.select(self.group).unique()
        touched = self._rows.join(keys, on=self.group, how="semi", nulls_equal=True)
        rest = self._rows.join(keys, on=self.group, how="anti", nulls_equal=True)
        merged = latest_current(_concat([touched, batch]), self.group)
        self._rows = _concat([rest, merged])

    def vanished(self) -> pl.DataFrame:
        """The keys (group columns) whose current row came from a replaced day and whose
        version in the changed days, if any, is earlier than it: their latest version may be
        in a day that did not change."""
        self._fold()
        if self._displaced is None or not self._displaced.height:
            return pl.DataFrame(schema={c: pl.Null for c in self.group})
        old = self._displaced.rename({CURSOR: "_old_cursor", DAY: "_old_day"})
        if self._rows is None:
            return old.select(self.group)
        old, now = _aligned(old, self._rows.select(*self.group, CURSOR, DAY), self.group)
        joined = old.join(now, on=self.group, how="left", nulls_equal=True)
        dtype = joined.schema[CURSOR]
        joined = joined.with_columns(pl.col("_old_cursor").cast(dtype, strict=False))
        later = _later_or_same(CURSOR, DAY, "_old_cursor", "_old_day")
        return joined.filter(pl.col(DAY).is_null() | ~later).select(self.group)

    def result(self) -> pl.DataFrame | None:
        """The current rows, one per group, sorted by it, `_day` last; None when there never
        were any (no previous table and no changed day)."""
        self._fold()
        if self._rows is None:
            return None
        columns = [c for c in self._rows.columns if c != DAY]
        return self._rows.select(*columns, DAY).sort(self.group, nulls_last=True)


@dataclasses.dataclass(frozen=True)
class Merged:
    #: The new current rows; None when there never were any.
    rows: pl.DataFrame | None
    #: Keys whose latest version was looked for again in the days that did not change.
    vanished: int


def merge_current(
    previous: pl.DataFrame | None,
    changed: Mapping[dt.date, pl.DataFrame],
    gone: Iterable[dt.date],
    *,
    key: Sequence[str],
    reread: Reread | None = None,
    fold_rows: int = FOLD_ROWS,
) -> Merged:
    """The current rows after the `changed` days (day -> its rows now, the view's columns; a
    mapping that reads a day when asked is folded a day at a time) replaced theirs and the
    `gone` days (no files now, or written with no rows) took theirs away. `reread` finds the
    vanished keys' rows in the days that did not change; without it, vanished keys are an
    error."""
    merge = CurrentMerge(previous, {*changed, *gone}, key=key, fold_rows=fold_rows)
    for day, rows in changed.items():
        merge.add_day(day, rows)
    vanished = merge.vanished()
    if vanished.height:
        if reread is None:
            raise ValueError(f"current rows: {vanished.height} vanished key(s) and no reread")
        for rows in reread(vanished):
            merge.add_found(rows)
    return Merged(merge.result(), vanished.height)
