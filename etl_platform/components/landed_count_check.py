"""The `rows_match_shard` check on every batch raw asset: each day's landed rows against the shard.

Severity WARN, not blocking, so the alert sensor does not post it (it posts blocking ERROR
failures): a difference is for someone to look at and re-extract the day, and holding back the
views would not repair it.

The shard is counted per UTC day of the run's window with the extract's own bounds
(`extract.window_counts`), just before the read and again just after it. A day whose two counts
agree is compared: its landed rows must equal that count (and the keys' checksum, where the key
has one). A day whose counts moved is reported as unsettled and does not fail the check: rows
committed around the read would make a false difference, and the next read of the day (today
every tick, yesterday within the late-commit grace) compares again.

A count is a check, not the extract: one that times out or that the server refuses leaves the
check at WARN `not counted: <reason>` and the read and its materialization go on. A shard that
is down before the read fails its asset all the same, at the replica check that comes first.

`mode: cdc` tables have no such check: the capture keeps adding change files to their days
while the shard moves on, so a batch count is no measure of what a day will read as.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

import dagster as dg
import pymysql

from etl_platform.extract.connection import MySqlEndpoint, ShardUnavailableError
from etl_platform.extract.extractor import ExtractRequest
from etl_platform.extract.window_counts import WindowCounts, count_window
from etl_platform.load.lake import Lake
from etl_platform.redaction import redact
from etl_platform.specs.sources import SourcesSpec
from etl_platform.steps.extract_request import extract_request
from etl_platform.transform.landed_counts import (
    DayCount,
    DayReconciliation,
    differing,
    key_checksum,
    reconcile_days,
)

ROWS_MATCH_SHARD = "rows_match_shard"


def landed_count_check_specs(key: dg.AssetKey, *, is_cdc: bool) -> list[dg.AssetCheckSpec]:
    """The check of a batch table's raw asset; none for a CDC table."""
    if is_cdc:
        return []
    return [
        dg.AssetCheckSpec(
            ROWS_MATCH_SHARD,
            asset=key,
            description=(
                "Each day's landed rows (and key checksum, for a one-column key) equal the "
                "shard's COUNT(*) over the extract's own bounds; the shard is counted before "
                "and after the read, and a day written meanwhile is unsettled, not a failure."
            ),
            blocking=False,
        )
    ]


def counts_request(
    sources: SourcesSpec,
    shard: str,
    table: str,
    endpoint: MySqlEndpoint,
    days: Sequence[dt.date],
) -> ExtractRequest | None:
    """The extract's own request for the window, which the counts bound themselves by; None
    for a CDC table (not reconciled)."""
    if sources.tables[table].is_cdc:
        return None
    return extract_request(sources, shard, table, endpoint, days)


@dataclasses.dataclass(frozen=True)
class NotCounted:
    """A count that failed (a timeout, a server error): why, without secrets."""

    reason: str


def count_shard(request: ExtractRequest) -> WindowCounts | NotCounted:
    """`count_window`, with its failure as a `NotCounted` instead of an error: the check is
    WARN and must neither fail nor retry the extract."""
    try:
        return count_window(request)
    except (ShardUnavailableError, pymysql.err.Error, LookupError) as e:
        return NotCounted(redact(str(e)))


def count_before_read(request: ExtractRequest | None) -> WindowCounts | NotCounted | None:
    """The shard's counts just before the read; None for a CDC table or a window of no read
    day. A count that fails is `NotCounted` and the read goes on."""
    if request is None or not request.read_days:
        return None
    return count_shard(request)


def landed_day_counts(
    lake: Lake, request: ExtractRequest, *, checksummed: bool
) -> dict[dt.date, DayCount]:
    """Each read day's rows in the raw zone (file footers) and, if `checksummed`, the XOR of
    the CRC32 of its keys' text."""
    dataset = lake.raw(request.shard, request.table)
    key = request.primary_key[0]
    counts = {}
    for day in request.read_days:
        checksum = None
        if checksummed:
            data = dataset.read_partition(day, columns=[key])
            checksum = 0 if data is None else key_checksum(data.column(key))
        counts[day] = DayCount(dataset.partition_rows(day), checksum)
    return counts


def landed_count_check_results(
    key: dg.AssetKey,
    request: ExtractRequest | None,
    lake: Lake,
    before: WindowCounts | NotCounted | None,
) -> list[dg.AssetCheckResult]:
    """Count the shard again after the read and compare each day with the lake; a count
    before or after that failed makes the check WARN `not counted: <reason>`."""
    if request is None:
        return []
    if not request.read_days:
        return [_result(key, request, [], None, passed=True)]
    if isinstance(before, NotCounted):
        return [_not_counted(key, request, before, "before the read")]
    after = count_shard(request)
    if isinstance(after, NotCounted):
        return [_not_counted(key, request, after, "after the read")]
    landed = landed_day_counts(lake, request, checksummed=after.checksum is not None)
    days = reconcile_days(before.days if before else {}, after.days, landed)
    return [_result(key, request, days, after, passed=not differing(days))]


def _result(
    key: dg.AssetKey,
    request: ExtractRequest,
    days: Sequence[DayReconciliation],
    counts: WindowCounts | None,
    *,
    passed: bool,
) -> dg.AssetCheckResult:
    where = f"shard {request.shard} table `{request.table}`"
    unsettled = [d.day.isoformat() for d in days if d.unsettled]
    if passed:
        description = f"{where}: the landed rows of {len(days)} day(s) match the shard"
    else:
        description = f"{where}: landed rows differ from the shard on " + "; ".join(
            d.describe() for d in differing(days)
        )
    if unsettled:
        description += f" (unsettled, written during the read: {', '.join(unsettled)})"
    metadata: dict[str, object] = {
        "shard": request.shard,
        "table": request.table,
        "days_compared": len(days) - len(unsettled),
        "days_differing": [d.day.isoformat() for d in differing(days)],
        "days_unsettled": unsettled,
        "days": dg.MetadataValue.md(_markdown(days)),
        "per_day": dg.MetadataValue.json([d.as_json() for d in days]),
    }
    if counts is not None:
        metadata["key_checksum"] = counts.checksum or f"none: {counts.no_checksum}"
        metadata["query"] = dg.MetadataValue.md(f"```sql\n{counts.sql}\n```")
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=ROWS_MATCH_SHARD,
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
        metadata=metadata,
    )


def _not_counted(
    key: dg.AssetKey, request: ExtractRequest, failed: NotCounted, when: str
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=ROWS_MATCH_SHARD,
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"not counted: {failed.reason}",
        metadata={
            "shard": request.shard,
            "table": request.table,
            "not_counted": f"{when}: {failed.reason}",
            "days_not_compared": [d.isoformat() for d in request.read_days],
        },
    )


def _markdown(days: Sequence[DayReconciliation]) -> str:
    lines = [
        "| day | shard rows | landed rows | checksums | status |",
        "| --- | --- | --- | --- | --- |",
    ]
    for d in days:
        row = d.as_json()
        sums = "n/a" if d.shard.checksum is None else "differ" if d.checksum_differs else "match"
        lines.append(
            f"| {row['day']} | {d.shard.rows} | {d.landed.rows} | {sums} | {row['status']} |"
        )
    return "\n".join(lines)
