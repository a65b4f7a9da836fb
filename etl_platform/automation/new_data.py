"""The new-data sensors: one per shard, `new_data_<shard>`, that asks the shard whether a batch
table's newest cursor value moved and requests runs for just the days that changed.

On each tick the sensor reads `MAX(cursor)` of the shard's batch tables through the cursor's
index (`extract.newest_cursor`). A table whose newest value moved past the one in the cursor
has new rows on the days from the earliest value beyond the old newest to the new newest; for
each such day it requests one run of `raw/<shard>/<table>` (every changed table of that day)
with the lookup state and view days downstream of it. The cursor (JSON, table → newest value
seen, ISO in UTC; for a DATE cursor `[day, rows on that day]`, so a later row of the same day
is seen) is stored by Dagster, so a restarted daemon goes on from it. A shard that is down is
named in the tick's message, without its password, and keeps its cursor.

Rows dated later than the tick's clock (plus `NOW_SLACK`) are named once in the tick's log and
never become the cursor; a stored value that is in the future (a cursor written before this
bound) is dropped for a new baseline of that table.

What MAX cannot see: an update that leaves the cursor at an old value (and a delete). Those
are the 15-minute raw refresh's and its late-commit lookback's (`conditions.raw_refresh`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Collection, Mapping, Sequence

import dagster as dg
from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph

from etl_platform.asset_keys import raw_asset_key
from etl_platform.automation.selections import VIEW_ASSETS
from etl_platform.env import SettingMissing
from etl_platform.extract.connection import MySqlUrlError, ShardUnavailableError, endpoint_for
from etl_platform.extract.newest_cursor import (
    NOW_SLACK,
    CursorValue,
    Mark,
    NewestCursor,
    cursor_day,
    format_cursor_value,
    parse_cursor_value,
    poll_newest_cursors,
    polled_tables,
)
from etl_platform.layout import partition_key
from etl_platform.partitions import is_monthly, month_start, platform_partitions
from etl_platform.redaction import redact
from etl_platform.specs.sources import SourcesSpec

MIN_INTERVAL_SECONDS = 60
#: Days one table's change requests at most in one tick; older days are a backfill's (a
#: sensor stopped for weeks must not start weeks of runs when it is switched on again).
MAX_DAYS_PER_TICK = 7
#: A tick must end well within the daemon's 60 s limit on a sensor evaluation: a longer
#: `extract.read_timeout` is cut to this for the poll's statements.
MAX_READ_TIMEOUT_SECONDS = 20.0
RUN_TAG = "new_data"


def sensor_name(shard: str) -> str:
    return f"new_data_{shard}"


# The cursor


def parse_cursor(text: str | None) -> dict[str, Mark | None] | None:
    """Where each table's poll stopped (None: polled, no row yet); None if `text` is not a
    cursor this sensor wrote."""
    if not text:
        return None
    try:
        raw = json.loads(text)
        if not isinstance(raw, dict):
            return None
        return {str(t): _parse_mark(v) for t, v in raw.items()}
    except (ValueError, TypeError):
        return None


def _parse_mark(value: object) -> Mark | None:
    if value is None:
        return None
    if isinstance(value, list):
        day, rows = value
        return Mark(parse_cursor_value(str(day)), int(rows))
    return Mark(parse_cursor_value(str(value)))


def dump_cursor(seen: Mapping[str, Mark | None]) -> str:
    body = {t: None if m is None else _dump_mark(m) for t, m in sorted(seen.items())}
    return json.dumps(body, sort_keys=True)


def _dump_mark(mark: Mark) -> str | list[str | int]:
    value = format_cursor_value(mark.value)
    return value if mark.rows is None else [value, mark.rows]


def format_mark(mark: Mark) -> str:
    """A mark as a run key shows it: the value, and a DATE cursor's rows on that day."""
    value = format_cursor_value(mark.value)
    return value if mark.rows is None else f"{value}#{mark.rows}"


def in_the_future(mark: Mark, now: dt.datetime) -> bool:
    """A value past the tick's clock (plus `NOW_SLACK`), as a cursor written before the poll
    was bounded may hold: kept, it would hide every real row until its date."""
    limit = now + NOW_SLACK
    if isinstance(mark.value, dt.datetime):
        return mark.value > limit
    return mark.value > limit.date() + dt.timedelta(days=1)


# What changed


def changed_days(
    oldest: CursorValue, newest: CursorValue, *, first: dt.date, today: dt.date
) -> tuple[list[dt.date], list[dt.date]]:
    """The days (raw partitions) holding rows with cursor values from `oldest` to `newest`,
    both included, that exist: from the partitions' `first` day to `today` (a day after today
    has no partition yet; its rows are read by the raw refresh when the day comes). At most
    `MAX_DAYS_PER_TICK`, the latest: the rest are returned second, for the tick to name."""
    start, end = max(cursor_day(oldest), first), min(cursor_day(newest), today)
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    if len(days) <= MAX_DAYS_PER_TICK:
        return days, []
    return days[-MAX_DAYS_PER_TICK:], days[:-MAX_DAYS_PER_TICK]


@dataclasses.dataclass(frozen=True)
class Change:
    table: str
    newest: Mark
    days: list[dt.date]
    dropped: list[dt.date]


def changes(
    previous: Mapping[str, Mark | None],
    seen: Mapping[str, NewestCursor],
    *,
    first: dt.date,
    today: dt.date,
) -> list[Change]:
    """The tables with rows beyond the newest value last seen. A table seen for the first time
    is a baseline: nothing is requested for it."""
    found = []
    for table, poll in sorted(seen.items()):
        if table not in previous or poll.newest is None:
            continue
        days, dropped = changed_days(
            poll.oldest or poll.newest, poll.newest, first=first, today=today
        )
        found.append(Change(table, Mark(poll.newest, poll.rows), days, dropped))
    return found


def next_cursor(
    previous: Mapping[str, Mark | None],
    seen: Mapping[str, NewestCursor],
    tables: Sequence[str],
) -> dict[str, Mark | None]:
    """The tables configured now, each at its newest value: the one polled when it moved (or
    on its first poll), else the one it had (a table not polled keeps its own)."""
    cursor = {t: previous[t] for t in tables if t in previous}
    for table, poll in seen.items():
        if table not in previous or poll.newest is not None:
            cursor[table] = poll.mark
    return cursor


def downstream_keys(graph: BaseAssetGraph | None, raw: dg.AssetKey) -> list[dg.AssetKey]:
    """The lookup state and view days built from `raw`: what a day's run rebuilds with it.
    Assets built from all of a view's days at once (current rows, reports, another date's
    layout) follow once any day lands (`WHOLE_REFRESH`), not once per requested day."""
    if graph is None:
        return []
    days_def = graph.get(raw).partitions_def
    selection = dg.AssetSelection.assets(raw).downstream(include_self=False) & VIEW_ASSETS
    return sorted(
        key
        for key in selection.resolve(graph)
        if key.path[0] == "state"
        or (days_def is not None and graph.get(key).partitions_def == days_def)
    )


def run_requests(
    shard: str,
    found: Sequence[Change],
    graph: BaseAssetGraph | None,
    monthly: Collection[str] = (),
) -> list[dg.RunRequest]:
    """One run per changed day: the raw assets of the tables that changed on it and what is
    built from them. Its run key names each table's newest value, so a tick evaluated again
    requests nothing twice, and a later change of the same day is a new run (for a DATE cursor,
    the day's row count is part of it). A table in `monthly` (`partitions: monthly`) is
    requested by the month that holds the day, in a run of its own partitioning: its lookup
    state goes with it, and its views follow their automation."""
    by_partition: dict[tuple[bool, dt.date], list[Change]] = {}
    for change in found:
        by_month = change.table in monthly
        for day in change.days:
            start = month_start(day) if by_month else day
            changes_in = by_partition.setdefault((by_month, start), [])
            if change not in changes_in:
                changes_in.append(change)
    requests = []
    for (by_month, start), day_changes in sorted(by_partition.items(), key=lambda i: i[0][::-1]):
        keys: set[dg.AssetKey] = set()
        for change in day_changes:
            raw = raw_asset_key(shard, change.table)
            keys |= {raw, *downstream_keys(graph, raw)}
        newest = ",".join(f"{c.table}@{format_mark(c.newest)}" for c in day_changes)
        grain = "month/" if by_month else ""
        requests.append(
            dg.RunRequest(
                run_key=f"{shard}/{grain}{partition_key(start)}/{newest}",
                partition_key=partition_key(start),
                asset_selection=sorted(keys),
                tags={RUN_TAG: shard, "shard": shard},
            )
        )
    return requests


# The tick


def evaluate_new_data(
    context: dg.SensorEvaluationContext, sources: SourcesSpec, shard: str
) -> dg.SensorResult:
    """One tick: poll the shard, request the changed days, move the cursor past them."""
    tables = polled_tables(sources, shard)
    previous = parse_cursor(context.cursor)
    if previous is None and context.cursor:
        context.log.warning("The sensor's cursor is not one it wrote: taking a new baseline.")
    previous = previous or {}
    now = dt.datetime.now(dt.UTC)
    ahead = sorted(t for t, m in previous.items() if m is not None and in_the_future(m, now))
    previous = {t: m for t, m in previous.items() if t not in ahead}
    settings = sources.extract
    read_timeout = min(
        settings.read_timeout_seconds or MAX_READ_TIMEOUT_SECONDS, MAX_READ_TIMEOUT_SECONDS
    )
    try:
        poll = poll_newest_cursors(
            endpoint_for(shard, sources.shards[shard]),
            tables,
            shard=shard,
            timezone=sources.shard_timezone(shard),
            after=previous,
            connect_timeout=settings.connect_timeout_seconds,
            read_timeout=read_timeout,
            now=now,
        )
    except (ShardUnavailableError, MySqlUrlError, SettingMissing) as e:
        message = redact(f"shard {shard} not polled, its cursor kept: {e}")
        context.log.warning(message)
        return dg.SensorResult(skip_reason=message, cursor=context.cursor)
    today = now.date()
    first = platform_partitions(sources).start.date()
    found = changes(previous, poll.tables, first=first, today=today)
    graph = context.repository_def.asset_graph if context.repository_def else None
    monthly = {t for t in tables if is_monthly(sources, t)}
    requests = run_requests(shard, found, graph, monthly)
    notes = [redact(f"{shard}: not polled: {p}") for _, p in sorted(poll.problems.items())]
    future = {t: p.future for t, p in sorted(poll.tables.items()) if p.future is not None}
    if future:
        notes.append(
            f"{shard}: rows dated in the future, left out of the cursor until their time: "
            + ", ".join(f"{t} (up to {format_cursor_value(v)})" for t, v in future.items())
        )
    if ahead:
        notes.append(
            f"{shard}: stored cursor of {', '.join(ahead)} was in the future: new baseline"
        )
    for change in found:
        if change.dropped:
            notes.append(
                f"{shard}.{change.table}: changes on {partition_key(change.dropped[0])} to "
                f"{partition_key(change.dropped[-1])} not requested (more than "
                f"{MAX_DAYS_PER_TICK} days in one tick): backfill them"
            )
    for note in notes:
        context.log.warning(note)
    cursor = dump_cursor(next_cursor(previous, poll.tables, list(tables)))
    if requests:
        for change in found:
            days = ", ".join(partition_key(d) for d in change.days)
            context.log.info(f"{shard}.{change.table}: new rows on {days}")
        return dg.SensorResult(run_requests=requests, cursor=cursor)
    baseline = sorted(t for t in poll.tables if t not in previous)
    parts = [f"{shard}: no new rows in {len(poll.tables) - len(baseline)} table(s)"]
    if baseline:
        parts.append(f"first look at {', '.join(baseline)}: newest value noted, nothing requested")
    return dg.SensorResult(skip_reason="; ".join([*parts, *notes]), cursor=cursor)


def build_new_data_sensor(sources: SourcesSpec, shard: str) -> dg.SensorDefinition:
    tables = sorted(polled_tables(sources, shard))
    raws = dg.AssetSelection.assets(*(raw_asset_key(shard, t) for t in tables))

    @dg.sensor(
        name=sensor_name(shard),
        asset_selection=raws | (raws.downstream(include_self=False) & VIEW_ASSETS),
        minimum_interval_seconds=MIN_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=(
            f"Asks {shard} every minute for the newest cursor value of {', '.join(tables)} "
            "(MAX through the cursor's index) and requests the days that changed, with the "
            "lookup state and views built from them."
        ),
    )
    def _new_data(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        return evaluate_new_data(context, sources, shard)

    return _new_data


def build_new_data_sensors(sources: SourcesSpec) -> list[dg.SensorDefinition]:
    """`new_data_<shard>` for each shard with a batch table (`mode: incremental`)."""
    return [
        build_new_data_sensor(sources, shard)
        for shard in sources.shards
        if polled_tables(sources, shard)
    ]
