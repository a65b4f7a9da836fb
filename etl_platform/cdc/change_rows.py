"""A batch of committed transactions as change rows: typed like the batch extract, placed on
their cursor's day, with `_op`, `_log_pos` and `_commit_ts` (docs/cdc.md)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from etl_platform.extract.binlog_stream import Transaction
from etl_platform.extract.binlog_values import binlog_table
from etl_platform.extract.extractor import cursor_day
from etl_platform.extract.introspect import TablePlan
from etl_platform.extract.null_cursor import fill_cursor
from etl_platform.extract.types import ConversionStats, ValueConversionError
from etl_platform.transform.changes import COMMIT_TS, DELETE, INSERT, MOVE, OP, POS, UPDATE

_TS = pa.timestamp("us", tz="UTC")


@dataclasses.dataclass(frozen=True)
class TableRules:
    """What placing a table's changes needs from its spec."""

    cursor: str
    primary_key: tuple[str, ...]
    fallback: str | None = None


@dataclasses.dataclass(frozen=True)
class Quarantined:
    """A change that could not be landed, kept with where it was and why."""

    table: str
    position: str
    reason: str
    row: str  # the row's values as JSON text (str() for what JSON cannot hold)


@dataclasses.dataclass
class ChangeBatch:
    """Per table and day, the change rows to write; and what was set aside."""

    days: dict[tuple[str, dt.date], pa.Table] = dataclasses.field(default_factory=dict)
    quarantined: list[Quarantined] = dataclasses.field(default_factory=list)
    rows: int = 0


@dataclasses.dataclass
class _Images:
    rows: list[Mapping[str, object]] = dataclasses.field(default_factory=list)
    ops: list[str] = dataclasses.field(default_factory=list)
    positions: list[str] = dataclasses.field(default_factory=list)
    commits: list[dt.datetime] = dataclasses.field(default_factory=list)
    #: For a before-image: the row index of its update's after-image in the same batch.
    pair: list[int] = dataclasses.field(default_factory=list)

    def add(self, row: Mapping[str, object], op: str, pos: str, ts: dt.datetime) -> int:
        self.rows.append(row)
        self.ops.append(op)
        self.positions.append(pos)
        self.commits.append(ts)
        return len(self.rows) - 1


def change_batch(
    transactions: Sequence[Transaction],
    plans: Mapping[str, TablePlan],
    rules: Mapping[str, TableRules],
    *,
    timezone: str,
) -> ChangeBatch:
    """Every change of `transactions` to the tables in `plans`, as rows of their days."""
    afters: dict[str, _Images] = {t: _Images() for t in plans}
    befores: dict[str, _Images] = {t: _Images() for t in plans}
    for txn in transactions:
        for index, change in enumerate(txn.changes):
            if change.table not in plans:
                continue
            pos = txn.end.order_key(index)
            if change.op == "insert":
                afters[change.table].add(change.after or {}, INSERT, pos, txn.commit_ts)
            elif change.op == "delete":
                afters[change.table].add(change.before or {}, DELETE, pos, txn.commit_ts)
            else:
                before, after = change.before or {}, change.after or {}
                i = afters[change.table].add(after, UPDATE, pos, txn.commit_ts)
                key = rules[change.table].primary_key
                # A new key is a new row: the old key's row is deleted, not moved.
                rekeyed = any(before.get(k) != after.get(k) for k in key)
                befores[change.table].add(before, DELETE if rekeyed else MOVE, pos, txn.commit_ts)
                befores[change.table].pair.append(i)
    batch = ChangeBatch()
    for table, plan in plans.items():
        if not afters[table].rows:
            continue
        rule = rules[table]
        main, main_days = _typed(afters[table], plan, rule, timezone, batch)
        before, before_days = _typed(befores[table], plan, rule, timezone, batch)
        parts, day_parts = [main], [main_days]
        if before.num_rows:
            # Only an update that changed the row's day leaves the old day a `move` row; an
            # update whose after-image was set aside is set aside whole.
            at = {j: i for i, j in enumerate(_kept(main))}
            pairs = [at.get(befores[table].pair[j]) for j in _kept(before)]
            paired = pa.array([p is not None for p in pairs])
            pair_days = main_days.take(pa.array(pairs, pa.int64()))
            moved = pc.and_(paired, pc.fill_null(pc.not_equal(before_days, pair_days), True))
            moved = pc.or_(moved, pc.and_(paired, pc.equal(before.column(OP), DELETE)))
            parts.append(before.filter(moved))
            day_parts.append(before_days.filter(moved))
        rows = without_row_index(pa.concat_tables(parts))
        days = pa.chunked_array(day_parts).combine_chunks()
        for day in pc.unique(days).to_pylist():
            if day is None:
                continue
            batch.days[(table, day)] = rows.filter(pc.equal(days, pa.scalar(day, pa.date32())))
        batch.rows += rows.num_rows
    return batch


_ROW_INDEX = "__row"


def _kept(table: pa.Table) -> list[int]:
    return table.column(_ROW_INDEX).to_pylist()


def _typed(
    images: _Images, plan: TablePlan, rule: TableRules, timezone: str, batch: ChangeBatch
) -> tuple[pa.Table, pa.Array]:
    """The images typed as the batch extract types them, with their days; rows that cannot
    be typed or placed go to `batch.quarantined` and are left out."""
    stats = ConversionStats()
    n = len(images.rows)
    keep = list(range(n))
    try:
        typed = binlog_table(
            plan.plans, images.rows, timezone=timezone, table=plan.table, stats=stats
        )
    except ValueConversionError:
        typed, keep = _typed_row_by_row(images, plan, timezone, batch)
    typed = typed.append_column(OP, pa.array([images.ops[i] for i in keep], pa.large_string()))
    typed = typed.append_column(
        POS, pa.array([images.positions[i] for i in keep], pa.large_string())
    )
    typed = typed.append_column(COMMIT_TS, pa.array([images.commits[i] for i in keep], _TS))
    if rule.fallback is not None:
        typed = pa.Table.from_batches(
            [fill_cursor(b, rule.cursor, rule.fallback) for b in typed.to_batches()], typed.schema
        )
    days = cursor_day(typed.column(rule.cursor).combine_chunks())
    placed = pc.is_valid(days)
    if not pc.all(placed).as_py():
        what = f"cursor {rule.cursor}" + (f" and fallback {rule.fallback}" if rule.fallback else "")
        for i in pc.indices_nonzero(pc.invert(placed)).to_pylist():
            j = keep[i]
            batch.quarantined.append(
                Quarantined(
                    plan.table, images.positions[j], f"{what} is NULL", _json(images.rows[j], plan)
                )
            )
        typed, days = typed.filter(placed), days.filter(placed)
        keep = [k for k, ok in zip(keep, placed.to_pylist(), strict=True) if ok]
    typed = typed.append_column(_ROW_INDEX, pa.array(keep, pa.int64()))
    return typed, days


def _typed_row_by_row(
    images: _Images, plan: TablePlan, timezone: str, batch: ChangeBatch
) -> tuple[pa.Table, list[int]]:
    """A batch with a value that does not convert: each row on its own, the bad ones set
    aside with the conversion's message."""
    good, keep = [], []
    for i, row in enumerate(images.rows):
        try:
            good.append(
                binlog_table(
                    plan.plans, [row], timezone=timezone, table=plan.table, stats=ConversionStats()
                )
            )
            keep.append(i)
        except ValueConversionError as e:
            batch.quarantined.append(
                Quarantined(plan.table, images.positions[i], str(e), _json(row, plan))
            )
    if not good:
        return binlog_table(
            plan.plans, [], timezone=timezone, table=plan.table, stats=ConversionStats()
        ), []
    return pa.concat_tables(good), keep


def without_row_index(table: pa.Table) -> pa.Table:
    return table.drop_columns([_ROW_INDEX]) if _ROW_INDEX in table.column_names else table


def _json(row: Mapping[str, object], plan: TablePlan | None = None) -> str:
    """The row as JSON, only the columns the table's plan reads (never an excluded one)."""
    kept = (
        dict(row) if plan is None else {p.column.name: row.get(p.column.name) for p in plan.plans}
    )
    return json.dumps(kept, default=str, sort_keys=True)
