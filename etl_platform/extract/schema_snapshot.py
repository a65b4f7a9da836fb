"""The `SourceSchema` snapshot on the extractor's side: read from the shards, and read as the
extractor would (its Arrow types, the columns it cannot read)."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pyarrow as pa

from etl_platform.extract.connection import endpoint_for
from etl_platform.extract.introspect import read_columns
from etl_platform.extract.types import ColumnInfo, UnsupportedTypeError, plan_column
from etl_platform.specs.loader import load_source_schema
from etl_platform.specs.source_schema import SourceSchema
from etl_platform.specs.sources import SourcesSpec

_DECIMAL = re.compile(r"^(?:decimal|numeric)\((\d+)(?:,(\d+))?\)")


def snapshot_schema(sources: SourcesSpec, shard: str | None = None) -> SourceSchema:
    """Each table's columns as the given shard (default: the table's first shard) has them."""
    tables: dict[str, dict[str, str]] = {}
    for table in sources.tables:
        name = shard or sources.shards_for(table)[0]
        endpoint = endpoint_for(name, sources.shards[name])
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


def column_info(name: str, column_type: str) -> ColumnInfo:
    """Rebuild what information_schema said from the COLUMN_TYPE text alone."""
    text = column_type.strip().lower()
    data_type = re.split(r"[\s(]", text, maxsplit=1)[0]
    precision = scale = None
    if m := _DECIMAL.match(text):
        precision, scale = int(m.group(1)), int(m.group(2) or 0)
    return ColumnInfo(
        name=name,
        data_type=data_type,
        column_type=column_type,
        numeric_precision=precision,
        numeric_scale=scale,
    )


def column_infos(schema: SourceSchema, table: str) -> list[ColumnInfo]:
    """A table's snapshot columns, in table order (none for a table not in the snapshot)."""
    return [column_info(name, ctype) for name, ctype in schema.tables.get(table, {}).items()]


def snapshot_arrow_schema(
    schema: SourceSchema, table: str, *, exclude: tuple[str, ...] = ()
) -> pa.Schema:
    """The Arrow schema the extractor writes for this table."""
    return pa.schema(
        [
            pa.field(c.name, plan_column(c, table=table).arrow_type)
            for c in column_infos(schema, table)
            if c.name not in exclude
        ]
    )


def unreadable_columns(sources: SourcesSpec, schema: SourceSchema) -> list[tuple[str, str]]:
    """(field, reason) for each snapshot column the extractor has no type for and that
    `exclude_columns` does not leave out, tables in sources.yaml order."""
    problems = []
    for table, spec in sources.tables.items():
        for column in column_infos(schema, table):
            if column.name in spec.exclude_columns:
                continue
            try:
                plan_column(column, table=table)
            except UnsupportedTypeError:
                problems.append(
                    (
                        f"tables.{table}",
                        f"column {column.name} has type {column.column_type} that cannot be "
                        "read; add it to exclude_columns",
                    )
                )
    return problems


def snapshot_columns(path: Path, table: str) -> tuple[dict[str, str] | None, str]:
    """A table's snapshot columns for the extractor's drift check, or None and why not.

    Read once per process and file version (each asset of a run asks): a refreshed snapshot is
    picked up without a restart.
    """
    if not path.is_file():
        return None, f"no schema snapshot at {path}"
    stat = path.stat()
    schema = _loaded_snapshot(path, stat.st_mtime_ns, stat.st_size)
    if table not in schema.tables:
        return None, f"table {table} is not in the schema snapshot {path}"
    return dict(schema.tables[table]), ""


@functools.lru_cache(maxsize=4)
def _loaded_snapshot(path: Path, mtime_ns: int, size: int) -> SourceSchema:
    return load_source_schema(path)
