"""Stream a table's primary-key columns from a shard, typed exactly as the raw zone types them.

For reads that are not cursor windows: the keys of rows with a NULL cursor, and a table's whole
key set for reconciliation. The streaming reader pulls `batch_rows` at a time, so memory holds
a batch, not the table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import pyarrow as pa
import pymysql

from etl_platform.extract.backends import streaming_reader
from etl_platform.extract.connection import MySqlEndpoint, is_connect_error, shard_unavailable
from etl_platform.extract.introspect import TablePlan, plan_on_shard
from etl_platform.extract.query import WindowQuery, key_set_sql
from etl_platform.extract.types import ConversionStats


def key_plan(plan: TablePlan) -> TablePlan:
    """The plan restricted to the primary key's columns, in the key's order."""
    by_name = {p.column.name: p for p in plan.plans}
    return dataclasses.replace(plan, plans=tuple(by_name[k] for k in plan.primary_key))


def key_exprs(plan: TablePlan) -> list[str]:
    return [p.select_expr for p in key_plan(plan).plans]


def read_keys(
    endpoint: MySqlEndpoint,
    plan: TablePlan,
    sql: str,
    *,
    shard: str,
    timezone: str,
    batch_rows: int,
    connect_timeout: float,
    read_timeout: float | None,
) -> Iterator[pa.RecordBatch]:
    """Batches of the key columns `sql` selects (built with `key_exprs`, nothing bound).

    A lost or refused connection is the shard's unavailability, named as the extractor names it.
    """
    keys = key_plan(plan)
    try:
        yield from streaming_reader()(
            endpoint,
            keys,
            WindowQuery(sql=sql, params=()),
            timezone=timezone,
            batch_rows=batch_rows,
            stats=ConversionStats(),
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
    except pymysql.err.OperationalError as e:
        if not is_connect_error(e):
            raise
        raise shard_unavailable(shard, endpoint, plan.table, e) from None


def read_key_set(
    endpoint: MySqlEndpoint,
    table: str,
    *,
    cursor: str,
    primary_key: Sequence[str],
    shard: str,
    timezone: str,
    batch_rows: int,
    connect_timeout: float,
    read_timeout: float | None,
) -> Iterator[pa.RecordBatch]:
    """Every key of the table on the shard, in batches; the shard is asked only once the first
    batch is wanted."""
    plan = plan_on_shard(
        endpoint,
        table,
        cursor=cursor,
        primary_key=primary_key,
        shard=shard,
        connect_timeout=connect_timeout,
    )
    yield from read_keys(
        endpoint,
        plan,
        key_set_sql(table, key_exprs(plan)),
        shard=shard,
        timezone=timezone,
        batch_rows=batch_rows,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
