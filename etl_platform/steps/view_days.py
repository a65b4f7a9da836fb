"""A view's days: read each day's raw rows in slices, shape them, write the day atomically.

`build_view_days` is what the view asset runs; it knows the lake and the specs, not Dagster.
A day in flight holds one slice of raw rows, one shard's typed rows and one shard's view rows,
whatever the day's size; days run on threads (polars, DuckDB and Parquet release the GIL) and
hand back only small summaries.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import polars as pl

from etl_platform.errors import PartitionMissing
from etl_platform.load.lake import Lake, files_rows
from etl_platform.load.lake_reads import read_day_slices
from etl_platform.load.raw_day_reads import raw_day_rows, raw_day_written, read_raw_day_slices
from etl_platform.load.view_day import ViewDayWriter
from etl_platform.runtime.memory import release_free_memory
from etl_platform.runtime.parallel import default_threads, ordered_map
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.views import ViewSpec
from etl_platform.steps.lookup_versions import history_gaps, state_columns
from etl_platform.steps.view_slices import READ_ROWS, raw_slices
from etl_platform.transform._rejects import empty_rejects
from etl_platform.transform.json_read import share_cores
from etl_platform.transform.texts import copied_texts
from etl_platform.transform.versions import as_of
from etl_platform.transform.view_shape import (
    SHARD,
    Shaped,
    ShardStats,
    finish_shards,
    type_slices,
)

#: Drift samples a run keeps at most per JSON column.
DRIFT_RUN_ROWS = 10_000
#: Rows of each day kept for the materialization's preview.
PREVIEW_ROWS = 10


def source_columns_needed(spec: ViewSpec, sources: SourcesSpec) -> list[str]:
    """Only the driving table's columns the view reads: long unused text stays on disk."""
    table = sources.tables[spec.source]
    cols = [*table.primary_key, table.cursor]
    for c in spec.columns.values():
        cols.extend(x for x in (c.from_, c.json_column) if x)
    cols.extend(f.json_column for f in spec.flatten)
    if spec.explode:
        cols.append(spec.explode.json_column)
    # A lookup may join on a declared column or on one an earlier lookup brought in.
    derived = set(spec.columns) | {out for lk in spec.lookups for out in lk.outputs.values()}
    for lookup in spec.lookups:
        cols.extend(left for left in lookup.view_columns if left not in derived)
    return list(dict.fromkeys(cols))


def lookup_tables(spec: ViewSpec) -> list[str]:
    return sorted({lookup.table for lookup in spec.lookups})


@dataclasses.dataclass
class DayResult:
    """What one day hands back once its partitions are written."""

    day: dt.date
    stats: dict[str, ShardStats] = dataclasses.field(default_factory=dict)
    drift_samples: list[tuple[str, pl.Series]] = dataclasses.field(default_factory=list)
    duplicate_keys: int = 0
    null_keys: int = 0
    preview: pl.DataFrame | None = None
    #: Shards left out of the day, with the inputs they lacked.
    missing: dict[str, list[str]] = dataclasses.field(default_factory=dict)

    @property
    def rejected(self) -> int:
        return sum(s.rejected for s in self.stats.values())


@dataclasses.dataclass
class ViewWindow:
    """A run's days: what the checks need summed over them, and each day's own summary."""

    stats: dict[str, ShardStats] = dataclasses.field(default_factory=dict)
    drift_samples: dict[str, list[pl.Series]] = dataclasses.field(default_factory=dict)
    duplicate_keys: int = 0
    null_keys: int = 0
    days: dict[dt.date, DayResult] = dataclasses.field(default_factory=dict)

    def add_day(self, day: DayResult) -> None:
        for shard, stats in day.stats.items():
            self.add(shard, stats)
        for column, sample in day.drift_samples:
            self.add_drift_sample(column, sample)
        self.duplicate_keys += day.duplicate_keys
        self.null_keys += day.null_keys
        self.days[day.day] = dataclasses.replace(day, drift_samples=[])

    def add_drift_sample(self, column: str, sample: pl.Series) -> None:
        """Keep a run's drift samples bounded: past DRIFT_RUN_ROWS, every other row is kept
        (copied: the thinned rows would otherwise keep all of their texts' buffers)."""
        samples = self.drift_samples.setdefault(column, [])
        samples.append(sample)
        if sum(s.len() for s in samples) > DRIFT_RUN_ROWS:
            samples[:] = [copied_texts(s.gather_every(2)) for s in samples]

    def add(self, shard: str, s: ShardStats) -> None:
        total = self.stats.setdefault(shard, ShardStats())
        total.rows_in += s.rows_in
        total.rejected += s.rejected
        total.duplicates += s.duplicates
        total.rows_out += s.rows_out
        total.elements += s.elements
        total.dropped += s.dropped
        for table, n in s.orphans.items():
            total.orphans[table] = total.orphans.get(table, 0) + n

    @property
    def rows_in(self) -> int:
        return sum(s.rows_in for s in self.stats.values())

    @property
    def missing(self) -> dict[str, dict[str, list[str]]]:
        """{day: {shard: inputs it lacked}} for the days that left shards out."""
        return {str(d): r.missing for d, r in sorted(self.days.items()) if r.missing}

    @property
    def rejected(self) -> int:
        return sum(s.rejected for s in self.stats.values())


class LazyStates(Mapping[str, Mapping[str, pl.DataFrame]]):
    """A day's lookup state, read shard by shard when `finish_shards` gets to that shard, so
    one shard's state is in memory at a time however many shards share a group."""

    def __init__(
        self, shards: Iterable[str], load: Callable[[str], Mapping[str, pl.DataFrame]]
    ) -> None:
        self._shards = list(shards)
        self._load = load

    def __getitem__(self, shard: str) -> Mapping[str, pl.DataFrame]:
        if shard not in self._shards:
            raise KeyError(shard)
        return self._load(shard)

    def __iter__(self) -> Iterator[str]:
        return iter(self._shards)

    def __len__(self) -> int:
        return len(self._shards)


def _copied_head(rows: pl.DataFrame, n: int) -> pl.DataFrame:
    """The first rows as a copy: a head() shares its parent's buffers and would keep a whole
    shard's rows alive for as long as the preview is."""
    head = rows.head(n)
    return pl.from_dicts(head.to_dicts(), schema=head.schema)


class EmptyShardDays:
    """A shard's day without raw rows shapes to the same nothing on every day of a run (the
    spec and the lookup state's columns are the run's): shaped once, on its first such day,
    and handed out again for the others, which skips their typing, lookups as of the day and
    casts. Over a sparse history most shard-days are empty."""

    def __init__(self) -> None:
        self._shaped: dict[str, Shaped] = {}
        self._lock = threading.Lock()

    def shaped(
        self,
        shards: Sequence[str],
        day_rows: Mapping[str, int],
        shape: Callable[[list[str]], Iterator[tuple[str, Shaped]]],
    ) -> Iterator[tuple[str, Shaped]]:
        """Each shard's shaped day in `shards`' order (the first shard's columns lead the
        file): runs of shards to shape go to `shape` together."""
        group: list[str] = []
        for shard in shards:
            known = self._known(shard) if day_rows.get(shard, 0) == 0 else None
            if known is None:
                group.append(shard)
                continue
            if group:
                yield from self._remembered(shape(group), day_rows)
                group = []
            yield shard, known
        if group:
            yield from self._remembered(shape(group), day_rows)

    def _known(self, shard: str) -> Shaped | None:
        with self._lock:
            shaped = self._shaped.get(shard)
        if shaped is None:
            return None
        stats = dataclasses.replace(shaped.stats, orphans=dict(shaped.stats.orphans))
        return dataclasses.replace(shaped, stats=stats)

    def _remembered(
        self, shaped: Iterator[tuple[str, Shaped]], day_rows: Mapping[str, int]
    ) -> Iterator[tuple[str, Shaped]]:
        for shard, result in shaped:
            if day_rows.get(shard, 0) == 0 and result.rows.height == 0:
                with self._lock:
                    self._shaped.setdefault(shard, result)
            yield shard, result


@dataclasses.dataclass(frozen=True)
class ViewInputs:
    """What every day of one view reads: resolved once per run."""

    spec: ViewSpec
    sources: SourcesSpec
    lake: Lake
    run_id: str
    #: Which of the two datasets a run writes: a run selected for one leaves the other's days
    #: as they were (its checks and records are the other's run's).
    write_view: bool = True
    write_rejects: bool = True

    @functools.cached_property
    def shards(self) -> list[str]:
        return self.sources.shards_for(self.spec.source)

    @functools.cached_property
    def state_columns(self) -> dict[str, list[str]]:
        return {t: state_columns(t, [self.spec], self.sources) for t in lookup_tables(self.spec)}

    @functools.cached_property
    def synced_days(self) -> dict[tuple[str, str], set[dt.date]]:
        """Per (shard, looked-up table read by day), the raw days its versions table was built
        from. A snapshot table's versions come from snapshots, not days: it is not listed."""
        return {
            (shard, table): set(self.lake.versions(shard, table).manifest())
            for shard in self.shards
            for table in self.state_columns
            if not self.sources.tables[table].is_snapshot
        }

    @functools.cached_property
    def first_gaps(self) -> dict[tuple[str, str], dt.date]:
        """Per (shard, looked-up table read by day), the first day since its start its
        versions lack."""
        out = {}
        for (shard, table), synced in self.synced_days.items():
            day = self.sources.table_start(table)
            while day in synced:
                day += dt.timedelta(days=1)
            out[(shard, table)] = day
        return out

    def missing_inputs(self, day: dt.date, shard: str) -> list[str]:
        """The shard's inputs of `day` that are not in the lake: its raw day, its lookup
        tables' day; a lookup table lacking earlier days is named with the days to extract,
        since the shard's lookups would otherwise be NULL without a sign (`history_gaps`).
        A snapshot table's state is missing until it has versions (its first snapshot covers
        every day since the table's start)."""
        missing = []
        if not raw_day_written(self.lake, shard, self.spec.source, day):
            missing.append(f"raw/{shard}/{self.spec.source}")
        for table in self.state_columns:
            if self.sources.tables[table].is_snapshot:
                if not self.lake.versions(shard, table).exists():
                    missing.append(self.lake.versions(shard, table).name)
                continue
            gap = self.first_gaps[(shard, table)]
            if gap > day:
                continue
            versions = self.lake.versions(shard, table)
            if missing:  # the shard is out anyway: its raw day is not there
                missing.append(versions.name)
                continue
            problem = history_gaps(
                versions,
                self.lake.raw(shard, table),
                day - dt.timedelta(days=1),
                start=self.sources.table_start(table),
                synced=self.synced_days[(shard, table)],
            )
            missing.append(versions.name if problem is None else str(problem))
        return missing

    def raw_files(self, day: dt.date, shard: str) -> list[Path]:
        return self.lake.raw(shard, self.spec.source).partition_files(day)

    @functools.cached_property
    def empty_days(self) -> EmptyShardDays:
        return EmptyShardDays()

    @functools.cached_property
    def versions(self) -> dict[tuple[str, str], pl.DataFrame | None]:
        """Per (shard, looked-up table), its versions, read once for all the run's days (the
        state is brought up to date before the view runs); each day takes them as of its end."""
        return {
            (shard, table): self.lake.versions(shard, table).read()
            for shard in self.shards
            for table in self.state_columns
        }

    def states(self, day: dt.date, shard: str) -> dict[str, pl.DataFrame]:
        """Each looked-up table as it stood at the end of `day` on `shard`."""
        out = {}
        for table, columns in self.state_columns.items():
            versions = self.versions[(shard, table)]
            if versions is None:
                raise PartitionMissing(
                    f"view {self.spec.name}: state/{shard}/{table} has no versions yet; "
                    "materialize it first"
                )
            spec = self.sources.tables[table]
            current = as_of(versions, day, key=spec.primary_key, cursor=spec.version_column)
            out[table] = current.select(columns)
        return out


def _raw_reader(
    inputs: ViewInputs, day: dt.date, shards: list[str], needed: list[str]
) -> tuple[Callable[[str], Iterator[pl.DataFrame]], dict[str, int]]:
    """How a shard's raw rows of `day` are read, and each shard's rows (which space the drift
    sample): a CDC source's day is its day file and change files read as one."""
    spec, lake = inputs.spec, inputs.lake
    table = inputs.sources.tables[spec.source]
    if table.is_cdc:
        return functools.partial(
            read_raw_day_slices,
            lake,
            table=table,
            table_name=spec.source,
            day=day,
            columns=needed,
            rows=READ_ROWS,
            history=spec.history,
        ), {s: raw_day_rows(lake, s, spec.source, day) for s in shards}
    raw_files = {s: inputs.raw_files(day, s) for s in shards}

    def read(shard: str) -> Iterator[pl.DataFrame]:
        return read_day_slices(
            lake.raw(shard, spec.source), day, raw_files[shard], needed, READ_ROWS
        )

    return read, {s: files_rows(files) for s, files in raw_files.items()}


def build_view_day(inputs: ViewInputs, day: dt.date) -> DayResult:
    """Shape and write one day of the view and its rejects; a summary back."""
    spec, sources, lake = inputs.spec, inputs.sources, inputs.lake
    table = sources.tables[spec.source]
    result = DayResult(day)
    # A shard whose inputs are not in the lake (its extract failed) is left out and named;
    # the day is rebuilt when they land.
    for shard in inputs.shards:
        if missing := inputs.missing_inputs(day, shard):
            result.missing[shard] = missing
    shards = [s for s in inputs.shards if s not in result.missing]
    if not shards:
        what = ", ".join(m for ms in result.missing.values() for m in ms)
        raise PartitionMissing(
            f"view {spec.name}: no shard has its inputs for {day} ({what} missing); "
            "extract them first"
        )
    needed = source_columns_needed(spec, sources)
    read_raw, day_rows = _raw_reader(inputs, day, shards, needed)

    def shape(group: list[str]) -> Iterator[tuple[str, Shaped]]:
        """Shards are finished as their last slice is typed, and written as they are finished."""
        return finish_shards(
            spec,
            type_slices(
                spec,
                raw_slices(group, read_raw),
                primary_key=table.primary_key,
                cursor=table.cursor,
                day_rows=day_rows,
            ),
            primary_key=table.primary_key,
            related=LazyStates(group, functools.partial(inputs.states, day)),
            related_cursors={t: sources.tables[t].version_column for t in lookup_tables(spec)},
            run_id=inputs.run_id,
        )

    shaped_shards = (
        shape(shards) if table.is_cdc else inputs.empty_days.shaped(shards, day_rows, shape)
    )
    writer = ViewDayWriter(lake.view(spec.name), day) if inputs.write_view else None
    rejects: list[pl.DataFrame] = []
    preview: list[pl.DataFrame] = []
    try:
        for shard, shaped in shaped_shards:
            result.stats[shard] = shaped.stats
            result.drift_samples.extend(shaped.drift_sample.items())
            rejects.append(shaped.rejects)
            # The key holds the shard: duplicates and nulls are counted per shard.
            keys = shaped.rows.select([SHARD, *spec.unique_key])
            result.duplicate_keys += int(keys.is_duplicated().sum())
            result.null_keys += int(
                keys.select(pl.any_horizontal(pl.all().is_null())).to_series().sum()
            )
            if sum(p.height for p in preview) < PREVIEW_ROWS:
                preview.append(_copied_head(shaped.rows, PREVIEW_ROWS))
            if writer is not None:
                writer.add(shaped.rows)
            del shaped, keys
        if writer is not None:
            day_schema = writer.schema
            writer.commit()
        else:
            day_schema = pl.concat(preview, how="diagonal_relaxed").schema if preview else {}
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    day_rejects = pl.concat(rejects or [empty_rejects()], how="vertical_relaxed").with_columns(
        pl.lit(inputs.run_id).alias("_run_id")
    )
    reject_rows = day_rejects.to_arrow()
    if inputs.write_rejects:
        lake.rejects(spec.name).write_partitions({day: reject_rows}, reject_rows.schema)
    # In the day's final schema: a later shard may have added columns or widened types. No
    # schema: no shard's table has a file to take one from.
    result.preview = pl.concat(
        [pl.DataFrame(schema=day_schema or {}), *preview], how="diagonal_relaxed"
    ).head(PREVIEW_ROWS)
    del rejects, day_rejects, reject_rows, preview
    release_free_memory()
    return result


def build_view_days(inputs: ViewInputs, days: Sequence[dt.date]) -> ViewWindow:
    """Every day of a run, on threads; days finished out of order wait for the consumer while
    their worker goes on to the next day."""
    window = ViewWindow()
    workers = min(len(days), default_threads())
    share_cores(workers)
    try:
        for day_result in ordered_map(
            functools.partial(build_view_day, inputs), days, workers=workers, ahead=workers
        ):
            window.add_day(day_result)
    finally:
        share_cores(1)  # the setting is the process's: give later readers every core
    return window
