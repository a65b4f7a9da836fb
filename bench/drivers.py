"""Issue 7: MySQL drivers side by side, reading one window into Arrow batches of the final types.

By hand only, never in CI:

    uv sync --frozen --all-extras --group bench   # mysqlclient: libmariadb-dev + pkg-config
    .venv/bin/python -m bench.drivers --rows 400000 --rounds 3 --scaling --scaling-rounds 2
    .venv/bin/python -m bench.drivers --rows 400000 --rounds 0 --probe

Results and conclusions: `bench/DRIVERS.md`. `--drivers a,b` picks variants (see `--help`);
`extract:<backend>` variants run the real `extract_window` (Parquet into a temporary lake) with
a registered backend; `<variant>+slow` sleep 0.1 s per batch; `--probe` pauses 3 s after the
first batch and reports how much the process grew meanwhile (a reader that reads ahead grows).

It creates (or reuses, when the row count matches) the database `bench_drivers` with an
`orders`-like table on the server of `--url` (default the local MariaDB), then times each variant
in its own subprocess, interleaved and rotated per round: the variant reads every row of a window
on `updated_at` (the whole table, or its first quarter with `--scaling`) into Arrow record
batches of exactly the types `etl_platform.extract.types` produces, in batches of
`--batch-rows`. Peak RSS of the subprocess is sampled every 50 ms (`bench.common.measure`).
Each variant reports a digest of what it read (rows, sums, lengths, min/max cursor) and the
schema; the run fails if any two variants disagree, so no variant can be fast by reading less.

Timing is the variant's own clock, from before connecting to after the last batch: imports and
Arrow's lazy start-up are outside it (the child warms them first), as is the table plan.
Reports go to `--out` (.md and .json, default `.local/bench/drivers`).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import queue
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

if "mysql-connector-c" in sys.argv:
    # Its C extension fails to load after pyarrow ("cannot allocate memory in static TLS
    # block" for libstdc++): it has to be imported first.
    import _mysql_connector  # noqa: F401

import etl_platform  # noqa: F401, I001  (its allocator settings, before pyarrow loads)
import pyarrow as pa
import pyarrow.compute as pc

from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.extract.introspect import TablePlan, plan_table
from etl_platform.extract.query import WindowQuery, build_window_query
from etl_platform.extract.types import ConversionStats, arrow_schema, convert_column
from etl_platform.identifiers import quote_mysql

DATABASE = "bench_drivers"
TABLE = "orders"
START = dt.datetime(2024, 1, 1)
SPAN_DAYS = 40
WINDOWS = {  # updated_at is created_at + up to a day; created_at spreads over SPAN_DAYS
    "full": ("2024-01-01 00:00:00.000000", "2024-02-15 00:00:00.000000"),
    "quarter": ("2024-01-01 00:00:00.000000", "2024-01-11 00:00:00.000000"),
}
SEED_ROWS = 1024

DDL = f"""
CREATE TABLE {TABLE} (
  id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  customer_id BIGINT UNSIGNED NOT NULL,
  status VARCHAR(16) NOT NULL,
  currency CHAR(3) NOT NULL,
  total DECIMAL(12,2) NOT NULL,
  is_gift TINYINT(1) NOT NULL,
  version INT NOT NULL,
  payload JSON NOT NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  KEY idx_orders_updated_at (updated_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
"""


def _columns_of(n: str, rows: int) -> str:
    """Every column but the payload, computed from the id expression `n`."""
    step_us = SPAN_DAYS * 86_400_000_000 // rows
    return (
        f"{n}, IF({n} % 10 = 0, 9223372036854775808 + {n}, {n} % 50000 + 1), "
        f"ELT({n} % 5 + 1, 'new', 'paid', 'shipped', 'delivered', 'cancelled'), "
        f"ELT({n} % 3 + 1, 'EUR', 'USD', 'GBP'), ({n} * 7919 % 10000000) / 100, "
        f"{n} % 7 = 0, {n} % 5 + 1"
    ), (
        f"TIMESTAMPADD(MICROSECOND, {n} * {step_us}, '{START:%Y-%m-%d}'), "
        f"TIMESTAMPADD(MICROSECOND, {n} * {step_us} + ({n} * 2654435761) % 86400000000, "
        f"'{START:%Y-%m-%d}')"
    )


def _payload(rng: random.Random, n: int) -> str:
    """About 1 KB of nested JSON, different per seed row."""
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"]
    items = [
        {
            "sku": f"SKU-{rng.randrange(10**6):06d}",
            "name": " ".join(rng.choices(words, k=3)),
            "qty": rng.randrange(1, 5),
            "price": round(rng.uniform(1, 500), 2),
            "attrs": {"color": rng.choice(words), "size": rng.choice(["S", "M", "L", "XL"])},
        }
        for _ in range(rng.randrange(3, 6))
    ]
    doc = {
        "order_id": n,
        "items": items,
        "shipping": {
            "method": rng.choice(["post", "courier", "pickup"]),
            "address": {
                "street": f"{rng.randrange(1, 300)} {rng.choice(words).title()} Street",
                "city": rng.choice(["Lyon", "Zürich", "Kraków", "São Paulo", "Москва", "東京"]),
                "zip": f"{rng.randrange(10**5):05d}",
            },
        },
        "customer": {"tags": rng.choices(words, k=4), "vip": rng.random() < 0.1},
        "notes": " ".join(rng.choices(words, k=rng.randrange(25, 60))),
    }
    return json.dumps(doc, ensure_ascii=False)


def _server(args: argparse.Namespace) -> MySqlEndpoint:
    return MySqlEndpoint.from_url(args.url)


def ensure_table(server: MySqlEndpoint, rows: int) -> dict:
    """Create and fill `bench_drivers.orders` with `rows` rows unless it already has them."""
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
            cur.execute(f"USE {DATABASE}")
            cur.execute(
                "SELECT COUNT(*) FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                (DATABASE, TABLE),
            )
            if cur.fetchone()[0]:
                cur.execute(f"SELECT COUNT(*), MAX(id) FROM {TABLE}")
                count, top = cur.fetchone()
                if count == rows and top == rows:
                    return _table_facts(cur)
                cur.execute(f"DROP TABLE {TABLE}")
            started = time.perf_counter()
            cur.execute(DDL)
            cur.execute("CREATE TEMPORARY TABLE seed (n BIGINT UNSIGNED, payload LONGTEXT)")
            rng = random.Random(7)
            first = min(SEED_ROWS, rows)
            cur.executemany(
                "INSERT INTO seed VALUES (%s, %s)",
                [(n, _payload(rng, n)) for n in range(1, first + 1)],
            )
            scalars, times = _columns_of("n", rows)
            cur.execute(f"INSERT INTO {TABLE} SELECT {scalars}, payload, {times} FROM seed")
            have = first
            while have < rows:  # double: copy ids 1..k as k+1..2k
                take = min(have, rows - have)
                scalars, times = _columns_of(f"(id + {have})", rows)
                cur.execute(
                    f"INSERT INTO {TABLE} SELECT {scalars}, "
                    f"JSON_SET(payload, '$.order_id', id + {have}), {times} "
                    f"FROM {TABLE} WHERE id <= {take}"
                )
                have += take
            cur.execute(f"ANALYZE TABLE {TABLE}")
            cur.fetchall()
            facts = _table_facts(cur)
            facts["fill_seconds"] = round(time.perf_counter() - started, 1)
            return facts
    finally:
        conn.close()


def _table_facts(cur) -> dict:
    cur.execute(
        f"SELECT COUNT(*), AVG(LENGTH(payload)), SUM(customer_id > 9223372036854775807) "
        f"FROM {TABLE}"
    )
    count, avg_payload, big = cur.fetchone()
    cur.execute(
        "SELECT DATA_LENGTH + INDEX_LENGTH FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
        (DATABASE, TABLE),
    )
    (size,) = cur.fetchone()
    return {
        "rows": int(count),
        "avg_payload_bytes": round(float(avg_payload)),
        "customer_id_above_2^63": int(big),
        "table_mib": round(int(size) / 2**20),
    }


# ---------------------------------------------------------------------------------------------
# The variants. Each yields RecordBatches with the schema `arrow_schema(plan.plans)`.
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Job:
    endpoint: MySqlEndpoint
    plan: TablePlan
    query: WindowQuery
    batch_rows: int
    stats: ConversionStats

    @property
    def schema(self) -> pa.Schema:
        return arrow_schema(self.plan.plans)

    def convert(self, columns: list) -> pa.RecordBatch:
        arrays = [
            convert_column(p, columns[i], timezone="UTC", table=TABLE, stats=self.stats)
            for i, p in enumerate(self.plan.plans)
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def binary_columns(self, rows: tuple) -> list:
        """Rows of bytes (the C drivers' raw values) as Arrow binary columns."""
        return [pa.array(col, pa.large_binary()) for col in zip(*rows, strict=True)]

    def literal_sql(self, select: str | None = None, extra: str = "") -> str:
        """The window query with its two bounds rendered (for drivers that cannot bind)."""
        from pymysql.converters import escape_string

        lo, hi = (f"'{escape_string(b)}'" for b in self.query.params)
        sql = self.query.sql
        if select is not None:
            sql = f"SELECT {select} FROM" + sql.split(" FROM", 1)[1]
        return sql.replace("%s", lo, 1).replace("%s", hi, 1) + extra


SESSION_SETUP = (
    "SET SESSION time_zone = '+00:00'",
    "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
    "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
)


def read_pymysql(job: Job) -> Iterator[pa.RecordBatch]:
    from etl_platform.extract.pymysql_reader import read_batches

    yield from read_batches(
        job.endpoint,
        job.plan,
        job.query,
        timezone="UTC",
        batch_rows=job.batch_rows,
        stats=job.stats,
    )


def _mysqlclient_connect(endpoint: MySqlEndpoint):
    from MySQLdb import _mysql

    return _mysql.connect(
        host=endpoint.host,
        port=endpoint.port,
        user=endpoint.user,
        password=endpoint.password,
        database=endpoint.database,
        charset="utf8mb4",
    )


def read_mysqlclient(job: Job, extra: str = "", params: tuple = ()) -> Iterator[pa.RecordBatch]:
    """mysqlclient's C `_mysql`: use_result() streams, fetch_row(maxrows) gives rows of bytes."""
    conn = _mysqlclient_connect(job.endpoint)
    try:
        for statement in SESSION_SETUP:
            conn.query(statement)
        literals = tuple(
            conn.string_literal(str(v).encode()).decode() for v in (*job.query.params, *params)
        )
        conn.query((job.query.sql + extra) % literals)
        result = conn.use_result()
        while rows := result.fetch_row(maxrows=job.batch_rows):
            yield job.convert(job.binary_columns(rows))
    finally:
        conn.close()


def read_connector_c(job: Job) -> Iterator[pa.RecordBatch]:
    """mysql-connector-python's C extension, unbuffered raw cursor (rows of bytes)."""
    import mysql.connector

    conn = mysql.connector.connect(
        host=job.endpoint.host,
        port=job.endpoint.port,
        user=job.endpoint.user,
        password=job.endpoint.password,
        database=job.endpoint.database,
        charset="utf8mb4",
        use_pure=False,
        autocommit=True,
    )
    assert type(conn).__name__ == "CMySQLConnection", type(conn)
    try:
        setup = conn.cursor()
        for statement in SESSION_SETUP:
            setup.execute(statement)
        setup.close()
        cur = conn.cursor(raw=True)
        cur.execute(job.query.sql, job.query.params)
        while rows := cur.fetchmany(job.batch_rows):
            yield job.convert(job.binary_columns(rows))
        cur.close()
    finally:
        conn.close()


def _cx_url(endpoint: MySqlEndpoint) -> str:
    # TCP like every other variant: by default the Rust driver re-connects to 127.0.0.1
    # over the server's unix socket.
    return endpoint.url() + "?prefer_socket=false"


def _cx_char_select(plan: TablePlan) -> str:
    """Every non-binary column as the server's text (what `convert_column` types)."""
    out = []
    for p in plan.plans:
        quoted = quote_mysql(p.column.name)
        if p.kind == "binary":
            out.append(quoted)
        elif p.kind == "string":
            out.append(f"CAST({quoted} AS CHAR CHARACTER SET utf8mb4) AS {quoted}")
        else:
            expr = f"{quoted} + 0" if p.kind == "bits" else quoted
            out.append(f"CAST({expr} AS CHAR) AS {quoted}")
    return ", ".join(out)


def _cx_typed(job: Job, batch: pa.RecordBatch) -> pa.RecordBatch:
    return job.convert([batch.column(i) for i in range(batch.num_columns)])


def read_cx_char(job: Job) -> Iterator[pa.RecordBatch]:
    """connectorx arrow_stream, every non-binary column selected as CHAR, typed by Arrow."""
    import connectorx as cx

    reader = cx.read_sql(
        _cx_url(job.endpoint),
        job.literal_sql(_cx_char_select(job.plan)),
        return_type="arrow_stream",
        pre_execution_query=["SET SESSION time_zone = '+00:00'"],
        batch_size=job.batch_rows,
    )
    for batch in reader:
        yield _cx_typed(job, batch)


def _cx_mixed_select(plan: TablePlan) -> str:
    """Integers, floats, strings and binaries as connectorx types them; the rest as CHAR."""
    out = []
    for p in plan.plans:
        quoted = quote_mysql(p.column.name)
        native = p.kind in ("int", "float", "bool", "binary") and p.column.data_type != "year"
        if native or (
            p.kind == "string"
            and p.column.data_type in ("char", "varchar", "text", "mediumtext", "longtext", "json")
        ):
            out.append(quoted)
        else:
            out.append(f"CAST({quoted} AS CHAR) AS {quoted}")
    return ", ".join(out)


def read_cx_mixed(job: Job, extra: str = "") -> Iterator[pa.RecordBatch]:
    """connectorx arrow_stream, native where its type is exact, CHAR for the rest."""
    import connectorx as cx

    reader = cx.read_sql(
        _cx_url(job.endpoint),
        job.literal_sql(_cx_mixed_select(job.plan), extra),
        return_type="arrow_stream",
        pre_execution_query=["SET SESSION time_zone = '+00:00'"],
        batch_size=job.batch_rows,
    )
    for batch in reader:
        yield _cx_typed(job, batch)


def read_cx_native(job: Job) -> Iterator[pa.RecordBatch]:
    """connectorx arrow_stream with its own types, cast to ours (valid for this table only:
    its DECIMAL is decimal128(38,10), so DECIMAL(39+) or zero dates would not survive)."""
    import connectorx as cx

    reader = cx.read_sql(
        _cx_url(job.endpoint),
        job.literal_sql(),
        return_type="arrow_stream",
        pre_execution_query=["SET SESSION time_zone = '+00:00'"],
        batch_size=job.batch_rows,
    )
    schema = job.schema
    for batch in reader:
        arrays = []
        for field, column in zip(schema, batch.columns, strict=True):
            if pa.types.is_timestamp(field.type):
                column = pc.assume_timezone(column, "UTC")
            arrays.append(column.cast(field.type))
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def read_cx_partitioned(job: Job) -> Iterator[pa.RecordBatch]:
    """connectorx splitting the window by primary-key range over 2 connections (return_type
    "arrow": the whole window is materialised before the first batch)."""
    import connectorx as cx

    select = _cx_char_select(job.plan).replace("CAST(`id` AS CHAR) AS `id`", "`id`")  # an int
    table = cx.read_sql(
        _cx_url(job.endpoint),
        job.literal_sql(select),
        return_type="arrow",
        partition_on="id",
        partition_num=2,
        pre_execution_query=["SET SESSION time_zone = '+00:00'"],
    )
    for batch in table.to_batches(max_chunksize=job.batch_rows):
        yield _cx_typed(job, batch)


def _pk_ranges(job: Job, parts: int) -> list[tuple[int, int]]:
    conn = job.endpoint.connect()
    try:
        with conn.cursor() as cur:
            sql = job.query.sql.replace(_select_of(job.query.sql), "MIN(id), MAX(id)")
            cur.execute(sql, job.query.params)
            lo, hi = cur.fetchone()
    finally:
        conn.close()
    if lo is None:
        return []
    step = (hi - lo + parts) // parts
    return [(lo + i * step, min(lo + (i + 1) * step, hi + 1)) for i in range(parts)]


def _select_of(sql: str) -> str:
    return sql.split("SELECT ", 1)[1].split(" FROM", 1)[0]


def read_parallel_threads(job: Job) -> Iterator[pa.RecordBatch]:
    """2 threads, each mysqlclient over one primary-key range of the window (mysqlclient and
    Arrow's casts release the GIL; the Python transpose does not)."""
    return _two_threads(
        job, lambda lo, hi: read_mysqlclient(job, " AND `id` >= %s AND `id` < %s", (lo, hi))
    )


def read_cx_parallel_threads(job: Job) -> Iterator[pa.RecordBatch]:
    """2 threads, each a connectorx stream (mixed projection) over one primary-key range."""
    return _two_threads(
        job, lambda lo, hi: read_cx_mixed(job, f" AND `id` >= {int(lo)} AND `id` < {int(hi)}")
    )


def _two_threads(job: Job, read: Callable) -> Iterator[pa.RecordBatch]:
    ranges = _pk_ranges(job, 2)
    out: queue.Queue = queue.Queue(maxsize=4)
    done = object()

    def work(lo: int, hi: int) -> None:
        try:
            for batch in read(lo, hi):
                out.put(batch)
        except BaseException as e:  # pragma: no cover - surfaced below
            out.put(e)
        out.put(done)

    threads = [threading.Thread(target=work, args=r, daemon=True) for r in ranges]
    for t in threads:
        t.start()
    running = len(threads)
    while running:
        item = out.get()
        if item is done:
            running -= 1
        elif isinstance(item, BaseException):
            raise item
        else:
            yield item


def read_parallel_processes(job: Job) -> Iterator[pa.RecordBatch]:
    """2 processes, each mysqlclient over one primary-key range, batches sent back to this
    process as an Arrow IPC stream over a pipe (the consumer gets every batch, as here)."""
    ranges = _pk_ranges(job, 2)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.drivers",
                "worker",
                "--url",
                job.endpoint.url(),
                "--database",
                DATABASE,
                "--lo-hi",
                f"{lo},{hi}",
                "--bounds",
                ",".join(job.query.params),
                "--batch-rows",
                str(job.batch_rows),
            ],
            stdout=subprocess.PIPE,
        )
        for lo, hi in ranges
    ]
    out: queue.Queue = queue.Queue(maxsize=4)
    done = object()

    def pump(proc: subprocess.Popen) -> None:
        try:
            with pa.ipc.open_stream(proc.stdout) as stream:
                for batch in stream:
                    out.put(batch)
        except BaseException as e:  # pragma: no cover
            out.put(e)
        out.put(done)

    threads = [threading.Thread(target=pump, args=(p,), daemon=True) for p in procs]
    for t in threads:
        t.start()
    running = len(threads)
    while running:
        item = out.get()
        if item is done:
            running -= 1
        elif isinstance(item, BaseException):
            raise item
        else:
            yield item
    for p in procs:
        if p.wait() != 0:
            raise RuntimeError(f"worker failed with {p.returncode}")


VARIANTS: dict[str, Callable[[Job], Iterator[pa.RecordBatch]]] = {
    "pymysql": read_pymysql,
    "mysqlclient": read_mysqlclient,
    "mysql-connector-c": read_connector_c,
    "connectorx-char": read_cx_char,
    "connectorx-mixed": read_cx_mixed,
    "connectorx-native": read_cx_native,
    "connectorx-partitioned-2": read_cx_partitioned,
    "mysqlclient-2-threads": read_parallel_threads,
    "connectorx-mixed-2-threads": read_cx_parallel_threads,
    "mysqlclient-2-processes": read_parallel_processes,
}


def _job(url: str, window: str, batch_rows: int, bounds: tuple[str, str] | None = None) -> Job:
    endpoint = MySqlEndpoint.from_url(url, database=DATABASE)
    conn = endpoint.connect()
    try:
        plan = plan_table(conn, TABLE, cursor="updated_at", primary_key=["id"])
    finally:
        conn.close()
    query = build_window_query(TABLE, plan.plans, "updated_at", bounds or WINDOWS[window])
    return Job(endpoint, plan, query, batch_rows, ConversionStats())


def _digest(batches: Iterator[pa.RecordBatch], schema: pa.Schema) -> tuple[int, int, dict]:
    rows = arrow_bytes = 0
    ids = payload_chars = gifts = big = 0
    total = pa.scalar(0, pa.decimal128(38, 2)).as_py()
    lo = hi = None
    for batch in batches:
        if batch.schema != schema:
            raise AssertionError(f"schema {batch.schema} != {schema}")
        rows += batch.num_rows
        arrow_bytes += batch.nbytes
        ids += pc.sum(batch.column("id").cast(pa.float64())).as_py() or 0
        big += (
            pc.sum(
                pc.greater(batch.column("customer_id"), pa.scalar(2**63 - 1, pa.uint64()))
            ).as_py()
            or 0
        )
        total += pc.sum(batch.column("total")).as_py() or 0
        gifts += pc.sum(batch.column("is_gift")).as_py() or 0
        payload_chars += pc.sum(pc.utf8_length(batch.column("payload"))).as_py() or 0
        mm = pc.min_max(batch.column("updated_at")).as_py()
        lo = mm["min"] if lo is None or (mm["min"] and mm["min"] < lo) else lo
        hi = mm["max"] if hi is None or (mm["max"] and mm["max"] > hi) else hi
    digest = {
        "sum_id": int(ids),
        "customer_id_above_2^63": big,
        "sum_total": str(total),
        "gifts": gifts,
        "payload_chars": payload_chars,
        "min_updated_at": str(lo),
        "max_updated_at": str(hi),
        "schema": str(schema).replace("\n", "; "),
    }
    return rows, arrow_bytes, digest


def _warm_up(job: Job) -> None:
    """Arrow's lazy imports and kernels, outside the timer for every variant alike."""
    cols = [pa.array([b"1"], pa.large_binary())] * len(job.plan.plans)
    for p, c in zip(job.plan.plans, cols, strict=True):
        if p.kind in ("datetime", "timestamp"):
            c = pa.array([b"2024-01-01 00:00:00"], pa.large_binary())
        convert_column(p, c, timezone="UTC", table=TABLE, stats=ConversionStats())
        convert_column(
            p,
            [v.decode() for v in c.to_pylist()],
            timezone="UTC",
            table=TABLE,
            stats=ConversionStats(),
        )


SLOW = "+slow"
SLOW_SECONDS_PER_BATCH = 0.1


def _slowly(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """A consumer slower than the wire (as a Parquet sink can be): does the reader run ahead?"""
    for batch in batches:
        time.sleep(SLOW_SECONDS_PER_BATCH)
        yield batch


def run_child(args: argparse.Namespace) -> None:
    import psutil

    from bench.common import emit

    job = _job(args.url, args.window, args.batch_rows)
    _warm_up(job)
    rss_start = psutil.Process().memory_info().rss
    started = time.perf_counter()
    batches = VARIANTS[args.driver.removesuffix(SLOW)](job)
    if args.driver.endswith(SLOW):
        batches = _slowly(batches)
    rows, arrow_bytes, digest = _digest(batches, job.schema)
    seconds = time.perf_counter() - started
    emit(rows, seconds, arrow_bytes=arrow_bytes, digest=digest, rss_start=rss_start)


PROBE_PAUSE_SECONDS = 3.0
PROBE_VARIANTS = ["pymysql", "mysqlclient", "connectorx-mixed"]


def run_probe(args: argparse.Namespace) -> None:
    """Does the reader run ahead of its consumer? Take one batch, pause, and see how much the
    process grows during the pause: a reader with back-pressure does not grow at all."""
    import psutil

    from bench.common import emit

    job = _job(args.url, args.window, args.batch_rows)
    _warm_up(job)
    me = psutil.Process()
    started = time.perf_counter()
    batches = VARIANTS[args.driver](job)
    first = next(batches)
    rss_first = me.memory_info().rss
    time.sleep(PROBE_PAUSE_SECONDS)
    rss_paused = me.memory_info().rss
    rows = first.num_rows + sum(b.num_rows for b in batches)
    emit(
        rows,
        time.perf_counter() - started,
        rss_first=rss_first,
        rss_paused=rss_paused,
        digest={},
    )


def run_extract(args: argparse.Namespace) -> None:
    """The real consumer: `extract_window` with a registered backend, Parquet per day."""
    import tempfile

    from bench.common import emit
    from etl_platform.extract.extractor import ExtractRequest, extract_window
    from etl_platform.load.lake import Lake

    backend = args.driver.removeprefix("extract:")
    first, last = (dt.date.fromisoformat(b[:10]) for b in WINDOWS[args.window])
    days = [first + dt.timedelta(days=i) for i in range((last - first).days)]
    request = ExtractRequest(
        shard="s0",
        table=TABLE,
        endpoint=MySqlEndpoint.from_url(args.url, database=DATABASE),
        days=days,
        cursor="updated_at",
        primary_key=["id"],
        batch_rows=args.batch_rows,
        backend=backend,
    )
    import psutil

    with tempfile.TemporaryDirectory(prefix="bench_drivers_lake_") as lake:
        _warm_up(_job(args.url, args.window, args.batch_rows))
        rss_start = psutil.Process().memory_info().rss
        started = time.perf_counter()
        result = extract_window(request, Lake(Path(lake)))
        seconds = time.perf_counter() - started
    emit(
        result.rows,
        seconds,
        parquet_bytes=result.bytes,
        digest={"rows": result.rows},
        rss_start=rss_start,
    )


def run_worker(args: argparse.Namespace) -> None:
    lo, hi = (int(v) for v in args.lo_hi.split(","))
    bounds = tuple(args.bounds.split(","))
    job = _job(args.url, "full", args.batch_rows, bounds)  # type: ignore[arg-type]
    sink = pa.output_stream(sys.stdout.buffer)
    with pa.ipc.new_stream(sink, job.schema) as writer:
        for batch in read_mysqlclient(job, " AND `id` >= %s AND `id` < %s", (lo, hi)):
            writer.write_batch(batch)


def run_cli_floor(args: argparse.Namespace) -> None:
    """The server and the wire alone: `mariadb --quick --batch` to /dev/null, no Arrow."""
    from bench.common import emit

    job = _job(args.url, args.window, args.batch_rows)
    e = job.endpoint
    argv = [
        "mariadb",
        "--quick",
        "--batch",
        "--skip-column-names",
        f"-h{e.host}",
        f"-P{e.port}",
        f"-u{e.user}",
        e.database or "",
        "-e",
        "SET time_zone = '+00:00'; " + job.literal_sql(),
    ]
    env = {**os.environ, "MYSQL_PWD": e.password} if e.password else None
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=True, env=env)
    emit(-1, time.perf_counter() - started)


EXTRACT_VARIANTS = ["extract:pymysql", "extract:mysqlclient", "extract:connectorx"]
SLOW_VARIANTS = [f"{v}{SLOW}" for v in ("pymysql", "mysqlclient", "connectorx-mixed")]
VARIANT_NAMES = [*VARIANTS, "mariadb-cli", *EXTRACT_VARIANTS, *SLOW_VARIANTS]


def _child_argv(args: argparse.Namespace, variant: str, window: str) -> list[str]:
    mode = "floor" if variant == "mariadb-cli" else "child"
    if variant.startswith("extract:"):
        mode = "extract"
    return [
        sys.executable,
        "-m",
        "bench.drivers",
        mode,
        "--driver",
        variant,
        "--window",
        window,
        "--url",
        args.url,
        "--database",
        args.database,
        "--batch-rows",
        str(args.batch_rows),
    ]


def _mib(n: float) -> float:
    return n / 2**20


def run_parent(args: argparse.Namespace) -> None:
    from bench.common import measure

    facts = ensure_table(_server(args), args.rows)
    print(f"table: {facts}", flush=True)
    variants = args.drivers.split(",") if args.drivers else VARIANT_NAMES
    unknown = set(variants) - set(VARIANT_NAMES)
    if unknown:
        raise SystemExit(f"unknown variants {sorted(unknown)}; known: {VARIANT_NAMES}")
    windows = ["full", "quarter"] if args.scaling else ["full"]
    results: dict[tuple[str, str], list] = {}
    for r in range(args.rounds):
        order = variants[r % len(variants) :] + variants[: r % len(variants)]
        for window in windows:
            if window == "quarter" and r >= args.scaling_rounds:
                continue
            for variant in order:
                m = measure(variant, _child_argv(args, variant, window))
                results.setdefault((variant, window), []).append(m)
                print(
                    f"round {r + 1} {window:7} {variant:26} rows {m.rows:>8} "
                    f"work {m.work_seconds:6.2f}s wall {m.wall_seconds:6.2f}s "
                    f"peak {_mib(m.peak_rss_bytes):6.0f} MiB",
                    flush=True,
                )
    probes = _probe(args) if args.probe else {}
    report = _report(args, facts, variants, windows, results, probes)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report["json"], indent=2, default=str))
    out.with_suffix(".md").write_text(report["md"])
    print(report["md"])


def _probe(args: argparse.Namespace) -> dict:
    from bench.common import measure

    probes = {}
    for window in ("quarter", "full"):
        for variant in PROBE_VARIANTS:
            argv = _child_argv(args, variant, window)
            argv[3] = "probe"
            m = measure(variant, argv)
            grown = _mib(int(m.detail["rss_paused"]) - int(m.detail["rss_first"]))
            probes[(variant, window)] = {"rows": m.rows, "grown_mib": round(grown, 1)}
            print(
                f"probe {window:7} {variant:26} rows {m.rows:>8} grew {grown:7.1f} MiB", flush=True
            )
    return probes


def _check_digests(results: dict) -> None:
    """Every variant of a kind must have read the same rows and values, window by window."""
    digests: dict[tuple, dict] = {}
    for (variant, window), ms in results.items():
        if variant == "mariadb-cli":
            continue
        for m in ms:
            d = json.dumps({"rows": m.rows, **m.detail["digest"]}, sort_keys=True)
            group = (window, variant.startswith("extract:"))
            first = digests.setdefault(group, {"digest": d, "by": variant})
            if d != first["digest"]:
                raise SystemExit(
                    f"{variant} read something else than {first['by']} in window {window}:"
                    f"\n{d}\n{first['digest']}"
                )


def _median(values) -> float:
    return statistics.median(list(values))


def _growth(ms: list) -> float:
    """Median peak RSS above the RSS the child had when its timer started, MiB."""
    return _mib(_median(m.peak_rss_bytes - int(m.detail.get("rss_start", 0)) for m in ms))


def _report(args, facts, variants, windows, results, probes=None) -> dict:
    _check_digests(results)
    rows_of = {
        w: max((m.rows for (_, mw), ms in results.items() if mw == w for m in ms), default=0)
        for w in windows
    }
    scaling = "quarter" in windows
    head = (
        "| variant | rows | read s median (min-max) | rows/s | Arrow MB/s | peak RSS MiB | wall s |"
    )
    if scaling:
        head += " peak RSS above start MiB: 1/4 window -> full | full / 1/4 |"
    lines = [
        f"`python -m bench.drivers --rows {args.rows} --rounds {args.rounds} "
        f"--batch-rows {args.batch_rows}{' --scaling' if scaling else ''}`",
        "",
        f"table: {facts}; window rows: {rows_of}",
        "",
        head,
        "|" + " --- |" * (head.count("|") - 1),
    ]
    table = []
    for variant in variants:
        ms = results.get((variant, "full"), [])
        if not ms:
            continue
        rows = rows_of["full"]
        work = _median(m.work_seconds for m in ms)
        arrow = ms[0].detail.get("arrow_bytes")
        entry = {
            "variant": variant,
            "rows": rows,
            "work_seconds": [round(m.work_seconds, 3) for m in ms],
            "wall_seconds": [round(m.wall_seconds, 3) for m in ms],
            "peak_rss_mib": [round(_mib(m.peak_rss_bytes), 1) for m in ms],
            "rss_start_mib": [round(_mib(int(m.detail.get("rss_start", 0))), 1) for m in ms],
            "rows_per_second": round(rows / work),
            "arrow_mb_per_second": round(arrow / work / 1e6, 1) if arrow else None,
        }
        cells = [
            variant,
            f"{rows:,}",
            f"{work:.2f} ({min(m.work_seconds for m in ms):.2f}-"
            f"{max(m.work_seconds for m in ms):.2f})",
            f"{rows / work:,.0f}",
            f"{arrow / work / 1e6:,.1f}" if arrow else "n/a",
            f"{_mib(_median(m.peak_rss_bytes for m in ms)):,.0f}",
            f"{_median(m.wall_seconds for m in ms):.2f}",
        ]
        quarter = results.get((variant, "quarter"), [])
        if scaling and quarter and variant != "mariadb-cli":
            small, big = _growth(quarter), _growth(ms)
            cells += [f"{small:,.0f} -> {big:,.0f}", f"{big / max(small, 1):.2f}"]
            entry["quarter_peak_rss_mib"] = [round(_mib(m.peak_rss_bytes), 1) for m in quarter]
            entry["quarter_rss_start_mib"] = [
                round(_mib(int(m.detail.get("rss_start", 0))), 1) for m in quarter
            ]
        elif scaling:
            cells += ["", ""]
        lines.append("| " + " | ".join(cells) + " |")
        table.append(entry)
    if probes:
        lines += [
            "",
            f"Read-ahead probe: RSS growth while the consumer pauses {PROBE_PAUSE_SECONDS:.0f} s "
            "after the first batch (MiB)",
            "",
            "| variant | 1/4 window | full window |",
            "| --- | --- | --- |",
        ]
        for variant in PROBE_VARIANTS:
            q, f = probes[(variant, "quarter")], probes[(variant, "full")]
            lines.append(
                f"| {variant} | {q['grown_mib']:,.1f} ({q['rows']:,} rows) "
                f"| {f['grown_mib']:,.1f} ({f['rows']:,} rows) |"
            )
    md = "\n".join(lines) + "\n"
    json_probes = {f"{v} {w}": r for (v, w), r in (probes or {}).items()}
    return {
        "md": md,
        "json": {
            "facts": facts,
            "window_rows": rows_of,
            "variants": table,
            "read_ahead_probe": json_probes,
        },
    }


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "mode",
        nargs="?",
        default="run",
        choices=["run", "child", "worker", "floor", "extract", "probe"],
    )
    parser.add_argument("--url", default="mysql://root@127.0.0.1:3306/")
    parser.add_argument("--database", default="bench_drivers")
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-rows", type=int, default=20_000)
    parser.add_argument("--drivers", default="", help=f"comma-separated, of {VARIANT_NAMES}")
    parser.add_argument("--scaling", action="store_true", help="also read the first quarter")
    parser.add_argument("--scaling-rounds", type=int, default=1)
    parser.add_argument(
        "--probe", action="store_true", help="also the read-ahead probe (pause after batch 1)"
    )
    parser.add_argument("--out", default=".local/bench/drivers")
    parser.add_argument("--driver", help=argparse.SUPPRESS)
    parser.add_argument("--window", default="full", help=argparse.SUPPRESS)
    parser.add_argument("--lo-hi", help=argparse.SUPPRESS)
    parser.add_argument("--bounds", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    global DATABASE
    DATABASE = args.database
    {
        "run": run_parent,
        "child": run_child,
        "worker": run_worker,
        "floor": run_cli_floor,
        "extract": run_extract,
        "probe": run_probe,
    }[args.mode](args)


if __name__ == "__main__":
    main()
