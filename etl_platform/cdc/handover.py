"""From the batch extract to the stream: the days a newly captured table re-reads."""

from __future__ import annotations

import datetime as dt
import logging

from etl_platform.extract.binlog_stream import MAX_INDEX, BinlogPosition
from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.extract.extractor import extract_window
from etl_platform.load.lake import Lake
from etl_platform.load.lake_reads import partition_days
from etl_platform.specs.sources import SourcesSpec
from etl_platform.steps.extract_request import extract_request

log = logging.getLogger(__name__)


def handover_days(
    lake: Lake, sources: SourcesSpec, shard: str, table: str, today: dt.date
) -> list[dt.date]:
    """From the day before the newest day the batch extract wrote (a late commit may sit
    there) through today; every day since the table's start when none was written."""
    start = sources.table_start(table)
    written = partition_days(lake.raw(shard, table))
    first = max(start, written[-1] - dt.timedelta(days=1)) if written else start
    return [first + dt.timedelta(days=i) for i in range((today - first).days + 1)]


def extract_history(
    lake: Lake,
    sources: SourcesSpec,
    shard: str,
    table: str,
    endpoint: MySqlEndpoint,
    position: BinlogPosition,
) -> int:
    """Read the handover days with the batch extract, a window of `max_days_per_run` at a
    time. Called after the capture stored its first position: a change committed while this
    reads is in the stream too, with a position above the day files' rows."""
    days = handover_days(lake, sources, shard, table, dt.datetime.now(dt.UTC).date())
    rows = extract_days(lake, sources, shard, table, endpoint, days, position)
    log.info(
        "shard %s table %s: %d row(s) over %d day(s) read for the handover",
        shard,
        table,
        rows,
        len(days),
    )
    return rows


def extract_days(
    lake: Lake,
    sources: SourcesSpec,
    shard: str,
    table: str,
    endpoint: MySqlEndpoint,
    days: list[dt.date],
    position: BinlogPosition,
) -> int:
    """The batch extract of `days`, a window of `max_days_per_run` at a time; its rows. Read
    after `position` was taken: the rows carry it, so a change at or before it loses to them
    and a later one wins."""
    days = [d for d in days if d >= sources.table_start(table)]
    step = sources.extract.max_days_per_run
    rows = 0
    for i in range(0, len(days), step):
        window = days[i : i + step]
        request = extract_request(
            sources, shard, table, endpoint, window, log_position=position.order_key(MAX_INDEX)
        )
        result = extract_window(request, lake)
        rows += sum(s.rows for s in result.days.values())
    return rows
