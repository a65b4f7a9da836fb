"""Read one day of a Redshift table back as Arrow: for copying old Redshift data to Athena."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from etl_platform.identifiers import quote_ansi, validate_identifier
from etl_platform.layout import PARTITION_COLUMN
from etl_platform.load.redshift_loader import RedshiftTarget

BATCH_ROWS = 50_000

_COLUMNS_SQL = """
SELECT column_name, data_type, numeric_precision, numeric_scale
FROM information_schema.columns
WHERE table_schema = %s AND table_name = %s
ORDER BY ordinal_position
"""

_SIMPLE = {
    "smallint": pa.int16(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "real": pa.float32(),
    "double precision": pa.float64(),
    "boolean": pa.bool_(),
    "character varying": pa.string(),
    "character": pa.string(),
    "text": pa.string(),
    "date": pa.date32(),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    "timestamp without time zone": pa.timestamp("us", tz="UTC"),  # Redshift TIMESTAMP is UTC
    "bytea": pa.binary(),
    "binary varying": pa.binary(),
}


def arrow_type(
    data_type: str, precision: int | None, scale: int | None, *, column: str
) -> pa.DataType:
    """The Arrow type of a Redshift/PostgreSQL column; an unknown one names the column."""
    if data_type == "numeric":
        return pa.decimal128(precision or 38, scale or 0)
    if data_type in _SIMPLE:
        return _SIMPLE[data_type]
    raise TypeError(f"column {column}: Redshift type {data_type!r} has no Arrow mapping")


def read_day(target: RedshiftTarget, table: str, day: dt.date) -> pa.Table:
    """The table's rows for `day` (value bound), without the partition column, typed."""
    validate_identifier(table, what="Redshift table")
    with target.connect() as conn, conn.cursor() as cur:
        cur.execute(_COLUMNS_SQL, (target.schema, table))
        columns = [c for c in cur.fetchall() if c[0] != PARTITION_COLUMN]
        if not columns:
            raise LookupError(f"{target.schema}.{table} does not exist at {target.describe()}")
        schema = pa.schema(
            [pa.field(name, arrow_type(t, p, s, column=name)) for name, t, p, s in columns]
        )
        select = ", ".join(quote_ansi(name) for name, *_ in columns)
        batches = []
        with conn.cursor(name="etl_read_day") as named:  # server-side: fetched in batches
            named.execute(
                f"SELECT {select} FROM {quote_ansi(target.schema, table)} "
                f"WHERE {quote_ansi(PARTITION_COLUMN)} = %s",
                (day,),
            )
            while rows := named.fetchmany(BATCH_ROWS):
                batches.append(
                    pa.RecordBatch.from_pylist(
                        [dict(zip(schema.names, r, strict=True)) for r in rows], schema=schema
                    )
                )
    return pa.Table.from_batches(batches, schema=schema)
