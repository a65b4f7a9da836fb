"""What the shard says about a table: its columns and whether an index starts with the cursor."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pymysql

from etl_platform.extract.connection import MySqlEndpoint, is_connect_error, shard_unavailable
from etl_platform.extract.types import ColumnInfo, ColumnPlan, plan_column

_COLUMNS_SQL = """
SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE,
       DATETIME_PRECISION, IS_NULLABLE
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s
ORDER BY ORDINAL_POSITION
"""

_PRIMARY_INDEX_SQL = """
SELECT COLUMN_NAME FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND INDEX_NAME = 'PRIMARY'
ORDER BY SEQ_IN_INDEX
"""

_CURSOR_INDEX_SQL = """
SELECT INDEX_NAME FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND COLUMN_NAME = %s AND SEQ_IN_INDEX = 1
ORDER BY INDEX_NAME LIMIT 1
"""


class TableNotFoundError(LookupError):
    pass


@dataclasses.dataclass(frozen=True)
class TablePlan:
    """The columns to read, in order, and what is known about the cursor (a snapshot table,
    read whole, has none)."""

    table: str
    plans: tuple[ColumnPlan, ...]
    cursor: str | None
    cursor_index: str | None
    primary_key: tuple[str, ...] = ()
    #: The columns of the table's PRIMARY index, as the server has them (the configured
    #: `primary_key` is not checked against it).
    primary_index: tuple[str, ...] = ()
    #: The server's version string (`10.11.19-MariaDB-...`, `8.0.36`): which session variables
    #: it has.
    server_version: str = ""

    @property
    def cursor_plan(self) -> ColumnPlan:
        if self.cursor is None:
            raise ValueError(f"table `{self.table}` is read whole: it has no cursor")
        return next(p for p in self.plans if p.column.name == self.cursor)


def _int(value: object) -> int | None:
    return None if value is None else int(str(value))


def read_columns(conn: pymysql.connections.Connection, table: str) -> list[ColumnInfo]:
    with conn.cursor() as cur:
        cur.execute(_COLUMNS_SQL, (table,))
        rows = cur.fetchall()
    return [
        ColumnInfo(
            name=str(r[0]),
            data_type=str(r[1]),
            column_type=str(r[2]),
            numeric_precision=_int(r[3]),
            numeric_scale=_int(r[4]),
            datetime_precision=_int(r[5]),
            nullable=str(r[6]) == "YES",
        )
        for r in rows
    ]


def plan_table(
    conn: pymysql.connections.Connection,
    table: str,
    *,
    cursor: str | None,
    primary_key: Sequence[str],
    exclude: Sequence[str] = (),
    shard: str = "",
) -> TablePlan:
    """Plan the read of one table on one shard; missing table/columns are named errors.
    `cursor` None: the table is read whole (a snapshot table), no cursor is checked."""
    where = f"shard {shard}: " if shard else ""
    columns = read_columns(conn, table)
    if not columns:
        raise TableNotFoundError(f"{where}table `{table}` does not exist in `{conn.db!s}`")
    names = {c.name for c in columns}
    for role, wanted in (
        ("cursor", [cursor] if cursor is not None else []),
        ("primary_key", primary_key),
        ("exclude_columns", exclude),
    ):
        missing = [c for c in wanted if c not in names]
        if missing:
            raise LookupError(
                f"{where}table `{table}`: {role} column(s) {missing} do not exist "
                f"(columns: {sorted(names)})"
            )
    plans = tuple(plan_column(c, table=table) for c in columns if c.name not in set(exclude))
    row = None
    with conn.cursor() as cur:
        if cursor is not None:
            cursor_kind = next(p.kind for p in plans if p.column.name == cursor)
            if cursor_kind not in ("datetime", "timestamp", "date"):
                raise TypeError(
                    f"{where}table `{table}`: cursor column `{cursor}` must be DATETIME, "
                    f"TIMESTAMP or DATE, not "
                    f"{next(c.column_type for c in columns if c.name == cursor)}"
                )
            cur.execute(_CURSOR_INDEX_SQL, (table, cursor))
            row = cur.fetchone()
        cur.execute(_PRIMARY_INDEX_SQL, (table,))
        primary_index = tuple(str(r[0]) for r in cur.fetchall())
    return TablePlan(
        table=table,
        plans=plans,
        cursor=cursor,
        cursor_index=row[0] if row else None,
        primary_key=tuple(primary_key),
        primary_index=primary_index,
        server_version=str(conn.get_server_info() or ""),
    )


def explain(conn: pymysql.connections.Connection, sql: str, params: Sequence[object]) -> dict:
    """EXPLAIN the window query: which access type and key the server would use."""
    with conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute("EXPLAIN " + sql, tuple(params))
        row = cur.fetchone() or {}
    return {
        k: (None if v is None else str(v))
        for k, v in row.items()
        if k in ("type", "key", "rows", "Extra")
    }


def sample_json(
    conn: pymysql.connections.Connection, table: str, column: str, cursor: str, limit: int
) -> list[str | None]:
    """The most recently updated values of a JSON column: a bounded sample for scaffolding."""
    from etl_platform.identifiers import quote_mysql

    with conn.cursor() as cur:
        cur.execute(
            f"SELECT {quote_mysql(column)} FROM {quote_mysql(table)} "
            f"ORDER BY {quote_mysql(cursor)} DESC LIMIT %s",
            (limit,),
        )
        return [r[0] for r in cur.fetchall()]


def plan_on_shard(
    endpoint: MySqlEndpoint,
    table: str,
    *,
    cursor: str | None,
    primary_key: Sequence[str],
    shard: str,
    exclude: Sequence[str] = (),
    connect_timeout: float = 10,
) -> TablePlan:
    """`plan_table` on a connection of its own; a shard that cannot be reached is the shard's
    unavailability, named as the extractor names it."""
    try:
        conn = endpoint.connect(connect_timeout=connect_timeout)
        try:
            return plan_table(
                conn, table, cursor=cursor, primary_key=primary_key, exclude=exclude, shard=shard
            )
        finally:
            conn.close()
    except pymysql.err.OperationalError as e:
        if not is_connect_error(e):
            raise
        raise shard_unavailable(shard, endpoint, table, e) from None
