"""Read a snapshot table whole from one shard into its one raw file, with when it was read.

A table with no usable date column (`mode: snapshot`) has no day to select by: each refresh
reads every row, streamed `batch_rows` at a time in one consistent read, typed exactly as a
window's rows, and replaces the table's snapshot file whole. The lookup state dates what
changed since the previous snapshot by the time recorded here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence

import pyarrow as pa
import pymysql

from etl_platform.extract.backends import get_batch_reader, streaming_backend_for
from etl_platform.extract.connection import MySqlEndpoint, shard_unavailable
from etl_platform.extract.drift import SchemaDrift
from etl_platform.extract.extractor import check_schema_drift, staged_read
from etl_platform.extract.introspect import TablePlan, plan_table
from etl_platform.extract.query import WindowQuery, whole_table_query
from etl_platform.extract.types import ConversionStats, arrow_schema
from etl_platform.load.lake import Lake
from etl_platform.runtime.parallel import prefetched
from etl_platform.specs.sources import SNAPSHOT_AT


@dataclasses.dataclass(frozen=True)
class SnapshotRequest:
    shard: str
    table: str
    endpoint: MySqlEndpoint
    primary_key: Sequence[str]
    #: When the read starts (UTC): the snapshot's time, in its file's footer.
    taken_at: dt.datetime
    timezone: str = "UTC"
    exclude_columns: Sequence[str] = ()
    batch_rows: int = 20_000
    backend: str = "auto"  # see extract.backends; a streaming one reads the table
    connect_timeout: float = 10
    read_timeout: float | None = 3600
    #: The table's columns in the schema snapshot (name → COLUMN_TYPE); None: not compared.
    snapshot_columns: Mapping[str, str] | None = None
    on_schema_change: str = "evolve"


@dataclasses.dataclass(frozen=True)
class SnapshotResult:
    plan: TablePlan
    query: WindowQuery
    schema: pa.Schema
    taken_at: dt.datetime
    rows: int
    bytes: int
    #: The driver that read the table.
    backend: str
    zero_dates: dict[str, int]
    schema_drift: SchemaDrift | None = None


def extract_snapshot(req: SnapshotRequest, lake: Lake) -> SnapshotResult:
    """Read every row of the table and swap the new snapshot file in; a shard that cannot be
    reached is a `ShardUnavailableError`, and nothing in place changes."""
    try:
        conn = req.endpoint.connect(connect_timeout=req.connect_timeout)
    except pymysql.err.Error as e:
        raise shard_unavailable(req.shard, req.endpoint, req.table, e) from None
    try:
        plan = plan_table(
            conn,
            req.table,
            cursor=None,
            primary_key=req.primary_key,
            exclude=req.exclude_columns,
            shard=req.shard,
        )
    finally:
        conn.close()
    if any(p.column.name == SNAPSHOT_AT for p in plan.plans):
        raise LookupError(
            f"shard {req.shard}: table `{req.table}` has a column `{SNAPSHOT_AT}`, the name a "
            "snapshot table's lookup state gives its versions' time; exclude or rename it"
        )
    drift = check_schema_drift(
        plan,
        req.snapshot_columns,
        shard=req.shard,
        exclude=req.exclude_columns,
        on_schema_change=req.on_schema_change,
    )
    query = whole_table_query(req.table, plan.plans)
    schema = arrow_schema(plan.plans)
    stats = ConversionStats()
    backend = streaming_backend_for(req.backend)
    writer = lake.snapshot(req.shard, req.table).open(schema, req.taken_at)
    with staged_read(writer, shard=req.shard, endpoint=req.endpoint, table=req.table):
        batches = get_batch_reader(backend)(
            req.endpoint,
            plan,
            query,
            timezone=req.timezone,
            batch_rows=req.batch_rows,
            stats=stats,
            connect_timeout=req.connect_timeout,
            read_timeout=req.read_timeout,
        )
        for batch in prefetched(batches, depth=1):
            writer.write(batch)
        written = writer.commit()
    return SnapshotResult(
        plan=plan,
        query=query,
        schema=schema,
        taken_at=req.taken_at,
        rows=written.rows,
        bytes=written.bytes,
        backend=backend,
        zero_dates=dict(stats.zero_dates),
        schema_drift=drift,
    )
