"""The newest cursor value of each batch table on one shard: `MAX(cursor)`, read through the
cursor's index, to tell cheaply whether a table changed since the last look.

One connection per shard: the cursor columns' types and indexes (one `information_schema`
query each for all the tables), then per table `MIN(cursor), MAX(cursor) ... WHERE cursor <=
now [AND cursor > last]` and `MAX(cursor) ... WHERE cursor > now`. With an index that starts
with the cursor, the server answers each from the index's ends ("Select tables optimized
away"); a table without one is not polled, as a MAX would scan it. A DATE cursor has one value
per day, so `> last` would miss a day's later rows: its poll counts the rows of each day from
the last newest one to today (`GROUP BY cursor`, a range of the index) and a newest day whose
count changed has moved.

`now` is the poll's clock plus `NOW_SLACK`: a row dated later (bad data, a skewed clock) is
reported as `future` and never becomes the newest value, or every real row after it would go
unseen until its date. Values come back as the server's text and are converted to UTC as the
extractor converts them (`types.convert_column`): a DATETIME is a wall clock in the shard's
time zone, a TIMESTAMP is read in a UTC session, a DATE is its own day.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo
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
#: How far past the poll's clock a cursor value still counts (a shard's clock a little ahead).
NOW_SLACK = dt.timedelta(minutes=5)


@dataclasses.dataclass(frozen=True)
class Mark:
    """Where a table's poll stopped: its newest cursor value and, for a DATE cursor, the rows
    on that day when it was polled (None: not counted, as in a cursor written before)."""

    value: CursorValue
    rows: int | None = None


@dataclasses.dataclass(frozen=True)
class NewestCursor:
    """What one poll of a table saw beyond the last newest value (all of it on a first poll).

    `newest` is `MAX(cursor)` over those rows, `oldest` their `MIN(cursor)`: the rows that
    moved the newest value lie on the days from `oldest`'s to `newest`'s. Both None: no row
    beyond it (or, on a first poll, no row with a cursor at all). `rows`: for a DATE cursor,
    the rows on `newest`'s day. `future`: the latest value beyond the poll's `now`, if any row
    has one; such rows are never `newest`."""

    table: str
    newest: CursorValue | None
    oldest: CursorValue | None = None
    rows: int | None = None
    future: CursorValue | None = None

    @property
    def mark(self) -> Mark | None:
        return None if self.newest is None else Mark(self.newest, self.rows)


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
    after: Mapping[str, Mark | None],
    connect_timeout: float,
    read_timeout: float | None,
    now: dt.datetime | None = None,
) -> ShardPoll:
    """`MAX(cursor)` of each of `tables` (table → cursor column) on one connection, and with
    `after[table]` (where the last poll stopped) the MIN and MAX of the values beyond it.

    Args:
        after: Per table, the mark the last poll returned; a table missing or None is read
            whole (a first look).
        now: The poll's clock (default: the current time); values later than it plus
            `NOW_SLACK` are left out of `newest` and reported as `future`.

    A table that is missing, has a cursor that is no date, or has no index starting with its
    cursor is left out with its reason; a shard that cannot be reached, or drops the
    connection, raises `ShardUnavailableError` naming the shard, never its password.
    """
    names = ", ".join(sorted(tables))
    bound = (now or dt.datetime.now(dt.UTC)) + NOW_SLACK
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
                seen[table] = _newest(conn, table, plan, timezone, after.get(table), bound)
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
    after: Mark | None,
    now: dt.datetime,
) -> NewestCursor:
    cursor, name = quote_mysql(plan.column.name), quote_mysql(table)
    until = now_literal(now, plan.kind, timezone)
    with conn.cursor() as cur:
        cur.execute(f"SELECT MAX({cursor}) FROM {name} WHERE {cursor} > %s", (until,))
        (future,) = _converted(plan, [(cur.fetchone() or (None,))[0]], timezone, table)
        if plan.kind == "date":
            return _newest_day(cur, table, plan, timezone, after, until, future)
        sql = f"SELECT MIN({cursor}), MAX({cursor}) FROM {name} WHERE {cursor} <= %s"
        params = [until]
        if after is not None:
            sql += f" AND {cursor} > %s"
            params.append(column_literal(after.value, plan.kind, timezone))
        cur.execute(sql, params)
        low, high = cur.fetchone() or (None, None)
    oldest, newest = _converted(plan, [low, high], timezone, table)
    if newest is None:
        return NewestCursor(table, None, future=future)
    return NewestCursor(table, newest, oldest, future=future)


def _newest_day(
    cur: pymysql.cursors.Cursor,
    table: str,
    plan: ColumnPlan,
    timezone: str,
    after: Mark | None,
    until: str,
    future: CursorValue | None,
) -> NewestCursor:
    """A DATE cursor: the rows per day from the last newest day to today, so a row added to
    that day later is seen (its count moves). A first look counts the newest day only."""
    cursor, name = quote_mysql(plan.column.name), quote_mysql(table)
    if after is None:
        cur.execute(
            f"SELECT MIN({cursor}), MAX({cursor}) FROM {name} WHERE {cursor} <= %s", (until,)
        )
        low, high = cur.fetchone() or (None, None)
        if high is None:
            return NewestCursor(table, None, future=future)
        cur.execute(f"SELECT COUNT(*) FROM {name} WHERE {cursor} = %s", (high,))
        oldest, newest = _converted(plan, [low, high], timezone, table)
        return NewestCursor(table, newest, oldest, int(str(cur.fetchone()[0])), future)
    cur.execute(
        f"SELECT {cursor}, COUNT(*) FROM {name} WHERE {cursor} >= %s AND {cursor} <= %s "
        f"GROUP BY {cursor} ORDER BY {cursor}",
        (column_literal(after.value, "date", timezone), until),
    )
    rows = [(str(day), int(str(count))) for day, count in cur.fetchall()]
    days = _converted(plan, [day for day, _ in rows], timezone, table)
    counts = [(day, count) for day, (_, count) in zip(days, rows, strict=True)]
    if counts and counts[0][0] == cursor_day(after.value) and after.rows in (None, counts[0][1]):
        counts = counts[1:]  # the last newest day, as many rows as then (or not counted then)
    if not counts:
        return NewestCursor(table, None, future=future)
    return NewestCursor(table, counts[-1][0], counts[0][0], counts[-1][1], future)


def _converted(
    plan: ColumnPlan, values: list[object], timezone: str, table: str
) -> list[CursorValue | None]:
    return convert_column(
        plan, values, timezone=timezone, table=table, stats=ConversionStats()
    ).to_pylist()


def now_literal(now: dt.datetime, kind: str, timezone: str) -> str:
    """The poll's upper bound as the column compares it: a DATETIME's wall clock in the shard's
    zone, a TIMESTAMP's in UTC, a DATE's day in the shard's zone (a row of the shard's today)."""
    if kind == "date":
        return now.astimezone(zoneinfo.ZoneInfo(timezone)).date().isoformat()
    return column_literal(now, kind, timezone)


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
