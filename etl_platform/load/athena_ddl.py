"""Athena DDL for a view's table, as text: what the Glue registration amounts to.

Partitions are registered in Glue one by one rather than with partition projection: a rewrite
lands in a new versioned prefix and the partition's location is switched to it in one catalog
call, so a query never sees old and new files together. Projection derives every location from a
template and could not point a partition at a new version.
"""

from __future__ import annotations

import pyarrow as pa

from etl_platform.identifiers import quote_hive, validate_identifier
from etl_platform.layout import PARTITION_COLUMN
from etl_platform.load.athena_types import athena_type


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def table_location(bucket: str, prefix: str, view: str) -> str:
    path = "/".join(p.strip("/") for p in (prefix, view) if p.strip("/"))
    return f"s3://{bucket}/{path}/"


def create_table_ddl(database: str, view: str, schema: pa.Schema, location: str) -> str:
    """CREATE EXTERNAL TABLE for the view: Parquet, partitioned by the `updated_at` day."""
    validate_identifier(database, what="Glue database")
    columns = ",\n".join(
        f"  {quote_hive(f.name)} {athena_type(f.type, column=f.name)}"
        for f in schema
        if f.name != PARTITION_COLUMN
    )
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS {quote_hive(database, view)} (\n{columns}\n)\n"
        f"PARTITIONED BY ({quote_hive(PARTITION_COLUMN)} date)\n"
        "ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'\n"
        "STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat'\n"
        "OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat'\n"
        f"LOCATION {_literal(location)}\n"
        "TBLPROPERTIES ('classification'='parquet', 'parquet.compression'='ZSTD')"
    )
