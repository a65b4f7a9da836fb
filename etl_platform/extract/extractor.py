"""Extract one shard x table for a window of days into the raw zone, with what it saw."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pymysql

from etl_platform.errors import SchemaChanged
from etl_platform.extract.backends import get_batch_reader, reader_for
from etl_platform.extract.connection import MySqlEndpoint, is_connect_error, shard_unavailable
from etl_platform.extract.drift import SchemaDrift, compare_columns
from etl_platform.extract.introspect import TablePlan, explain, plan_table
from etl_platform.extract.null_cursor import fallback_bounds, fill_cursor
from etl_platform.extract.query import WindowQuery, build_window_query, cursor_bounds
from etl_platform.extract.types import ConversionStats, arrow_schema
from etl_platform.load.lake import DayStats, Lake
from etl_platform.runtime.memory import release_free_memory
from etl_platform.runtime.parallel import prefetched

#: The change position column of a CDC table's rows (`transform.changes.POS`).
LOG_POSITION = "_log_pos"


@dataclasses.dataclass(frozen=True)
class ExtractRequest:
    shard: str
    table: str
    endpoint: MySqlEndpoint
    days: Sequence[dt.date]
    cursor: str
    primary_key: Sequence[str]
    timezone: str = "UTC"
    exclude_columns: Sequence[str] = ()
    batch_rows: int = 20_000
    backend: str = "auto"  # see extract.backends
    connect_timeout: float = 10
    read_timeout: float | None = 3600
    #: The table's own first day (`tables.<t>.start`): earlier days are written empty, unread.
    first_day: dt.date | None = None
    #: `null_cursor: {fallback: COLUMN}`: rows with a NULL cursor land on this column's day.
    fallback: str | None = None
    #: The table's columns in the schema snapshot (name → COLUMN_TYPE); None: not compared.
    snapshot_columns: Mapping[str, str] | None = None
    #: `tables.<t>.on_schema_change`: `fail` stops before anything is written.
    on_schema_change: str = "evolve"
    #: A `mode: cdc` table's re-read: the binlog position taken before it (`_log_pos` text),
    #: written on every row, so the day's changes at or before it lose to the rows read and
    #: later ones win (docs/cdc.md).
    log_position: str | None = None

    @property
    def read_days(self) -> list[dt.date]:
        """The days that are read: those from the table's own first day on."""
        return [d for d in self.days if self.first_day is None or d >= self.first_day]

    @property
    def window(self) -> tuple[dt.datetime, dt.datetime]:
        days = self.read_days
        start = dt.datetime.combine(min(days), dt.time(), tzinfo=dt.UTC)
        end = dt.datetime.combine(max(days) + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        return start, end


@dataclasses.dataclass(frozen=True)
class ExtractResult:
    plan: TablePlan
    query: WindowQuery
    explain: dict
    schema: pa.Schema
    days: dict[dt.date, DayStats]
    #: The driver that read the window (`backends.reader_for`).
    backend: str
    min_cursor: dt.datetime | dt.date | None
    max_cursor: dt.datetime | dt.date | None
    zero_dates: dict[str, int]
    #: The live columns against the snapshot; None when there was none to compare with.
    schema_drift: SchemaDrift | None = None

    @property
    def rows(self) -> int:
        return sum(d.rows for d in self.days.values())

    @property
    def bytes(self) -> int:
        return sum(d.bytes for d in self.days.values())


class _Staged(Protocol):
    def abort(self) -> None: ...


@contextlib.contextmanager
def staged_read(
    writer: _Staged, *, shard: str, endpoint: MySqlEndpoint, table: str
) -> Iterator[None]:
    """A read into `writer`: any failure drops what it staged (the lake keeps its files) and a
    lost connection names the shard; after it, the driver's buffers are released, so the next
    step does not stack on them."""
    try:
        yield
    except pymysql.err.OperationalError as e:
        writer.abort()
        if is_connect_error(e):
            raise shard_unavailable(shard, endpoint, table, e) from None
        raise
    except BaseException:
        writer.abort()
        raise
    finally:
        release_free_memory()


def extract_window(req: ExtractRequest, lake: Lake) -> ExtractResult:
    """Read rows with cursor in the window in one range query; write one folder per day."""
    try:
        conn = req.endpoint.connect(connect_timeout=req.connect_timeout)
    except pymysql.err.Error as e:
        raise shard_unavailable(req.shard, req.endpoint, req.table, e) from None
    try:
        plan = plan_table(
            conn,
            req.table,
            cursor=req.cursor,
            primary_key=req.primary_key,
            exclude=req.exclude_columns,
            shard=req.shard,
        )
        drift = _schema_drift(req, plan)
        # Days before the table's own start are written empty: the window reads from there.
        start, end = req.window if req.read_days else _before_start(req)
        bounds = cursor_bounds(start, end, cursor_kind=plan.cursor_plan.kind, timezone=req.timezone)
        query = build_window_query(
            req.table,
            plan.plans,
            req.cursor,
            bounds,
            fallback=req.fallback,
            fallback_bounds=fallback_bounds(plan, req.fallback, start, end, timezone=req.timezone),
        )
        plan_explained = explain(conn, query.sql, query.params) if req.read_days else {}
        query = dataclasses.replace(query, access=plan_explained.get("type"))
    finally:
        conn.close()

    schema = arrow_schema(plan.plans)
    if req.log_position is not None:
        schema = schema.append(pa.field(LOG_POSITION, pa.large_string()))
    stats = ConversionStats()
    writer = lake.raw(req.shard, req.table).open_window(req.days, schema)
    lo = hi = None
    reader = get_batch_reader(req.backend)
    with staged_read(writer, shard=req.shard, endpoint=req.endpoint, table=req.table):
        batches = (
            reader(
                req.endpoint,
                plan,
                query,
                timezone=req.timezone,
                batch_rows=req.batch_rows,
                stats=stats,
                connect_timeout=req.connect_timeout,
                read_timeout=req.read_timeout,
            )
            if req.read_days
            else iter(())
        )
        # The next batch is fetched and converted while this one is encoded to Parquet.
        for batch in prefetched(batches, depth=1):
            if req.fallback is not None:
                batch = fill_cursor(batch, req.cursor, req.fallback)
            cursor_values = batch.column(req.cursor)
            if req.log_position is not None:
                batch = batch.append_column(
                    LOG_POSITION,
                    pa.repeat(pa.scalar(req.log_position, pa.large_string()), batch.num_rows),
                )
            writer.write(batch, cursor_day(cursor_values))
            lo, hi = _extend(lo, hi, cursor_values)
        days = writer.commit()
    return ExtractResult(
        plan=plan,
        query=query,
        explain=plan_explained,
        schema=schema,
        days=days,
        backend=reader_for(req.backend, plan, query),
        min_cursor=lo,
        max_cursor=hi,
        zero_dates=dict(stats.zero_dates),
        schema_drift=drift,
    )


def _schema_drift(req: ExtractRequest, plan: TablePlan) -> SchemaDrift | None:
    return check_schema_drift(
        plan,
        req.snapshot_columns,
        shard=req.shard,
        exclude=req.exclude_columns,
        on_schema_change=req.on_schema_change,
    )


def check_schema_drift(
    plan: TablePlan,
    snapshot_columns: Mapping[str, str] | None,
    *,
    shard: str,
    exclude: Sequence[str],
    on_schema_change: str,
) -> SchemaDrift | None:
    """The columns read against the snapshot the views were validated with; under `fail`, a
    difference stops the read before any file is written."""
    if snapshot_columns is None:
        return None
    live = {p.column.name: p.column.column_type for p in plan.plans}
    drift = compare_columns(snapshot_columns, live, exclude=exclude)
    if drift and on_schema_change == "fail":
        raise SchemaChanged(
            f"shard {shard} table `{plan.table}` differs from the schema snapshot "
            f"(on_schema_change: fail): {'; '.join(drift.changes())}. Nothing was written; "
            "check the views against the change, then refresh the snapshot with "
            "`etl-platform sources schema`",
            drift.as_json(),
        )
    return drift


def _before_start(req: ExtractRequest) -> tuple[dt.datetime, dt.datetime]:
    """A window of the table's first day alone: the query built (and shown), never run."""
    assert req.first_day is not None
    start = dt.datetime.combine(req.first_day, dt.time(), tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


def cursor_day(values: pa.Array) -> pa.Array:
    """The UTC day of each cursor value (DATE cursors are their own day)."""
    if pa.types.is_date32(values.type):
        return values
    return values.cast(pa.date32())


def _extend(lo: object, hi: object, values: pa.Array) -> tuple:
    mm = pc.min_max(values).as_py()
    new_lo, new_hi = mm["min"], mm["max"]
    if new_lo is not None and (lo is None or new_lo < lo):
        lo = new_lo
    if new_hi is not None and (hi is None or new_hi > hi):
        hi = new_hi
    return lo, hi
