"""The C reader: mysqlclient's `_mysql` (libmariadb), the window streamed with `use_result()`.

Same statement, session and semantics as `pymysql_reader.read_batches`, only the wire protocol
is parsed in C: the bounds are escaped by the client library for the connection's character set
(`string_literal`, what `MySQLdb` cursors do), the session reads TIMESTAMP in UTC inside a
read-only consistent-snapshot transaction, and rows are pulled from the socket `batch_rows` at a
time (`fetch_row(maxrows=...)`), so memory stays flat whatever the window. Values arrive as the
server's text in bytes; `types.convert_column` types them a column at a time in Arrow.

mysqlclient is built from source against libmariadb (`apt-get install libmariadb-dev
pkg-config`); where it is missing, `auto` falls back to another backend.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import polars as pl
import pyarrow as pa
import pymysql

from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.extract.introspect import TablePlan
from etl_platform.extract.query import READ_SESSION, WindowQuery
from etl_platform.extract.types import ConversionStats, arrow_schema, convert_column


def _as_pymysql(exc: Exception) -> Exception:
    """A MySQLdb error as pymysql's class of the same name, so the extractor's handling (e.g.
    connection errors → ShardUnavailableError) is the same for every backend."""
    cls = getattr(pymysql.err, type(exc).__name__, pymysql.err.Error)
    return cls(*exc.args)


def _columns(rows: tuple[tuple[bytes | None, ...], ...], width: int) -> list[pa.Array]:
    """The rows' values as one Arrow array per column, without a transpose in Python.

    All values go into one binary array in a single conversion (row-major), then each column
    is gathered with a strided index, so no per-row Python transpose (`zip(*rows)`) is needed.
    """
    flat = pa.array(itertools.chain.from_iterable(rows), pa.large_binary(), size=len(rows) * width)
    size = len(rows) * width
    return [
        flat.take(pl.int_range(i, size, width, dtype=pl.Int64, eager=True).to_arrow())
        for i in range(width)
    ]


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
    """Stream the window as Arrow batches of at most `batch_rows` rows."""
    import MySQLdb
    from MySQLdb import _mysql

    schema = arrow_schema(plan.plans)
    options: dict = {"connect_timeout": max(1, math.ceil(connect_timeout))}
    if read_timeout is not None:
        options["read_timeout"] = max(1, math.ceil(read_timeout))
    try:
        conn = _mysql.connect(
            host=endpoint.host,
            port=endpoint.port,
            user=endpoint.user,
            password=endpoint.password,
            database=endpoint.database or "",
            charset="utf8mb4",
            local_infile=0,  # a rogue server must not be able to read the worker's files
            **options,
        )
    except MySQLdb.Error as e:
        raise _as_pymysql(e) from None
    try:
        try:
            for statement in READ_SESSION:
                conn.query(statement)
            literals = tuple(conn.string_literal(p.encode()).decode() for p in query.params)
            conn.query(query.sql % literals)
            result = conn.use_result()
        except MySQLdb.Error as e:
            raise _as_pymysql(e) from None
        while True:
            try:
                rows = result.fetch_row(maxrows=batch_rows)
            except MySQLdb.Error as e:
                raise _as_pymysql(e) from None
            if not rows:
                break
            arrays = [
                convert_column(p, column, timezone=timezone, table=plan.table, stats=stats)
                for p, column in zip(plan.plans, _columns(rows, len(plan.plans)), strict=True)
            ]
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)
    finally:
        conn.close()
