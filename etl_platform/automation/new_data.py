"""The new-data sensors: one per shard, `new_data_<shard>`, that asks the shard whether a batch
table's newest cursor value moved and requests runs for just the days that changed.

On each tick the sensor reads `MAX(cursor)` of the shard's batch tables through the cursor's
index (`extract.newest_cursor`). A table whose newest value moved past the one in the cursor
has new rows on the days from the earliest value beyond the old newest to the new newest; for
each such day it requests one run of `raw/<shard>/<table>` (every changed table of that day)
with the lookup state and view days downstream of it. The cursor (JSON, table → newest value
seen, ISO in UTC) is stored by Dagster, so a restarted daemon goes on from it. A shard that is
down is named in the tick's message, without its password, and keeps its cursor.

What MAX cannot see: an update that leaves the cursor at an old value (and a delete). Those
are the 15-minute raw refresh's and its late-commit lookback's (`conditions.raw_refresh`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping, Sequence

import dagster as dg
from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph

from etl_platform.asset_keys import raw_asset_key
from etl_platform.automation.selections import VIEW_ASSETS
from etl_platform.env import SettingMissing
from etl_platform.extract.connection import MySqlUrlError, ShardUnavailableError, endpoint_for
from etl_platform.extract.newest_cursor import (
    CursorValue,
    NewestCursor,
    cursor_day,
    format_cursor_value,
    parse_cursor_value,
    poll_newest_cursors,
    polled_tables,
)
from etl_platform.layout import partition_key
from etl_platform.partitions import platform_partitions
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


def parse_cursor(text: str | None) -> dict[str, CursorValue | None] | None:
    """The newest value seen per table (None: polled, no row yet); None if `text` is not a
    cursor this sensor wrote."""
    if not text:
        return None
    try:
        raw = json.loads(text)
        if not isinstance(raw, dict):
            return None
        return {str(t): None if v is None else parse_cursor_value(str(v)) for t, v in raw.items()}
    except ValueError:
        return None


def dump_cursor(seen: Mapping[str, CursorValue | None]) -> str:
    body = {t: None if v is None else format_cursor_value(v) for t, v in sorted(seen.items())}
    return json.dumps(body, sort_keys=True)


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
    newest: CursorValue
    days: list[dt.date]
    dropped: list[dt.date]


def changes(
    previous: Mapping[str, CursorValue | None],
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
        found.append(Change(table, poll.newest, days, dropped))
    return found


def next_cursor(
    previous: Mapping[str, CursorValue | None],
    seen: Mapping[str, NewestCursor],
    tables: Sequence[str],
) -> dict[str, CursorValue | None]:
    """The tables configured now, each at its newest value: the one polled when it moved (or
    on its first poll), else the one it had (a table not polled keeps its own)."""
    cursor = {t: previous[t] for t in tables if t in previous}
    for table, poll in seen.items():
        if table not in previous or poll.newest is not None:
            cursor[table] = poll.newest
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
    shard: str, found: Sequence[Change], graph: BaseAssetGraph | None
) -> list[dg.RunRequest]:
    """One run per changed day: the raw assets of the tables that changed on it and what is
    built from them. Its run key names each table's newest value, so a tick evaluated again
    requests nothing twice, and a later change of the same day is a new run."""
    by_day: dict[dt.date, list[Change]] = {}
    for change in found:
        for day in change.days:
            by_day.setdefault(day, []).append(change)
    requests = []
    for day, day_changes in sorted(by_day.items()):
        keys: set[dg.AssetKey] = set()
        for change in day_changes:
            raw = raw_asset_key(shard, change.table)
            keys |= {raw, *downstream_keys(graph, raw)}
        newest = ",".join(f"{c.table}@{format_cursor_value(c.newest)}" for c in day_changes)
        requests.append(
            dg.RunRequest(
                run_key=f"{shard}/{partition_key(day)}/{newest}",
                partition_key=partition_key(day),
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
        )
    except (ShardUnavailableError, MySqlUrlError, SettingMissing) as e:
        message = redact(f"shard {shard} not polled, its cursor kept: {e}")
        context.log.warning(message)
        return dg.SensorResult(skip_reason=message, cursor=context.cursor)
    today = dt.datetime.now(dt.UTC).date()
    first = platform_partitions(sources).start.date()
    found = changes(previous, poll.tables, first=first, today=today)
    graph = context.repository_def.asset_graph if context.repository_def else None
    requests = run_requests(shard, found, graph)
    notes = [redact(f"{shard}: not polled: {p}") for _, p in sorted(poll.problems.items())]
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
