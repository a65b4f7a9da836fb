"""The shard's rows per UTC day of an extract's window, and a key checksum: one bound query.

Each read day is one branch of a `UNION ALL`, built by `build_window_query` over that day's own
`cursor_bounds` (and `fallback_bounds`): the same bounds, time-zone conversion and NULL-cursor
rule as the extract's read of the window (a NULL cursor is in no day unless the fallback places
it). The branches' bounds abut, so together they are the extract's window.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pymysql

from etl_platform.extract.connection import is_connect_error, shard_unavailable
from etl_platform.extract.extractor import ExtractRequest
from etl_platform.extract.introspect import TablePlan, plan_table
from etl_platform.extract.null_cursor import fallback_bounds
from etl_platform.extract.query import UTC_SESSION, build_window_query, cursor_bounds
from etl_platform.identifiers import quote_mysql
from etl_platform.transform.landed_counts import DayCount


@dataclasses.dataclass(frozen=True)
class WindowCounts:
    days: dict[dt.date, DayCount]
    #: The key checksum the server computed, or None (then `no_checksum` says why).
    checksum: str | None
    no_checksum: str | None
    sql: str


@dataclasses.dataclass(frozen=True)
class _Selected:
    """A select-list entry for `build_window_query`, which reads only `select_expr`."""

    select_expr: str


def key_checksum_expr(plan: TablePlan) -> tuple[str | None, str | None]:
    """`BIT_XOR(CRC32(key text))` when the key is one integer, string or binary column
    (`transform.landed_counts.key_text` is the lake's side of it); else None and the reason."""
    if len(plan.primary_key) != 1:
        return None, f"the primary key has {len(plan.primary_key)} columns, not one"
    (name,) = plan.primary_key
    column = next((p for p in plan.plans if p.column.name == name), None)
    if column is None:
        return None, f"the key column `{name}` is not read"
    quoted = quote_mysql(name)
    if column.kind in ("int", "binary"):
        return f"BIT_XOR(CRC32({quoted}))", None
    if column.kind == "string":
        return f"BIT_XOR(CRC32(CONVERT({quoted} USING utf8mb4)))", None
    return None, f"the key column `{name}` is {column.column.data_type}: no shared text form"


def build_counts_query(
    req: ExtractRequest, plan: TablePlan, checksum: str | None
) -> tuple[str, tuple[str, ...]]:
    """One branch per read day: `SELECT day, COUNT(*), checksum ... WHERE <the day's window>`."""
    if not req.read_days:
        raise ValueError(f"table `{req.table}`: no day of the window is read, nothing to count")
    select = [_Selected("%s"), _Selected("COUNT(*)"), _Selected(checksum or "NULL")]
    branches: list[str] = []
    params: list[str] = []
    for day in req.read_days:
        start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        end = start + dt.timedelta(days=1)
        query = build_window_query(
            req.table,
            select,  # type: ignore[arg-type]
            req.cursor,
            cursor_bounds(start, end, cursor_kind=plan.cursor_plan.kind, timezone=req.timezone),
            fallback=req.fallback,
            fallback_bounds=fallback_bounds(plan, req.fallback, start, end, timezone=req.timezone),
        )
        branches.append(f"({query.sql})")
        params += [day.isoformat(), *query.params]
    return " UNION ALL ".join(branches), tuple(params)


def count_window(req: ExtractRequest) -> WindowCounts:
    """Count the request's read days on its shard, in UTC session time (TIMESTAMP bounds are
    UTC, as in the reader's session). A lost connection names the shard."""
    try:
        conn = req.endpoint.connect(
            connect_timeout=req.connect_timeout, read_timeout=req.read_timeout
        )
        try:
            plan = plan_table(
                conn,
                req.table,
                cursor=req.cursor,
                primary_key=req.primary_key,
                exclude=req.exclude_columns,
                shard=req.shard,
            )
            checksum, no_checksum = key_checksum_expr(plan)
            sql, params = build_counts_query(req, plan, checksum)
            with conn.cursor() as cur:
                cur.execute(UTC_SESSION)
                cur.execute(sql, params)
                rows = cur.fetchall()
        finally:
            conn.close()
    except pymysql.err.OperationalError as e:
        if not is_connect_error(e):
            raise
        raise shard_unavailable(req.shard, req.endpoint, req.table, e) from None
    days = {
        dt.date.fromisoformat(str(day)): DayCount(
            int(n), None if checksum is None or crc is None else int(crc)
        )
        for day, n, crc in rows
    }
    return WindowCounts(days=days, checksum=checksum, no_checksum=no_checksum, sql=sql)
