"""Read the tables' columns from the shards into a `SourceSchema` snapshot."""

from __future__ import annotations

from etl_platform.extract.introspect import read_columns
from etl_platform.specs.source_schema import SourceSchema
from etl_platform.specs.sources import SourcesSpec


def snapshot_schema(sources: SourcesSpec, shard: str | None = None) -> SourceSchema:
    """Each table's columns as the given shard (default: the table's first shard) has them."""
    tables: dict[str, dict[str, str]] = {}
    for table in sources.tables:
        name = shard or sources.shards_for(table)[0]
        endpoint = sources.shards[name].endpoint(name)
        conn = endpoint.connect(connect_timeout=sources.extract.connect_timeout_seconds)
        try:
            columns = read_columns(conn, table)
        finally:
            conn.close()
        if not columns:
            raise LookupError(
                f"shard {name}: table `{table}` does not exist in {endpoint.describe()}"
            )
        tables[table] = {c.name: c.column_type for c in columns}
    return SourceSchema(tables=tables)
