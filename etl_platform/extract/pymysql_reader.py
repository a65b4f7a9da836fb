"""The portable reader: pymysql's unbuffered (server-side) cursor, batches typed in Arrow."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pymysql.cursors

from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.extract.introspect import TablePlan
from etl_platform.extract.query import READ_SESSION, WindowQuery
from etl_platform.extract.types import ConversionStats, arrow_schema, convert_column


def read_batches(
    endpoint: MySqlEndpoint,
    plan: TablePlan,
    query: WindowQuery,
    *,
    timezone: str,
    batch_rows: int,
    stats: ConversionStats,
    connect_timeout: float = 10,
    read_timeout: float | None = None,
) -> Iterator[pa.RecordBatch]:
    """Stream the window as Arrow batches of at most `batch_rows` rows.

    The SSCursor keeps memory flat: rows are pulled from the socket as batches are consumed.
    The session reads TIMESTAMP values in UTC and in a consistent snapshot.
    """
    schema = arrow_schema(plan.plans)
    conn = endpoint.connect(
        connect_timeout=connect_timeout, read_timeout=read_timeout, raw_text=True
    )
    try:
        with conn.cursor() as setup:
            for statement in READ_SESSION:
                setup.execute(statement)
        cur = conn.cursor(pymysql.cursors.SSCursor)
        finished = False
        try:
            cur.execute(query.sql, query.params)
            while True:
                rows = cur.fetchmany(batch_rows)
                if not rows:
                    break
                columns = list(zip(*rows, strict=True))
                arrays = [
                    convert_column(p, columns[i], timezone=timezone, table=plan.table, stats=stats)
                    for i, p in enumerate(plan.plans)
                ]
                yield pa.RecordBatch.from_arrays(arrays, schema=schema)
            finished = True
        finally:
            if finished:
                cur.close()
            else:
                _abandon(cur)
    finally:
        conn.close()


def _abandon(cur: pymysql.cursors.SSCursor) -> None:
    """Leave an unfinished unbuffered read without draining it: `SSCursor.close()` would read
    the rest of the window off the socket first (and, on a lost connection, fail with an
    AttributeError that hides the OperationalError). Closing the connection ends the query."""
    result = cur._result
    if result is not None:
        result.unbuffered_active = False  # pymysql==1.2.4 internals (pinned)
    cur.connection = None
