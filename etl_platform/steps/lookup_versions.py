"""Lookup state: a looked-up table's versions, brought up to date with its raw days.

The versions table (`load.versions`) keeps every version each raw day held. An update reads
the raw days whose files changed since the last one (a new day, a re-extracted one) and
replaces their versions; nothing depends on the day before, so a backfill of years is one read
of each day and one write. A view's lookup for day D reads it "as of D" (`transform.versions`),
which needs the table's raw days from its start through D: `history_gaps` names those lacking.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable

import polars as pl

from etl_platform.errors import PartitionMissing
from etl_platform.load.change_files import ChangeLog
from etl_platform.load.lake import Dataset
from etl_platform.load.lake_reads import partition_days, read_frame
from etl_platform.load.raw_day_reads import raw_day_files, read_raw_day_frame
from etl_platform.load.versions import VersionsTable, day_fingerprint
from etl_platform.runtime.memory import release_free_memory
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.views import ViewSpec
from etl_platform.transform.changes import COMMIT_TS, DELETE, OP, POS
from etl_platform.transform.versions import (
    DAY,
    LOG_POS,
    META,
    ORIGIN,
    RAW,
    commit_tombstones,
    day_versions,
    with_validity,
)


def state_columns(table: str, views: Iterable[ViewSpec], sources: SourcesSpec) -> list[str]:
    """What the state keeps: the key, the version column (the cursor, or a snapshot table's
    `_snapshot_at`), and every column a lookup reads, joins on or bounds a period with. The key
    comes first: a period lookup breaks its last ties on the state's columns in order."""
    spec = sources.tables[table]
    wanted = [*spec.primary_key, spec.version_column]
    for view in views:
        for lookup in view.lookups:
            if lookup.table == table:
                wanted.extend(lookup.on.values())
                wanted.extend(lookup.period_columns)
                wanted.extend(lookup.columns)
    return list(dict.fromkeys(wanted))


def missing_history(present: Iterable[dt.date], start: dt.date, first: dt.date) -> list[dt.date]:
    """The days from `start` to the day before `first` that `present` lacks, in order."""
    have = set(present)
    days = (start + dt.timedelta(days=i) for i in range((first - start).days))
    return [day for day in days if day not in have]


def _ranges(days: list[dt.date]) -> list[str]:
    """Consecutive days as `first..last` (a lone day as itself)."""
    runs: list[list[dt.date]] = []
    for day in days:
        if runs and day - runs[-1][-1] == dt.timedelta(days=1):
            runs[-1].append(day)
        else:
            runs.append([day])
    return [f"{r[0]}..{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs]


def history_gaps(
    versions: VersionsTable, raw: Dataset, day: dt.date, *, start: dt.date, synced: set[dt.date]
) -> PartitionMissing | None:
    """Why `versions` cannot answer "as of `day`": the days from the table's `start` through
    `day` it was not built from. Without them most lookups would be NULL while the run still
    succeeded, so the caller refuses the day, naming the days to extract (a raw day already
    extracted only needs the state to run again)."""
    missing = missing_history(synced, start, day + dt.timedelta(days=1))
    if not missing:
        return None
    extracted = set(partition_days(raw))
    to_extract = [d for d in missing if d not in extracted]
    ranges = _ranges(missing)
    more = f" and {len(ranges) - 5} more range(s)" if len(ranges) > 5 else ""
    shown = ", ".join(ranges[:5]) + more
    if to_extract:
        todo = (
            f"Extract them first: `etl-platform run --job extract_raw --start {to_extract[0]} "
            f"--end {to_extract[-1]}` (every table; for this one alone, backfill {raw.name} over "
            f"those days from the UI), then materialize {versions.name}."
        )
    else:
        todo = f"They are extracted: materialize {versions.name}."
    return PartitionMissing(
        f"{versions.name} lacks {len(missing)} day(s) of {raw.name} through {day} ({shown}); "
        f"a lookup as of {day} reads the table's history since its start, {start}, so without "
        f"them most lookups would be NULL. {todo}"
    )


@dataclasses.dataclass(frozen=True)
class SyncReport:
    #: Raw days read again (new or re-extracted) and days whose raw folder went away.
    read_days: list[dt.date]
    dropped_days: list[dt.date]
    versions: int
    keys: int
    days: int
    bytes: int


def sync_versions(
    raw: Dataset,
    versions: VersionsTable,
    *,
    columns: list[str],
    key: list[str],
    cursor: str,
    changes: ChangeLog | None = None,
    timezone: str = "UTC",
) -> SyncReport:
    """Bring `versions` up to date with every raw day of `raw`: the days whose files changed
    are read again and their versions replaced; tombstones and other origins are kept.

    A CDC table's `changes` are part of its raw days: a day is its day file and change files
    read as one (`raw_day_reads`), re-read when either changes; `timezone` is the shard's,
    which dates a DATE cursor's deletes."""
    with versions.locked():
        manifest = versions.manifest()
        schema = versions.schema()
        kept_columns = None
        if schema is not None and [c for c in schema.names if c not in META] != columns:
            # The views ask for other columns: every raw day is read again; tombstones stay.
            manifest, kept_columns = {}, columns
        if changes is None:
            days = partition_days(raw)
            files = {d: raw.partition_files(d) for d in days}
        else:
            days = sorted(set(partition_days(raw)) | changes.days())
            files = {d: raw_day_files(raw, changes, d) for d in days}
        fingerprints = {d: day_fingerprint(f) for d, f in files.items()}
        stale = [d for d in days if manifest.get(d) != fingerprints[d]]
        gone = sorted(set(manifest) - set(fingerprints))
        if not stale and not gone:
            return _report(versions, [], [], manifest, key)
        current = versions.read()
        if current is not None and kept_columns is not None:
            current = _reshaped(current.filter(pl.col(ORIGIN) != RAW), kept_columns)
        # A day written without rows has no versions: only a table with no versions at all
        # reads one, for its columns.
        read = [d for d in stale if files[d]] or ([stale[0]] if stale and current is None else [])
        fresh = [
            part
            for day in read
            for part in _read_day_versions(
                raw, changes, day, columns, key=key, cursor=cursor, timezone=timezone
            )
        ]
        redone = pl.lit(pl.Series([*stale, *gone], dtype=pl.Date))
        kept = (
            []
            if current is None
            else [current.filter(~(pl.col(DAY).is_in(redone) & (pl.col(ORIGIN) == RAW)))]
        )
        parts = [*kept, *fresh]
        if not parts:
            return _report(versions, stale, gone, manifest, key)
        merged = with_validity(pl.concat(parts, how="diagonal_relaxed"), key=key, cursor=cursor)
        del parts, kept, fresh, current
        manifest = {d: fingerprints[d] for d in days}
        versions.replace(merged.to_arrow(), manifest)
        del merged
        release_free_memory()
        return _report(versions, stale, gone, manifest, key)


def _read_day_versions(
    raw: Dataset,
    changes: ChangeLog | None,
    day: dt.date,
    columns: list[str],
    *,
    key: list[str],
    cursor: str,
    timezone: str,
) -> list[pl.DataFrame]:
    """A raw day's versions. Of a CDC day read as one, every version that stood at a day's
    end (`move` rows too, and the version a `delete` removed), and for each key whose winning
    change is a `delete` a tombstone seen from its commit's day (`commit_tombstones`)."""
    if changes is None:
        rows = read_frame(raw, day, columns)
        return [] if rows is None else [day_versions(rows, day, key=key)]
    frame = read_raw_day_frame(raw, changes, key, day, [*columns, COMMIT_TS, POS])
    if frame is None:
        return []
    out = [day_versions(frame.select(*columns, pl.col(POS).alias(LOG_POS)), day, key=key)]
    if OP in frame.columns and (deleted := frame.filter(pl.col(OP) == DELETE)).height:
        out.append(
            commit_tombstones(
                deleted.rename({POS: LOG_POS}),
                day=day,
                key=key,
                cursor=cursor,
                commit=COMMIT_TS,
                schema=out[0].schema,
                origin=RAW,
                timezone=timezone,
            )
        )
    return out


def _reshaped(versions: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """`versions` with the state's columns `columns` (new ones null), its own kept."""
    own = [c for c in versions.columns if c in META]
    return versions.select(
        *(pl.col(c) if c in versions.columns else pl.lit(None).alias(c) for c in columns), *own
    )


def _report(
    versions: VersionsTable,
    read: list[dt.date],
    gone: list[dt.date],
    manifest: dict[dt.date, str],
    key: list[str],
) -> SyncReport:
    frame = versions.read(key)
    return SyncReport(
        read_days=read,
        dropped_days=gone,
        versions=0 if frame is None else frame.height,
        keys=0 if frame is None else frame.unique().height,
        days=len(manifest),
        bytes=versions.path.stat().st_size if versions.exists() else 0,
    )
