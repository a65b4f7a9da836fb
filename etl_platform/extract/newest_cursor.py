"""The newest cursor value of each batch table on one shard: `MAX(cursor)`, read through the
cursor's index, to tell cheaply whether a table changed since the last look.

One connection per shard and three kinds of statement: the cursor columns' types and indexes
(one `information_schema` query each for all the tables), then per table `MAX(cursor)`, or
`MIN(cursor), MAX(cursor) ... WHERE cursor > last` once a newest value is known. With an index
that starts with the cursor, the server answers each from the index's ends ("Select tables
optimized away"); a table without one is not polled, as a MAX would scan it. Values come back
as the server's text and are converted to UTC as the extractor converts them
(`types.convert_column`): a DATETIME is a wall clock in the shard's time zone, a TIMESTAMP is
read in a UTC session, a DATE is its own day.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping

import pymysql

from etl_platform.extract.connection import MySqlEndpoint, is_connect_error, shard_unavailable
from etl_platform.extract.query import UTC_SESSION, cursor_bounds
from etl_platform.extract.types import ColumnInfo, ColumnPlan, ConversionStats, convert_column
from etl_platform.extract.types import plan_column as plan_type
from etl_platform.identifiers import quote_mysql
from etl_platform.specs.sources import SourcesSpec

#: A cursor value as the extractor types it: a UTC datetime, or a day for a DATE cursor.
CursorValue = dt.datetime | dt.date

_CURSOR_KINDS = ("datetime", "timestamp", "date")


@dataclasses.dataclass(frozen=True)
class NewestCursor:
    """What one poll of a table saw beyond the last newest value (all of it on a first poll).

    `newest` is `MAX(cursor)` over those rows, `oldest` their `MIN(cursor)`: the rows that
    moved the newest value lie on the days from `oldest`'s to `newest`'s. Both None: no row
    beyond it (or, on a first poll, no row with a cursor at all)."""

    table: str
    newest: CursorValue | None
    oldest: CursorValue | None = None


@dataclasses.dataclass(frozen=True)
class ShardPoll:
    """One shard's poll: the tables read, and why each other table was not."""

    tables: dict[str, NewestCursor]
    problems: dict[str, str]


def polled_tables(sources: SourcesSpec, shard: str) -> dict[str, str]:
    """The tables of `shard` polled for new data, with their cursor column: the batch tables
    (`mode: incremental`). A CDC table has its capture; a snapshot table has no cursor."""
    return {
        table: sources.tables[table].cursor
        for table in sources.tables
        if shard in sources.shards_for(table) and sources.tables[table].mode == "incremental"
    }


def cursor_day(value: CursorValue) -> dt.date:
    """The UTC day (the raw partition) a cursor value falls on."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).date()
    return value


def parse_cursor_value(text: str) -> CursorValue:
    """A value written by `format_cursor_value`: a day, or an ISO datetime with its offset."""
    if len(text) == 10:
        return dt.date.fromisoformat(text)
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"cursor value {text!r} has no UTC offset")
    return value.astimezone(dt.UTC)


def format_cursor_value(value: CursorValue) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    return value.isoformat()


def poll_newest_cursors(
    endpoint: MySqlEndpoint,
    tables: Mapping[str, str],
    *,
    shard: str,
    timezone: str,
    after: Mapping[str, CursorValue | None],
    connect_timeout: float,
    read_timeout: float | None,
) -> ShardPoll:
    """`MAX(cursor)` of each of `tables` (table → cursor column) on one connection, and with
    `after[table]` (the newest value seen last) the MIN and MAX of the values beyond it.

    A table that is missing, has a cursor that is no date, or has no index starting with its
    cursor is left out with its reason; a shard that cannot be reached, or drops the
    connection, raises `ShardUnavailableError` naming the shard, never its password.
    """
    names = ", ".join(sorted(tables))
    try:
        conn = endpoint.connect(
            connect_timeout=connect_timeout, read_timeout=read_timeout, raw_text=True
        )
    except pymysql.err.Error as e:
        raise shard_unavailable(shard, endpoint, names, e) from None
    try:
        with conn.cursor() as cur:
            cur.execute(UTC_SESSION)
        plans, problems = _cursor_plans(conn, tables)
        seen: dict[str, NewestCursor] = {}
        for table, plan in plans.items():
            try:
                seen[table] = _newest(conn, table, plan, timezone, after.get(table))
            except pymysql.err.OperationalError as e:
                if is_connect_error(e):
                    raise
                problems[table] = f"`{table}`: {e}"
            except (pymysql.err.ProgrammingError, pymysql.err.InternalError) as e:
                problems[table] = f"`{table}`: {e}"
        return ShardPoll(seen, problems)
    except pymysql.err.OperationalError as e:
        if not is_connect_error(e):
            raise
        raise shard_unavailable(shard, endpoint, names, e) from None
    finally:
        conn.close()


def _in_list(values: list[str]) -> str:
    return ", ".join(["%s"] * len(values))


def _cursor_plans(
    conn: pymysql.connections.Connection, tables: Mapping[str, str]
) -> tuple[dict[str, ColumnPlan], dict[str, str]]:
    """Each table's cursor column typed as the extractor types it, if an index starts with
    it; otherwise the reason it is not polled."""
    names = sorted(tables)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, DATETIME_PRECISION "
            "FROM information_schema.COLUMNS "
            f"WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ({_in_list(names)})",
            names,
        )
        columns = {(str(r[0]), str(r[1])): r for r in cur.fetchall()}
        cur.execute(
            "SELECT DISTINCT TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
            f"WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ({_in_list(names)}) "
            "AND SEQ_IN_INDEX = 1",
            names,
        )
        indexed = {(str(r[0]), str(r[1])) for r in cur.fetchall()}
    plans: dict[str, ColumnPlan] = {}
    problems: dict[str, str] = {}
    present = {table for table, _ in columns}
    for table in names:
        cursor = tables[table]
        row = columns.get((table, cursor))
        if table not in present:
            problems[table] = f"`{table}`: the table does not exist in `{conn.db!s}`"
        elif row is None:
            problems[table] = f"`{table}`: cursor column `{cursor}` does not exist"
        elif (table, cursor) not in indexed:
            problems[table] = (
                f"`{table}`: no index starts with cursor column `{cursor}`, so MAX would scan "
                "the table; not polled"
            )
        else:
            info = ColumnInfo(
                name=cursor,
                data_type=str(row[2]),
                column_type=str(row[3]),
                datetime_precision=None if row[4] is None else int(str(row[4])),
            )
            plan = plan_type(info, table=table)
            if plan.kind in _CURSOR_KINDS:
                plans[table] = plan
            else:
                problems[table] = (
                    f"`{table}`: cursor column `{cursor}` is {info.column_type}, not "
                    "DATETIME, TIMESTAMP or DATE"
                )
    return plans, problems


def _newest(
    conn: pymysql.connections.Connection,
    table: str,
    plan: ColumnPlan,
    timezone: str,
    after: CursorValue | None,
) -> NewestCursor:
    cursor = quote_mysql(plan.column.name)
    sql = f"SELECT MIN({cursor}), MAX({cursor}) FROM {quote_mysql(table)}"
    params: tuple[str, ...] = ()
    if after is not None:
        sql += f" WHERE {cursor} > %s"
        params = (column_literal(after, plan.kind, timezone),)
    with conn.cursor() as cur:
        cur.execute(sql, params or None)
        low, high = cur.fetchone() or (None, None)
    oldest, newest = convert_column(
        plan, [low, high], timezone=timezone, table=table, stats=ConversionStats()
    ).to_pylist()
    if newest is None:
        return NewestCursor(table, None)
    return NewestCursor(table, newest, oldest)


def column_literal(value: CursorValue, kind: str, timezone: str) -> str:
    """A UTC cursor value as the column compares it (`query.cursor_bounds`): a DATETIME's wall
    clock in the shard's zone, a TIMESTAMP's in UTC, a DATE's day."""
    if kind == "date" or not isinstance(value, dt.datetime):
        start = dt.datetime.combine(cursor_day(value), dt.time(), tzinfo=dt.UTC)
        end = start + dt.timedelta(days=1)
        if kind != "date":  # a day stored for a column that is a datetime now: its midnight
            end = start + dt.timedelta(microseconds=1)
        return cursor_bounds(start, end, cursor_kind=kind, timezone=timezone)[0]
    return cursor_bounds(
        value, value + dt.timedelta(microseconds=1), cursor_kind=kind, timezone=timezone
    )[0]
