"""The local Athena stand-in: a DuckDB file with one view per dataset over the lake's Parquet.

`duckdb .local/lake.duckdb "SELECT ... FROM orders_enriched WHERE updated_at = DATE '...'"` then
reads the Hive layout the way Athena would, `updated_at` being the folder's day. A dataset with
no file (never written, or every day written with no rows, which leaves no file) is an empty
view with the columns it would have, so queries over it answer no rows instead of failing.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pyarrow as pa

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


def _plain(field: pa.Field) -> pa.Field:
    """A dictionary column as its values' type: DuckDB would make it an ENUM of the values."""
    if pa.types.is_dictionary(field.type):
        return field.with_type(field.type.value_type)
    return field


def empty_view_sql(conn: duckdb.DuckDBPyConnection, name: str, schema: pa.Schema) -> str:
    """A view of no rows with `schema`'s columns (in DuckDB's types) and the partition column,
    as the Parquet view would have them."""
    plain = pa.schema([_plain(f) for f in schema])
    relation = conn.from_arrow(pa.Table.from_batches([], plain))  # empty_table() imports pandas
    columns = [
        f"CAST(NULL AS {kind}) AS {quote_ansi(column)}"
        for column, kind in zip(relation.columns, relation.types, strict=True)
        if column != PARTITION_COLUMN
    ]
    columns.append(f"CAST(NULL AS DATE) AS {quote_ansi(PARTITION_COLUMN)}")
    return f"CREATE OR REPLACE VIEW {quote_ansi(name)} AS SELECT {', '.join(columns)} WHERE false"


def register_view(
    conn: duckdb.DuckDBPyConnection,
    name: str,
    dataset: Dataset,
    empty_schema: pa.Schema | None = None,
) -> bool:
    """(Re)create the view over the dataset's files; without files, an empty view of
    `empty_schema` (the columns a run would have written). Says whether it made one."""
    if any(dataset.dir.glob(f"{PARTITION_FOLDER_GLOB}/*.parquet")):
        conn.execute(view_sql(name, dataset))
    elif empty_schema is not None and len(empty_schema):
        conn.execute(empty_view_sql(conn, name, empty_schema))
    else:
        return False
    return True


def register_parquet_view(
    conn: duckdb.DuckDBPyConnection,
    name: str,
    files: str,
    *,
    hive_dates: Sequence[str] = (),
) -> None:
    """(Re)create view `name` over `files` (a Parquet path or glob); `hive_dates` are the Hive
    folder keys read as DATE (a second partitioning's column)."""
    options = ", union_by_name = true"
    if hive_dates:
        types = ", ".join(f"{_literal(c)}: DATE" for c in hive_dates)
        options += f", hive_partitioning = true, hive_types = {{{types}}}"
    conn.execute(
        f"CREATE OR REPLACE VIEW {quote_ansi(name)} AS SELECT * FROM read_parquet("
        f"{_literal(files)}{options})"
    )
