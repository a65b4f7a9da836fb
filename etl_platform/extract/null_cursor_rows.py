"""Count a table's NULL-cursor rows on a shard and keep the keys of those that land on no day.

Every extract run asks, whatever its window: such rows belong to no window, so a window's read
never sees them. One bound-free `COUNT(*) ... IS NULL` (cheap with an index on the cursor); the
keys are read only when some row needs rejecting, or to empty a rejects file that has rows.
"""

from __future__ import annotations

import dataclasses

import pymysql

from etl_platform.extract.connection import MySqlEndpoint, is_connect_error, shard_unavailable
from etl_platform.extract.introspect import TablePlan
from etl_platform.extract.key_reader import key_exprs, key_plan, read_keys
from etl_platform.extract.null_cursor import (
    NullCursorRule,
    reject_batch,
    reject_reason,
    reject_schema,
)
from etl_platform.extract.query import null_cursor_count_sql, null_cursor_keys_sql
from etl_platform.extract.types import arrow_schema
from etl_platform.load.lake import Dataset, Lake
from etl_platform.load.replaced_file import ReplacedFileWriter, dataset_file


def null_cursor_rejects(lake: Lake, shard: str, table: str) -> Dataset:
    """`raw/<shard>/<table>__null_cursor/`: one file, the rows no raw day holds, by key."""
    return Dataset(lake.root, ("raw", shard, f"{table}__null_cursor"))


@dataclasses.dataclass(frozen=True)
class NullCursorReport:
    rule: NullCursorRule
    #: Rows whose cursor is NULL on the shard when asked.
    rows: int
    #: Of those, rows the fallback column placed on a day.
    placed: int
    #: Rows in the rejects file written by this run; None when no file was written.
    rejected: int | None
    query: str

    @property
    def unplaced(self) -> int:
        return self.rows - self.placed


def survey_null_cursor(
    endpoint: MySqlEndpoint,
    plan: TablePlan,
    rule: NullCursorRule,
    rejects: Dataset,
    *,
    shard: str,
    timezone: str,
    batch_rows: int,
    connect_timeout: float,
    read_timeout: float | None,
) -> NullCursorReport:
    """Count, then (unless the rule ignores them) replace the rejects file with the keys of
    the rows no day holds; an empty file replaces one that has rows."""
    count_sql = null_cursor_count_sql(plan.table, plan.cursor, rule.fallback)
    try:
        conn = endpoint.connect(connect_timeout=connect_timeout, read_timeout=read_timeout)
        try:
            with conn.cursor() as cur:
                cur.execute(count_sql)
                counts = cur.fetchone() or (0, 0)
        finally:
            conn.close()
    except pymysql.err.OperationalError as e:
        if not is_connect_error(e):
            raise
        raise shard_unavailable(shard, endpoint, plan.table, e) from None
    rows = int(counts[0])
    placed = int(counts[1]) if rule.fallback else 0
    report = NullCursorReport(rule=rule, rows=rows, placed=placed, rejected=None, query=count_sql)
    if not rule.keeps_rejects:
        return report
    if rows == placed and not dataset_file(rejects).exists():
        return report  # nothing to keep, nothing stale to empty
    writer = ReplacedFileWriter(rejects, reject_schema(arrow_schema(key_plan(plan).plans)))
    try:
        if rows > placed:
            reason = reject_reason(plan.cursor, rule.fallback)
            sql = null_cursor_keys_sql(plan.table, key_exprs(plan), plan.cursor, rule.fallback)
            for keys in read_keys(
                endpoint,
                plan,
                sql,
                shard=shard,
                timezone=timezone,
                batch_rows=batch_rows,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
            ):
                writer.write(reject_batch(keys, shard=shard, table=plan.table, reason=reason))
        rejected = writer.commit()
    except BaseException:
        writer.abort()
        raise
    return dataclasses.replace(report, rejected=rejected)
