"""Rows whose cursor is NULL, which no cursor window selects: the table's rule for them.

Pure: the rule, the fallback's window, the cursor filled from the fallback, and the reject
records. `null_cursor_rows.survey_null_cursor` counts and keeps them on the shard.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

from etl_platform.extract.introspect import TablePlan
from etl_platform.extract.query import cursor_bounds

#: The reject records' own columns, around the table's key columns (underscored: a key column
#: keeps its name without clashing).
SHARD_COLUMN, TABLE_COLUMN, REASON_COLUMN = "_shard", "_table", "_reason"


@dataclasses.dataclass(frozen=True)
class NullCursorRule:
    """`null_cursor` of a table: `reject` (keep the keys aside), `ignore` (count only) or
    `fallback` (place the row by another date column; reject it when that is NULL too)."""

    action: Literal["reject", "ignore", "fallback"] = "reject"
    fallback: str | None = None

    def __post_init__(self) -> None:
        if (self.action == "fallback") != (self.fallback is not None):
            raise ValueError("a fallback rule, and only it, names a fallback column")

    @property
    def keeps_rejects(self) -> bool:
        return self.action != "ignore"

    def describe(self) -> str:
        return f"fallback:{self.fallback}" if self.fallback else self.action


def reject_reason(cursor: str, fallback: str | None = None) -> str:
    if fallback is None:
        return f"cursor {cursor} is NULL"
    return f"cursor {cursor} and fallback {fallback} are NULL"


def fallback_bounds(
    plan: TablePlan,
    fallback: str | None,
    start: dt.datetime,
    end: dt.datetime,
    *,
    timezone: str,
) -> tuple[str, str] | None:
    """The window's bounds for the fallback column, by its own type (as for the cursor)."""
    if fallback is None:
        return None
    column = next((p for p in plan.plans if p.column.name == fallback), None)
    if column is None:
        raise LookupError(
            f"table `{plan.table}`: null_cursor fallback column `{fallback}` does not exist"
        )
    if column.kind not in ("date", "datetime", "timestamp"):
        raise TypeError(
            f"table `{plan.table}`: null_cursor fallback column `{fallback}` must be DATETIME, "
            f"TIMESTAMP or DATE, not {column.column.column_type}"
        )
    return cursor_bounds(start, end, cursor_kind=column.kind, timezone=timezone)


def fill_cursor(batch: pa.RecordBatch, cursor: str, fallback: str) -> pa.RecordBatch:
    """The batch with each NULL cursor replaced by the row's fallback value (in the cursor's
    type), so the row lands on the fallback's day and its raw cursor says why."""
    index = batch.schema.get_field_index(cursor)
    values = batch.column(index)
    if not values.null_count:
        return batch
    substitute = batch.column(fallback).cast(values.type)
    return batch.set_column(index, batch.schema.field(index), pc.coalesce(values, substitute))


def reject_schema(keys: pa.Schema) -> pa.Schema:
    return pa.schema(
        [
            pa.field(SHARD_COLUMN, pa.string()),
            pa.field(TABLE_COLUMN, pa.string()),
            *keys,
            pa.field(REASON_COLUMN, pa.string()),
        ]
    )


def reject_batch(keys: pa.RecordBatch, *, shard: str, table: str, reason: str) -> pa.RecordBatch:
    """Reject records for a batch of key columns: shard, table, the keys, the reason."""
    n = keys.num_rows
    return pa.RecordBatch.from_arrays(
        [
            pa.repeat(pa.scalar(shard, pa.string()), n),
            pa.repeat(pa.scalar(table, pa.string()), n),
            *keys.columns,
            pa.repeat(pa.scalar(reason, pa.string()), n),
        ],
        schema=reject_schema(keys.schema),
    )
