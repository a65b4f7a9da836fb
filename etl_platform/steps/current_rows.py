"""A view's current rows, brought up to date with the view days that changed.

The current table (`load.current_rows`) records each view day's files in its footer. An update
reads the days whose files changed since the last one (a new day, a day built again) one at a
time, folds them in (`transform.current_rows`), drops the rows of days that went away, and
looks for the keys that vanished from a changed day in the other days, reading there only the
key columns and then the rows that win. Nothing depends on the day before, so a backfill of
years updates the table once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import polars as pl

from etl_platform.load.current_rows import CurrentTable, current_table
from etl_platform.load.lake import Lake
from etl_platform.load.versions import day_fingerprint
from etl_platform.runtime.memory import release_free_memory
from etl_platform.specs.views import ViewSpec
from etl_platform.transform.current_rows import (
    CURSOR,
    DAY,
    SHARD,
    group_columns,
    latest_current,
    merge_current,
    with_day,
)


@dataclasses.dataclass(frozen=True)
class CurrentReport:
    path: Path
    #: Current rows, and distinct `_shard` + unique key values among them (the same number:
    #: one row per key), per shard too.
    rows: int
    keys: int
    rows_per_shard: dict[str, int]
    #: View days with rows the table is built from.
    days: int
    #: Days read again (new or built again) and days gone (no files now) since the last update.
    days_read: list[dt.date]
    days_gone: list[dt.date]
    #: Keys whose current row left a changed day, looked for in the other days, and the days
    #: their rows were read from.
    vanished_keys: int
    days_reread: int
    #: Every day was read again: the view's unique key changed.
    rebuilt: bool
    #: The file was replaced (False: no day changed).
    written: bool
    bytes: int


def sync_current(lake: Lake, spec: ViewSpec) -> CurrentReport:
    """Bring `spec`'s current rows up to date with every day of its view dataset."""
    view, table = lake.view(spec.name), current_table(lake.root, spec.name)
    group = group_columns(spec.unique_key)
    with table.locked():
        manifest = table.manifest()
        rebuilt = table.exists() and table.group() != group
        if rebuilt:
            manifest = {}
        files = {d: view.partition_files(d) for d in sorted(view.days_with_files())}
        fingerprints = {d: day_fingerprint(f) for d, f in files.items()}
        changed = [d for d in files if manifest.get(d) != fingerprints[d]]
        gone = sorted(set(manifest) - set(files))
        if not changed and not gone:
            return _report(table, group, len(files), written=False)
        searched = _Search(files, [d for d in files if d not in set(changed)], group)
        merged = merge_current(
            None if rebuilt else table.read(),
            _ViewDays({d: files[d] for d in changed}),
            gone,
            key=spec.unique_key,
            reread=searched.reread,
        )
        if merged.rows is None:  # no rows ever: nothing to write
            return _report(table, group, len(files), written=False)
        table.replace(merged.rows.to_arrow(), fingerprints, group=group)
        report = _report(
            table,
            group,
            len(files),
            written=True,
            rows=merged.rows,
            read=changed,
            gone=gone,
            vanished=merged.vanished,
            reread=searched.days_read,
            rebuilt=rebuilt,
        )
    del merged
    release_free_memory()
    return report


def _scan(files: Sequence[Path]) -> pl.LazyFrame:
    frames = [pl.scan_parquet(f, hive_partitioning=False) for f in files]
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")


def _read_day(files: Sequence[Path]) -> pl.DataFrame:
    return _scan(files).collect()


class _ViewDays(Mapping[dt.date, pl.DataFrame]):
    """The changed days, each read when the merge asks for it: one is held at a time."""

    def __init__(self, files: dict[dt.date, list[Path]]) -> None:
        self.files = files

    def __getitem__(self, day: dt.date) -> pl.DataFrame:
        return _read_day(self.files[day])

    def __iter__(self) -> Iterator[dt.date]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)


def _keys_in(day: pl.LazyFrame, keys: pl.DataFrame) -> pl.LazyFrame:
    """The day's rows of `keys`, the keys cast to the day's types (a view whose types changed
    has days of both)."""
    schema = day.collect_schema()
    typed = keys.cast({c: schema[c] for c in keys.columns}, strict=False)
    return day.join(typed.lazy(), on=keys.columns, how="semi", nulls_equal=True)


class _Search:
    """Finds vanished keys' latest versions in the days that did not change: the key columns
    of every such day first, then the whole rows of only the days holding a winner."""

    def __init__(self, files: dict[dt.date, list[Path]], days: list[dt.date], group: list[str]):
        self.files, self.days, self.group = files, days, group
        self.days_read = 0

    def reread(self, keys: pl.DataFrame) -> Iterator[pl.DataFrame]:
        found = []
        for day in self.days:
            versions = _keys_in(_scan(self.files[day]).select(*self.group, CURSOR), keys)
            if (part := versions.collect()).height:
                found.append(with_day(part, day))
        if not found:
            return
        best = latest_current(pl.concat(found, how="diagonal_relaxed"), self.group)
        for (day,), winners in sorted(best.partition_by(DAY, as_dict=True).items()):
            self.days_read += 1
            rows = _keys_in(_scan(self.files[day]), winners.select(self.group)).collect()
            yield with_day(rows, day)


def _report(
    table: CurrentTable,
    group: list[str],
    days: int,
    *,
    written: bool,
    rows: pl.DataFrame | None = None,
    read: list[dt.date] | None = None,
    gone: list[dt.date] | None = None,
    vanished: int = 0,
    reread: int = 0,
    rebuilt: bool = False,
) -> CurrentReport:
    if rows is None:
        rows = table.read(group) if table.exists() else pl.DataFrame(schema={SHARD: pl.String})
    per_shard = rows.group_by(SHARD).len() if rows.height else pl.DataFrame()
    return CurrentReport(
        path=table.path,
        rows=rows.height,
        keys=rows.select(group).n_unique() if rows.height else 0,
        rows_per_shard={str(s): n for s, n in sorted(per_shard.iter_rows(), key=str)},
        days=days,
        days_read=read or [],
        days_gone=gone or [],
        vanished_keys=vanished,
        days_reread=reread,
        rebuilt=rebuilt,
        written=written,
        bytes=table.path.stat().st_size if table.exists() else 0,
    )
