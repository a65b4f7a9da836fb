"""A bounded sample of a table's latest rows, typed as extraction types them: what the view
scaffold guesses its types from and runs the view's transform on."""

from __future__ import annotations

import pyarrow as pa

from etl_platform.extract import pymysql_reader
from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.extract.introspect import TablePlan
from etl_platform.extract.query import WindowQuery
from etl_platform.extract.types import ConversionStats, arrow_schema
from etl_platform.identifiers import quote_mysql


def sample_rows(endpoint: MySqlEndpoint, plan: TablePlan, *, limit: int, timezone: str) -> pa.Table:
    """The `limit` most recently updated rows of the planned table, as Arrow (raw-zone types).

    Recent rows, because they show what writers store today, not what they stored years ago.
    """
    columns = ", ".join(p.select_expr for p in plan.plans)
    sql = (
        f"SELECT {columns} FROM {quote_mysql(plan.table)} "
        f"ORDER BY {quote_mysql(plan.cursor)} DESC LIMIT {int(limit)}"
    )
    # Bound with no parameters, so a literal % is written %%.
    query = WindowQuery(sql=sql.replace("%", "%%"), params=())
    batches = pymysql_reader.read_batches(
        endpoint,
        plan,
        query,
        timezone=timezone,
        batch_rows=max(1, limit),
        stats=ConversionStats(),
    )
    return pa.Table.from_batches(list(batches), schema=arrow_schema(plan.plans))
