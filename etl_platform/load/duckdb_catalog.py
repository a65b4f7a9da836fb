"""The local Athena stand-in: a DuckDB file with one view per dataset over the lake's Parquet.

`duckdb .local/lake.duckdb "SELECT ... FROM orders_enriched WHERE updated_at = DATE '...'"` then
reads the Hive layout the way Athena would, `updated_at` being the folder's day.
"""

from __future__ import annotations

import duckdb

from etl_platform.identifiers import quote_ansi
from etl_platform.layout import PARTITION_COLUMN, PARTITION_FOLDER_GLOB
from etl_platform.load.lake import Dataset


def _literal(text: str) -> str:
    """A SQL string literal; DDL cannot bind parameters, so quote it properly instead."""
    return "'" + text.replace("'", "''") + "'"


def view_sql(name: str, dataset: Dataset) -> str:
    glob = str(dataset.dir / PARTITION_FOLDER_GLOB / "*.parquet")
    return (
        f"CREATE OR REPLACE VIEW {quote_ansi(name)} AS SELECT * FROM read_parquet("
        f"{_literal(glob)}, hive_partitioning = true, union_by_name = true, "
        f"hive_types = {{{_literal(PARTITION_COLUMN)}: DATE}})"
    )


def register_view(conn: duckdb.DuckDBPyConnection, name: str, dataset: Dataset) -> bool:
    """(Re)create the view when the dataset has at least one file; says whether it did."""
    if not any(dataset.dir.glob(f"{PARTITION_FOLDER_GLOB}/*.parquet")):
        return False
    conn.execute(view_sql(name, dataset))
    return True
