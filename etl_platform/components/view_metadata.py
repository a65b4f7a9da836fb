"""Materialization metadata for a view: balance per shard, rejects, orphans, drift, a preview."""

from __future__ import annotations

import dagster as dg
import polars as pl

from etl_platform.steps.view_days import PREVIEW_ROWS, DayResult
from etl_platform.transform.view_shape import ShardStats


def markdown_preview(df: pl.DataFrame, rows: int = PREVIEW_ROWS, width: int = 40) -> str:
    """The first rows as a Markdown table, long values cut, for the UI."""
    head = df.head(rows)
    cells = [[_cell(v, width) for v in row] for row in head.iter_rows()]
    header = "| " + " | ".join(head.columns) + " |"
    rule = "|" + "|".join("---" for _ in head.columns) + "|"
    body = ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join([header, rule, *body])


def _cell(value: object, width: int) -> str:
    text = "" if value is None else str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def polars_table_schema(df: pl.DataFrame) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(name=n, type=str(t)) for n, t in df.schema.items()]
    )


def view_day_metadata(day: DayResult) -> dict:
    """One day's event: its rows (a preview, in the day's schema), its balance per shard, and
    the shards left out for lack of inputs."""
    assert day.preview is not None
    rows, stats = day.preview, day.stats
    return {
        "missing_shards": dg.MetadataValue.json(day.missing),
        "dagster/row_count": dg.MetadataValue.int(sum(s.rows_out for s in stats.values())),
        "dagster/column_schema": polars_table_schema(rows),
        "rows_per_shard": dg.MetadataValue.json(
            {
                shard: {
                    "in": s.rows_in,
                    "out": s.rows_out,
                    "rejected": s.rejected,
                    "duplicates": s.duplicates,
                    **({"elements": s.elements} if s.elements else {}),
                }
                for shard, s in sorted(stats.items())
            }
        ),
        "rejects": dg.MetadataValue.int(sum(s.rejected for s in stats.values())),
        "duplicates_removed": dg.MetadataValue.int(sum(s.duplicates for s in stats.values())),
        "orphans": dg.MetadataValue.json(_sum_orphans(stats)),
        "preview": dg.MetadataValue.md(markdown_preview(rows)),
    }


#: What a view day with no rows and nothing left out reports, on every day's event of a run.
EMPTY_VIEW_DAY = {
    "dagster/row_count": dg.MetadataValue.int(0),
    "rejects": dg.MetadataValue.int(0),
    "duplicates_removed": dg.MetadataValue.int(0),
    "missing_shards": dg.MetadataValue.json({}),
    "orphans": dg.MetadataValue.json({}),
}


def says_more(day: DayResult) -> bool:
    """Whether the day has more to report than `EMPTY_VIEW_DAY`: rows read or rejected, or a
    shard left out."""
    return bool(day.missing) or any(s.rows_in or s.rejected for s in day.stats.values())


def view_window_metadata(drift: dict[str, dict[str, int]], *, path: str) -> dict:
    """What a run's days share: the JSON keys no column reads (sampled over the run's days)."""
    return {"json_drift": dg.MetadataValue.json(drift), "path": dg.MetadataValue.path(path)}


def _sum_orphans(stats: dict[str, ShardStats]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in stats.values():
        for table, n in s.orphans.items():
            out[table] = out.get(table, 0) + n
    return out
