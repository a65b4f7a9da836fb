"""The batch extract's request for one shard x table over days, from `sources.yaml`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.extract.extractor import ExtractRequest
from etl_platform.specs.sources import SourcesSpec


def extract_request(
    sources: SourcesSpec,
    shard: str,
    table: str,
    endpoint: MySqlEndpoint,
    days: Sequence[dt.date],
    *,
    backend: str = "auto",
    snapshot: dict[str, str] | None = None,
    log_position: str | None = None,
) -> ExtractRequest:
    table_spec = sources.tables[table]
    settings = sources.extract
    return ExtractRequest(
        shard=shard,
        table=table,
        endpoint=endpoint,
        days=days,
        cursor=table_spec.cursor,
        primary_key=table_spec.primary_key,
        timezone=sources.shard_timezone(shard),
        exclude_columns=table_spec.exclude_columns,
        batch_rows=settings.batch_rows,
        backend=backend,
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
        first_day=sources.table_start(table),
        fallback=table_spec.cursor_fallback,
        snapshot_columns=snapshot,
        on_schema_change=table_spec.on_schema_change,
        log_position=log_position,
    )
