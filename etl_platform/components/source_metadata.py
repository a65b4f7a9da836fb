"""Materialization metadata for a raw extract: what was read, how, and what it looked like."""

from __future__ import annotations

import dagster as dg
import pyarrow as pa

from etl_platform.extract.extractor import ExtractResult


def table_schema(schema: pa.Schema) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name=f.name, type=str(f.type)) for f in schema])


def extract_metadata(result: ExtractResult, *, shard: str, backend: str, path: str) -> dict:
    return {
        "dagster/row_count": dg.MetadataValue.int(result.rows),
        "dagster/column_schema": table_schema(result.schema),
        "shard": shard,
        "backend": backend,
        "bytes": dg.MetadataValue.int(result.bytes),
        "rows_per_day": dg.MetadataValue.json(
            {d.isoformat(): s.rows for d, s in sorted(result.days.items())}
        ),
        "min_cursor": str(result.min_cursor) if result.min_cursor is not None else "",
        "max_cursor": str(result.max_cursor) if result.max_cursor is not None else "",
        "zero_dates_nulled": dg.MetadataValue.json(result.zero_dates),
        "query": dg.MetadataValue.md(f"```sql\n{result.query.describe()}\n```"),
        "cursor_index": result.plan.cursor_index or "none",
        "explain": dg.MetadataValue.json(result.explain),
        "path": dg.MetadataValue.path(path),
    }
