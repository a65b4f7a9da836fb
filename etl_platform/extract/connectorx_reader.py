"""The fastest reader: connectorx (Rust) hands the window over as Arrow batches.

Same contract and the same values as `pymysql_reader.read_batches` (the type tests run on every
backend), with these differences; `auto` picks it first when the `fast` extra is installed:

* **No bound parameters.** connectorx cannot bind values. The window query's only values are
  its two bounds, which our own code renders from datetimes (`query.cursor_bounds`); they are
  checked against a strict pattern (a date, or `YYYY-MM-DD HH:MM:SS.ffffff`) and rendered with
  pymysql's escaping, quoted (`query.literal_page_sql`); the page's key and size must be
  integers. Anything else is refused with a `ValueError` before a connection is opened.
  Identifiers are quoted as for every backend.
* **Projection.** Columns that connectorx types exactly are read natively: integers (BIGINT
  UNSIGNED as uint64), FLOAT/DOUBLE, BIT (as `CAST(.. AS UNSIGNED)`), CHAR/VARCHAR/TEXT/JSON
  and the binary types. The others are selected as the server's text (`CAST(col AS CHAR)`):
  DECIMAL (connectorx would squeeze every DECIMAL into decimal128(38,10)), DATE/DATETIME/
  TIMESTAMP (it panics on zero dates), TIME (it panics on negative or >24h values), YEAR, ENUM,
  SET, UUID, INET. `types.convert_column` then types every column exactly as for pymysql, zero
  dates to NULL (counted), DATETIME from the shard's zone to UTC.
* **Session.** `SET SESSION time_zone = '+00:00'` runs on the reading connection before the
  SELECT (`pre_execution_query`): TIMESTAMP values and a TIMESTAMP cursor's bounds are UTC
  whatever the server's zone. TCP is forced (`prefer_socket=false`): the Rust driver would
  otherwise switch a loopback connection to the unix socket, i.e. to another MySQL account.
* **Memory is bounded by pages.** `return_type="arrow_stream"` yields batches of `batch_rows`,
  but connectorx 0.4.6 reads a statement ahead into an unbounded channel: when the consumer
  (conversion and Parquet) is slower than the wire, the unread rest piles up in memory. So
  connectorx only reads windows it can page (`page_key`): the server scans the table for them
  anyway (EXPLAIN `ALL`: a full extract, a long backfill) and the table's PRIMARY index is the
  one integer primary key. They are read as `... FORCE INDEX (PRIMARY) WHERE <window> AND
  pk > last ORDER BY pk LIMIT n` with n = `PAGE_ROWS`: the same scan in key order, at most a
  page ahead of the consumer. Any other window (one the cursor's index serves, a composite or
  non-integer key) is read by the streaming reader (`backends.streaming_reader`: mysqlclient,
  else pymysql), with bound values and one consistent snapshot.
* **Consistency.** Each page is one consistent read in InnoDB, but pages are separate
  statements. Every key is in exactly one page. A row changed while the window is read is seen
  in its old or its new version; if its new cursor has left the window, its new version is in
  a later window, which the next extract reads (as with any incremental read).
* **Timeouts.** `connect_timeout` is passed as `tcp_connect_timeout_ms`. The Rust driver has no
  read timeout, so `read_timeout` becomes the server's limit on each page's statement
  (`max_statement_time` on MariaDB 10.1.1+, `max_execution_time` on MySQL 5.7.8+; older or
  unrecognised servers get none): a page that runs longer is interrupted and raised as a lost
  connection, i.e. the shard is unavailable, as for the other readers. It bounds a page's time,
  not the time between two packets. A refused
  login or an unreachable server is retried by connectorx's connection pool for 30 s before it
  fails (not configurable in 0.4.6); the extractor's own planning connection (pymysql) fails
  fast on a shard that is down before this reader is reached.
* **Errors.** connectorx reports errors as `RuntimeError` (or a Rust panic) whose text may echo
  the connection URL: every message is scrubbed of the password before it is raised. Failures
  to connect or log in, and a connection lost mid-read, are raised as
  `pymysql.err.OperationalError` with the server's or client's error number, so the extractor
  turns them into `ShardUnavailableError` exactly as for pymysql.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from urllib.parse import quote

import pyarrow as pa
import pymysql

from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.extract.introspect import TablePlan
from etl_platform.extract.query import (
    UTC_SESSION,
    WindowQuery,
    literal_page_sql,
)
from etl_platform.extract.types import ColumnPlan, ConversionStats, arrow_schema, convert_column
from etl_platform.identifiers import quote_mysql

#: String types connectorx reads as UTF-8 text itself; the other string kinds go through CAST.
_NATIVE_STRINGS = frozenset(
    {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "json"}
)
#: Server errors for a statement that ran past its time limit (MariaDB, MySQL).
_STATEMENT_TIMEOUT_ERRNOS = frozenset({1969, 3024})


def _version(text: str) -> tuple[int, ...]:
    """`10.11.19-MariaDB-0+deb12u1` -> (10, 11, 19); () when there is no version. MariaDB may
    announce itself as `5.5.5-10.11.19-MariaDB...` (for old clients): its own version counts."""
    found = re.search(r"(\d+)\.(\d+)\.(\d+)-MariaDB", text, re.IGNORECASE) or re.match(
        r"(\d+)\.(\d+)\.(\d+)", text
    )
    return tuple(int(part) for part in found.groups()) if found else ()


def session(plan: TablePlan, read_timeout: float | None) -> list[str]:
    """What runs before each statement: TIMESTAMPs in UTC and, since the driver has no read
    timeout, the server's own limit on the statement's time where the server has one (MariaDB
    10.1.1+ `max_statement_time` in seconds, MySQL 5.7.8+ `max_execution_time` in milliseconds),
    rendered from a number only, never below a millisecond (0 would mean no limit)."""
    statements = [UTC_SESSION]
    if read_timeout is None:
        return statements
    seconds = float(read_timeout)
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"read_timeout must be a positive number of seconds, not {seconds}")
    millis = max(1, math.ceil(seconds * 1000))
    version = _version(plan.server_version)
    if "mariadb" in plan.server_version.lower():
        if version >= (10, 1, 1):
            statements.append(f"SET SESSION max_statement_time = {millis / 1000:.3f}")
    elif version >= (5, 7, 8):
        statements.append(f"SET SESSION max_execution_time = {millis}")
    return statements


# Client error numbers, as libmysqlclient has them: can't connect, lost the connection.
_CR_CONN_HOST_ERROR = 2003
_CR_SERVER_LOST = 2013
_SERVER_ERRNO = re.compile(r"ERROR (\d{4}) \([0-9A-Z]{5}\)")  # "ERROR 1045 (28000): ..."
_LOST = ("broken pipe", "connection reset", "unexpected eof", "connection aborted", "io error")
_CANNOT_CONNECT = ("could not connect", "connection refused", "timed out", "name or service")


def select_expr(plan: ColumnPlan) -> str:
    """What connectorx selects for one column (see the module docstring)."""
    quoted = quote_mysql(plan.column.name)
    data_type = plan.column.data_type.lower()
    if plan.kind in ("int", "bool") and data_type != "year":
        return quoted
    if plan.kind in ("float", "binary", "bits"):
        return plan.select_expr
    if plan.kind == "string" and data_type in _NATIVE_STRINGS:
        return quoted
    return f"CAST({quoted} AS CHAR) AS {quoted}"


def connectorx_url(endpoint: MySqlEndpoint, *, connect_timeout: float) -> str:
    """The URL connectorx connects with; user and password percent-encoded. Never log it."""
    auth = quote(endpoint.user, safe="")
    if endpoint.password:
        auth += ":" + quote(endpoint.password, safe="")
    database = quote(endpoint.database or "", safe="")
    timeout_ms = max(1, round(connect_timeout * 1000))
    return (
        f"mysql://{auth}@{endpoint.host}:{endpoint.port}/{database}"
        f"?prefer_socket=false&tcp_connect_timeout_ms={timeout_ms}"
    )


def scrub(message: str, endpoint: MySqlEndpoint) -> str:
    """The message without the password, in any spelling a URL or the driver may give it."""
    if endpoint.password:
        for secret in {endpoint.password, quote(endpoint.password, safe="")}:
            message = message.replace(secret, "***")
    return re.sub(r"(mysql://[^:/@\s]*):[^@\s]*@", r"\1:***@", message)


def _driver_error(exc: BaseException, endpoint: MySqlEndpoint, *, reading: bool) -> Exception:
    """A connectorx failure as the error the extractor expects, with the password scrubbed."""
    lines = str(exc).splitlines() or [""]
    # A panic's text goes on with a Rust backtrace when RUST_BACKTRACE is set: keep the message.
    text = scrub(f"{type(exc).__name__}: {lines[0]}", endpoint)
    where = f"connectorx reading from {endpoint.describe()}: {text}"
    server = _SERVER_ERRNO.search(text)
    if server and int(server.group(1)) in _STATEMENT_TIMEOUT_ERRNOS:
        # As a read timeout is for the other readers: the shard did not answer in time.
        return pymysql.err.OperationalError(_CR_SERVER_LOST, f"{where} (read_timeout)")
    if server:
        return pymysql.err.OperationalError(int(server.group(1)), where)
    lowered = text.lower()
    if any(s in lowered for s in _CANNOT_CONNECT):
        return pymysql.err.OperationalError(_CR_CONN_HOST_ERROR, where)
    if any(s in lowered for s in _LOST):
        return pymysql.err.OperationalError(
            _CR_SERVER_LOST if reading else _CR_CONN_HOST_ERROR, where
        )
    return RuntimeError(where)


#: Rows per statement when the server scans the whole table for a window (see module docstring).
PAGE_ROWS = 100_000


def page_key(plan: TablePlan, query: WindowQuery) -> ColumnPlan | None:
    """The key to page a window by, or None: the window is then read by a streaming reader.

    Paged: a window the server scans whole anyway (EXPLAIN `ALL`), of a table whose PRIMARY
    index is one integer column, the configured primary key. Pages in that order cost the same
    scan, each key is in exactly one page, and `pk > last` always advances. A window the cursor's
    index serves (a day of changes) is not paged by key: each page would scan again.
    """
    if query.access != "ALL" or len(plan.primary_key) != 1:
        return None
    if query.fallback is not None:  # the literal page SQL has no NULL-cursor fallback part
        return None
    if plan.primary_index != plan.primary_key:
        return None
    key = next((p for p in plan.plans if p.column.name == plan.primary_key[0]), None)
    if key is None or key.kind != "int" or key.column.data_type.lower() == "year":
        return None
    return None if key.column.nullable else key


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
    """Stream the window as Arrow batches of at most `batch_rows` rows (see module docstring)."""
    key = page_key(plan, query)
    if key is None:
        # Not pageable: one connectorx statement would read ahead without limit.
        from etl_platform.extract.backends import streaming_reader

        yield from streaming_reader()(
            endpoint,
            plan,
            query,
            timezone=timezone,
            batch_rows=batch_rows,
            stats=stats,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        return
    select = [select_expr(p) for p in plan.plans]
    position, page, after = plan.plans.index(key), max(batch_rows, PAGE_ROWS), None
    while True:
        sql = literal_page_sql(
            plan.table,
            select,
            plan.cursor,
            query.params,
            key=key.column.name,
            after=after,
            limit=page,
        )
        rows, start = 0, after
        for batch in _read_statement(
            endpoint,
            plan,
            sql,
            timezone=timezone,
            batch_rows=batch_rows,
            stats=stats,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        ):
            rows += batch.num_rows
            after = batch.column(position)[-1].as_py()
            yield batch
        if rows < page:
            return
        if after is None or (start is not None and after <= start):  # cannot happen on PRIMARY
            raise RuntimeError(
                f"table `{plan.table}`: paging by `{key.column.name}` did not advance past "
                f"{start!r}; refusing to loop"
            )


def _read_statement(
    endpoint: MySqlEndpoint,
    plan: TablePlan,
    sql: str,
    *,
    timezone: str,
    batch_rows: int,
    stats: ConversionStats,
    connect_timeout: float,
    read_timeout: float | None,
) -> Iterator[pa.RecordBatch]:
    """One statement's rows, typed as every backend types them."""
    import connectorx as cx  # after the bounds passed: nothing reaches the driver unchecked

    schema = arrow_schema(plan.plans)
    try:
        reader = cx.read_sql(
            connectorx_url(endpoint, connect_timeout=connect_timeout),
            sql,
            return_type="arrow_stream",
            pre_execution_query=session(plan, read_timeout),
            batch_size=batch_rows,
        )
    except Exception as e:
        raise _driver_error(e, endpoint, reading=False) from None
    except BaseException as e:  # a Rust panic (pyo3's PanicException is a BaseException)
        if isinstance(e, KeyboardInterrupt | SystemExit):
            raise
        raise _driver_error(e, endpoint, reading=False) from None
    batches = iter(reader)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except Exception as e:
            raise _driver_error(e, endpoint, reading=True) from None
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt | SystemExit | GeneratorExit):
                raise
            raise _driver_error(e, endpoint, reading=True) from None
        if not batch.num_rows:
            continue
        arrays = [
            convert_column(p, batch.column(i), timezone=timezone, table=plan.table, stats=stats)
            for i, p in enumerate(plan.plans)
        ]
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)
