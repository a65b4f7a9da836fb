"""Cursor-window queries, built as text plus bound parameters; pure, testable without a server.

A window is half-open, [start, end) in UTC. The bounds are converted to what the cursor column
stores: DATETIME is a naive wall clock in the shard's time zone, TIMESTAMP is compared in the
session time zone (always set to UTC by the reader), DATE is a calendar day.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import zoneinfo
from collections.abc import Sequence

from pymysql.converters import escape_string

from etl_platform.extract.types import ColumnPlan
from etl_platform.identifiers import quote_mysql

#: The session every reader opens before the window query: TIMESTAMP values in UTC, and one
#: read-only consistent snapshot for the whole window.
UTC_SESSION = "SET SESSION time_zone = '+00:00'"
READ_SESSION = (
    UTC_SESSION,
    "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
    "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
)


@dataclasses.dataclass(frozen=True)
class WindowQuery:
    sql: str
    #: The cursor's two bounds, then the fallback column's two when the query has one.
    params: tuple[str, ...]
    #: EXPLAIN's access type for the statement (`ALL`: a table scan), once the extractor asked.
    access: str | None = None
    #: The column that places rows whose cursor is NULL (`null_cursor: {fallback: ...}`).
    fallback: str | None = None

    def describe(self) -> str:
        """The statement with its bound values shown beside it (the values are dates only)."""
        return f"{self.sql}  -- params: {list(self.params)}"


def cursor_bounds(
    start: dt.datetime, end: dt.datetime, *, cursor_kind: str, timezone: str
) -> tuple[str, str]:
    """Turn a UTC window into the literal bounds the cursor column compares against."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("window bounds must be timezone-aware (UTC)")
    if end <= start:
        raise ValueError(f"empty window: {start.isoformat()} .. {end.isoformat()}")
    if cursor_kind == "date":
        return _as_date(start), _as_date(end)
    if cursor_kind == "datetime":
        zone = zoneinfo.ZoneInfo(timezone)
        return _as_naive(start.astimezone(zone)), _as_naive(end.astimezone(zone))
    if cursor_kind == "timestamp":
        utc = dt.UTC
        return _as_naive(start.astimezone(utc)), _as_naive(end.astimezone(utc))
    raise ValueError(f"a cursor column must be DATETIME, TIMESTAMP or DATE (got {cursor_kind})")


def _as_naive(value: dt.datetime) -> str:
    return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _as_date(value: dt.datetime) -> str:
    """A DATE cursor's day: a window starting at midnight UTC covers that calendar day."""
    day = value.astimezone(dt.UTC)
    if (day.hour, day.minute, day.second, day.microsecond) != (0, 0, 0, 0):
        raise ValueError("a DATE cursor needs a window that starts and ends at midnight")
    return day.date().isoformat()


def build_window_query(
    table: str,
    plans: Sequence[ColumnPlan],
    cursor: str,
    bounds: tuple[str, str],
    *,
    fallback: str | None = None,
    fallback_bounds: tuple[str, str] | None = None,
) -> WindowQuery:
    """SELECT the planned columns of rows with `lower <= cursor < upper`, values bound.

    With a `fallback`, rows whose cursor is NULL and whose fallback is in the window (its own
    bounds: its type may differ from the cursor's) come too. The cursor's range stays a plain
    range beside `cursor IS NULL`, so the cursor's index serves both parts.
    """
    columns = ", ".join(p.select_expr for p in plans)
    quoted_cursor = quote_mysql(cursor)
    where = f"{quoted_cursor} >= %s AND {quoted_cursor} < %s"
    if fallback is None:
        sql = f"SELECT {columns} FROM {quote_mysql(table)} WHERE {where}"
        return WindowQuery(sql=sql, params=bounds)
    if fallback_bounds is None:
        raise ValueError("a fallback column needs its own window bounds")
    quoted_fallback = quote_mysql(fallback)
    where = (
        f"({where}) OR ({quoted_cursor} IS NULL "
        f"AND {quoted_fallback} >= %s AND {quoted_fallback} < %s)"
    )
    return WindowQuery(
        sql=f"SELECT {columns} FROM {quote_mysql(table)} WHERE {where}",
        params=(*bounds, *fallback_bounds),
        fallback=fallback,
    )


def null_cursor_count_sql(table: str, cursor: str, fallback: str | None = None) -> str:
    """Count the rows no window selects (cursor NULL); with a fallback, also those it places.

    Nothing is bound: the statement holds quoted identifiers only.
    """
    counted = "COUNT(*)" if fallback is None else f"COUNT(*), COUNT({quote_mysql(fallback)})"
    return f"SELECT {counted} FROM {quote_mysql(table)} WHERE {quote_mysql(cursor)} IS NULL"


def null_cursor_keys_sql(
    table: str, key_exprs: Sequence[str], cursor: str, fallback: str | None = None
) -> str:
    """SELECT the keys of rows that land on no day: cursor NULL (and fallback NULL, if any)."""
    where = f"{quote_mysql(cursor)} IS NULL"
    if fallback is not None:
        where += f" AND {quote_mysql(fallback)} IS NULL"
    return f"SELECT {', '.join(key_exprs)} FROM {quote_mysql(table)} WHERE {where}"


def whole_table_query(table: str, plans: Sequence[ColumnPlan]) -> WindowQuery:
    """SELECT the planned columns of every row (a snapshot table's read); nothing is bound."""
    columns = ", ".join(p.select_expr for p in plans)
    return WindowQuery(sql=f"SELECT {columns} FROM {quote_mysql(table)}", params=())


def key_set_sql(table: str, key_exprs: Sequence[str]) -> str:
    """SELECT every key of the table (key reconciliation), in no particular order."""
    return f"SELECT {', '.join(key_exprs)} FROM {quote_mysql(table)}"


#: The only shapes `cursor_bounds` produces: a day, or a wall-clock time to the microsecond.
_BOUND = re.compile(r"\d{4}-\d{2}-\d{2}(?: \d{2}:\d{2}:\d{2}\.\d{6})?")


def render_bound(value: object) -> str:
    """A window bound as a quoted SQL literal, for a driver that cannot bind parameters.

    Only the strings `cursor_bounds` renders from datetimes pass; anything else is refused.
    """
    refused = ValueError(f"refusing to render {value!r} into SQL: not a window bound")
    if not isinstance(value, str) or not _BOUND.fullmatch(value):
        raise refused
    try:
        dt.date.fromisoformat(value[:10])  # a real calendar day, too
    except ValueError:
        raise refused from None
    return "'" + escape_string(value) + "'"


def literal_window_sql(
    table: str,
    select_exprs: Sequence[str],
    cursor: str,
    bounds: Sequence[object],
    *,
    primary_order: bool = False,
) -> str:
    """The window query with its two bounds rendered as literals (see `render_bound`).

    `primary_order` forces the primary key's index (`literal_page_sql`).
    """
    if len(bounds) != 2:
        raise ValueError(f"a window has two bounds, not {len(bounds)}")
    lower, upper = (render_bound(b) for b in bounds)
    quoted_cursor = quote_mysql(cursor)
    hint = " FORCE INDEX (PRIMARY)" if primary_order else ""
    return (
        f"SELECT {', '.join(select_exprs)} FROM {quote_mysql(table)}{hint} "
        f"WHERE {quoted_cursor} >= {lower} AND {quoted_cursor} < {upper}"
    )


def literal_page_sql(
    table: str,
    select_exprs: Sequence[str],
    cursor: str,
    bounds: Sequence[object],
    *,
    key: str,
    after: int | None,
    limit: int,
) -> str:
    """One page of a window read in primary-key order: rows with `key > after`, `limit` of them.

    The primary key's order is forced: left to itself the optimiser may sort the window by key
    through the cursor index (a filesort of the whole window for every page). `after` and
    `limit` are rendered only if they are integers.
    """
    for name, value, optional in (("after", after, True), ("limit", limit, False)):
        if not (value is None and optional) and type(value) is not int:
            raise ValueError(f"refusing to render {name}={value!r} into SQL: not an integer")
    quoted_key = quote_mysql(key)
    sql = literal_window_sql(table, select_exprs, cursor, bounds, primary_order=True)
    if after is not None:
        sql += f" AND {quoted_key} > {after}"
    return sql + f" ORDER BY {quoted_key} LIMIT {limit}"
