"""The portable reader: pymysql's unbuffered (server-side) cursor, batches typed in Arrow."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pymysql.cursors

from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.extract.introspect import TablePlan
from etl_platform.extract.query import WindowQuery
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
            setup.execute("SET SESSION time_zone = '+00:00'")
            setup.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            setup.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        cur = conn.cursor(pymysql.cursors.SSCursor)
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
        finally:
            cur.close()
    finally:
        conn.close()
