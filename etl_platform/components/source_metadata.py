"""Materialization metadata for a raw extract: what was read, how, and what it looked like."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pyarrow as pa

from etl_platform.components.null_cursor_check import NULL_CURSOR_ROWS
from etl_platform.extract.drift import SchemaDrift, not_compared
from etl_platform.extract.extractor import ExtractResult
from etl_platform.extract.null_cursor_rows import NullCursorReport


def table_schema(schema: pa.Schema) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name=f.name, type=str(f.type)) for f in schema])


def extract_metadata(result: ExtractResult, *, shard: str, backend: str, path: str) -> dict:
    """What the window's read shares (its query, plan, schema, cursor range), for
    `range_metadata`; `extract_day_metadata` has each day's own counts."""
    return {
        "dagster/column_schema": table_schema(result.schema),
        "shard": shard,
        "backend": backend,
        # Over the whole read, not the day: named so on each day's event.
        "window_min_cursor": str(result.min_cursor) if result.min_cursor is not None else "",
        "window_max_cursor": str(result.max_cursor) if result.max_cursor is not None else "",
        "window_zero_dates_nulled": dg.MetadataValue.json(result.zero_dates),
        "query": dg.MetadataValue.md(f"```sql\n{result.query.describe()}\n```"),
        "cursor_index": result.plan.cursor_index or "none",
        "explain": dg.MetadataValue.json(result.explain),
        "path": dg.MetadataValue.path(path),
    }


def schema_drift_metadata(drift: SchemaDrift | None, why_not: str) -> dg.MetadataValue:
    """`schema_drift`: the columns read against the schema snapshot (added, dropped, changed
    with both MySQL types), or why nothing was compared."""
    return dg.MetadataValue.json(drift.as_json() if drift is not None else not_compared(why_not))


def null_cursor_metadata(report: NullCursorReport, *, rejects_path: str) -> dict:
    """The table's NULL-cursor rows on the shard now (not the window's), and where the ones
    that land on no day were kept."""
    metadata: dict = {
        NULL_CURSOR_ROWS: dg.MetadataValue.int(report.rows),
        "null_cursor_rule": report.rule.describe(),
        "null_cursor_query": dg.MetadataValue.md(f"```sql\n{report.query}\n```"),
    }
    if report.rule.fallback:
        metadata["null_cursor_placed_by_fallback"] = dg.MetadataValue.int(report.placed)
    if report.rejected is not None:
        metadata["null_cursor_rejected"] = dg.MetadataValue.int(report.rejected)
        metadata["null_cursor_rejects_path"] = dg.MetadataValue.path(rejects_path)
    return metadata


#: What a day of the window without rows reports, on every day's event of the run.
EMPTY_EXTRACT_DAY = {"dagster/row_count": dg.MetadataValue.int(0), "bytes": dg.MetadataValue.int(0)}


def extract_day_metadata(result: ExtractResult) -> dict[dt.date, dict]:
    """Each day with rows: its rows and Parquet bytes, for that day's event alone (a day
    without reports `EMPTY_EXTRACT_DAY`)."""
    return {
        day: {
            "dagster/row_count": dg.MetadataValue.int(stats.rows),
            "bytes": dg.MetadataValue.int(stats.bytes),
        }
        for day, stats in sorted(result.days.items())
        if stats.rows
    }
