"""Turn a view spec into its Dagster definitions.

For a view `V` on driving table `T` this produces the assets `views/V` (the wide table) and
`views/V__rejects` (rows kept aside, with the reason), group `views`, daily-partitioned by the
UTC day of `T`'s cursor; they depend on `raw/S/T` for every shard `S` and on `state/S/L` for every
looked-up table `L`. Four checks guard `views/V` (unique key unique and not null, rows balance,
reject ratio), and the spec's `schedule` refreshes today's partition.
"""

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from etl_platform.components.lookup_state import (
    read_frame,
    read_slices,
    state_asset_key,
    state_columns,
)
from etl_platform.components.mysql_sources import raw_asset_key
from etl_platform.components.partition_metadata import add_daily_metadata, day_row_counts
from etl_platform.components.view_metadata import (
    PREVIEW_ROWS,
    view_day_metadata,
    view_window_metadata,
)
from etl_platform.load.duckdb_catalog import register_view
from etl_platform.load.lake import Lake, files_rows
from etl_platform.load.view_day import ViewDayWriter
from etl_platform.runtime.memory import release_free_memory
from etl_platform.runtime.parallel import default_threads, ordered_map
from etl_platform.partitions import (
    DERIVED_REFRESH,
    allow_beta_backfill_policy,
    bounded_backfill,
    daily_partitions,
    window_days,
)
from etl_platform.resources import LakeResource
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.views import ViewSpec, parse_duration
from etl_platform.transform.json_read import share_cores
from etl_platform.transform.texts import copied_texts
from etl_platform.transform.view_shape import (
    SHARD,
    ShardStats,
    finish_shards,
    type_slices,
    window_drift,
)

CHECKS = ("unique_key_unique", "unique_key_not_null", "rows_balance", "reject_ratio")


def view_asset_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["views", name])


def rejects_asset_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["views", f"{name}__rejects"])


def source_columns_needed(spec: ViewSpec, sources: SourcesSpec) -> list[str]:
    """Only the driving table's columns the view reads: long unused text stays on disk."""
    table = sources.tables[spec.source]
    cols = [*table.primary_key, table.cursor]
    for c in spec.columns.values():
        cols.extend(x for x in (c.from_, c.json_column) if x)
    cols.extend(f.json_column for f in spec.flatten)
    if spec.explode:
        cols.append(spec.explode.json_column)
    declared = set(spec.columns)
    for lookup in spec.lookups:
        cols.extend(left for left in lookup.on if left not in declared)
    return list(dict.fromkeys(cols))


@dataclasses.dataclass
class _DayResult:
    """What one day of a run hands back once its partitions are written."""

    day: dt.date
    stats: list[tuple[str, ShardStats]] = dataclasses.field(default_factory=list)
    drift_samples: list[tuple[str, pl.Series]] = dataclasses.field(default_factory=list)
    duplicate_keys: int = 0
    null_keys: int = 0
    preview: pl.DataFrame | None = None


@dataclasses.dataclass
class _Window:
    """What the checks need, summed over the days of one run, and each day's metadata."""

    stats: dict[str, ShardStats] = dataclasses.field(default_factory=dict)
    drift_samples: dict[str, list[pl.Series]] = dataclasses.field(default_factory=dict)
    duplicate_keys: int = 0
    null_keys: int = 0
    day_metadata: dict[dt.date, dict] = dataclasses.field(default_factory=dict)
    day_rejects: dict[dt.date, int] = dataclasses.field(default_factory=dict)

    def add_day(self, day: "_DayResult") -> None:
        by_shard: dict[str, ShardStats] = {}
        for shard, stats in day.stats:
            self.add(shard, stats)
            by_shard[shard] = stats
        for column, sample in day.drift_samples:
            self.add_drift_sample(column, sample)
        self.duplicate_keys += day.duplicate_keys
        self.null_keys += day.null_keys
        assert day.preview is not None
        self.day_metadata[day.day] = view_day_metadata(day.preview, by_shard)
        self.day_rejects[day.day] = sum(s.rejected for s in by_shard.values())

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
        for table, n in s.orphans.items():
            total.orphans[table] = total.orphans.get(table, 0) + n


#: Drift samples a run keeps at most per JSON column (~11 MB of 1 KB documents; 50,000 held
#: ~120 MB at the bench size, a tenth of the run's peak).
DRIFT_RUN_ROWS = 10_000


class _LazyStates(Mapping[str, Mapping[str, pl.DataFrame]]):
    """A group's lookup state, read shard by shard when `finish_shards` gets to that shard, so
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


#: Rows of a day read and shaped at a time, across shards: at most this many, a shard's rows
#: being cut where a slice fills. A slice, not the day, is what a day in flight holds of the
#: raw JSON text, and what its JSON pass holds follows its rows; a slice can span shards, so
#: small shards still share one JSON pass. At 16k rather than 25k the bench's 4X peak was
#: 540-558 MiB against 570-584 (X's stayed 482-487), for ~2% of A's time: each JSON pass has a
#: fixed cost of ~22 ms (bench/RESULTS.md, twentieth session).
SLICE_ROWS = 16_000
#: Rows of a shard's raw files read at a time (whole row groups up to about this many; one of
#: more than twice this in batches). A frame cut where a slice fills stays whole in memory for
#: as long as either part is held (the parts are views of it), so a slice holds its rows plus
#: the rest of the frame it was cut from: frames of about a quarter of a slice keep that small.
#: Reading whole 22k-row shard-days took the 4X view's peak ~25 MiB higher at the same speed
#: (bench/RESULTS.md, nineteenth session).
READ_ROWS = SLICE_ROWS // 4


def raw_slices(
    shards: Sequence[str], read: Callable[[str], Iterator[pl.DataFrame]], rows: int = SLICE_ROWS
) -> Iterator[dict[str, pl.DataFrame]]:
    """The shards' raw rows of one day in slices of at most `rows`, {shard: its next rows},
    every shard present at least once (a shard's empty day still brings its schema).

    A frame that would overfill a slice is cut: slices that only stopped once full held up
    to two shards' days (44k rows on the bench's largest days, for a bound of 25k then), and
    the JSON pass's memory follows a slice's rows (bench/RESULTS.md, eighteenth session).
    """
    if rows < 1:
        raise ValueError(f"rows: {rows}; a slice needs at least one row")
    pending: dict[str, list[pl.DataFrame]] = {}
    held = 0
    for shard in shards:
        for frame in read(shard):
            rest: pl.DataFrame | None = frame
            del frame
            while rest is not None:
                room = rows - held
                part, rest = (
                    (rest, None) if rest.height <= room else (rest.slice(0, room), rest.slice(room))
                )
                pending.setdefault(shard, []).append(part)
                held += part.height
                del part  # held by `pending` alone: let go with it
                if held == rows:
                    out = _concat_pending(pending)
                    pending, held = {}, 0
                    yield out
                    del out  # the consumer is done with it: do not hold it while reading on
    if pending:
        yield _concat_pending(pending)


def _concat_pending(pending: dict[str, list[pl.DataFrame]]) -> dict[str, pl.DataFrame]:
    return {
        shard: frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
        for shard, frames in pending.items()
    }


def _copied_head(rows: pl.DataFrame, n: int) -> pl.DataFrame:
    """The first rows as a copy: a head() shares its parent's buffers and would keep a whole
    shard's rows alive for as long as the preview is."""
    head = rows.head(n)
    return pl.from_dicts(head.to_dicts(), schema=head.schema)


def _check_results(spec: ViewSpec, window: _Window) -> list[dg.AssetCheckResult]:
    key = view_asset_key(spec.name)
    rows_in = sum(s.rows_in for s in window.stats.values())
    rejected = sum(s.rejected for s in window.stats.values())
    ratio = rejected / rows_in if rows_in else 0.0
    unbalanced = {
        shard: dataclasses.asdict(s)
        for shard, s in window.stats.items()
        if not s.balanced(bool(spec.explode))
    }
    return [
        dg.AssetCheckResult(
            asset_key=key,
            check_name="unique_key_unique",
            passed=window.duplicate_keys == 0,
            metadata={"duplicate_rows": window.duplicate_keys, "key": ["_shard", *spec.unique_key]},
        ),
        dg.AssetCheckResult(
            asset_key=key,
            check_name="unique_key_not_null",
            passed=window.null_keys == 0,
            metadata={"rows_with_null_key": window.null_keys},
        ),
        dg.AssetCheckResult(
            asset_key=key,
            check_name="rows_balance",
            passed=not unbalanced,
            metadata={"unbalanced_shards": dg.MetadataValue.json(unbalanced)},
        ),
        dg.AssetCheckResult(
            asset_key=key,
            check_name="reject_ratio",
            passed=ratio <= spec.max_reject_ratio,
            metadata={
                "rejected": rejected,
                "rows_in": rows_in,
                "ratio": ratio,
                "max_reject_ratio": spec.max_reject_ratio,
            },
        ),
    ]


def _check_specs(spec: ViewSpec) -> list[dg.AssetCheckSpec]:
    key = view_asset_key(spec.name)
    what = {
        "unique_key_unique": f"One row per _shard + {', '.join(spec.unique_key)}.",
        "unique_key_not_null": "No row has a null in its unique key.",
        "rows_balance": "Per shard: rows in = rows out + rejects + duplicates removed.",
        "reject_ratio": f"Rejected rows are at most {spec.max_reject_ratio:.2%} of rows in.",
    }
    return [
        dg.AssetCheckSpec(name, asset=key, description=what[name], blocking=True) for name in CHECKS
    ]


def build_view_assets(spec: ViewSpec, sources: SourcesSpec) -> dg.AssetsDefinition:
    table = sources.tables[spec.source]
    shards = sources.shards_for(spec.source)
    needed = source_columns_needed(spec, sources)
    lookup_tables = sorted({lookup.table for lookup in spec.lookups})
    state_cols = {t: state_columns(t, [spec], sources) for t in lookup_tables}
    deps = [raw_asset_key(s, spec.source) for s in shards] + [
        state_asset_key(s, t) for t in lookup_tables for s in shards
    ]
    freshness = None
    if spec.freshness:
        freshness = dg.FreshnessPolicy.time_window(
            fail_window=parse_duration(spec.freshness.fail_after),
            warn_window=parse_duration(spec.freshness.warn_after)
            if spec.freshness.warn_after is not None
            else None,
        )

    with allow_beta_backfill_policy():

        @dg.multi_asset(
            name=f"view__{spec.name}",
            specs=[
                dg.AssetSpec(
                    view_asset_key(spec.name),
                    deps=deps,
                    group_name="views",
                    description=spec.description or None,
                    kinds={"polars", "parquet", "duckdb"},
                    metadata={"partition_expr": "updated_at", "destinations": spec.destinations},
                    freshness_policy=freshness,
                    automation_condition=DERIVED_REFRESH,
                    tags={"view": spec.name},
                ),
                dg.AssetSpec(
                    rejects_asset_key(spec.name),
                    group_name="views",
                    description=f"Rows of {spec.name} kept aside: shard, key, column, raw value, "
                    "reason.",
                    kinds={"polars", "parquet", "duckdb"},
                    metadata={"partition_expr": "updated_at"},
                    automation_condition=DERIVED_REFRESH,
                    tags={"view": spec.name},
                ),
            ],
            check_specs=_check_specs(spec),
            partitions_def=daily_partitions(sources.table_start(spec.source)),
            backfill_policy=bounded_backfill(sources.extract.max_days_per_run),
        )
        def _view(context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource):
            the_lake: Lake = lake.lake()

            def _raw_files(day: dt.date, shard: str) -> list[Path]:
                files = the_lake.raw(shard, spec.source).partition_files(day)
                if not files:
                    raise dg.Failure(
                        f"view {spec.name}: raw/{shard}/{spec.source} has no partition {day}; "
                        "extract it first"
                    )
                return files

            def _states(day: dt.date, shard: str) -> dict[str, pl.DataFrame]:
                return {t: _state(day, shard, t) for t in lookup_tables}

            def _state(day: dt.date, shard: str, t: str) -> pl.DataFrame:
                frame = read_frame(the_lake.state(shard, t), day, state_cols[t])
                if frame is None:
                    raise dg.Failure(
                        f"view {spec.name}: state/{shard}/{t} has no partition {day}; "
                        "materialize it first"
                    )
                return frame

            def _day(day: dt.date) -> _DayResult:
                """Shape and write one day; days run on threads (polars/DuckDB/Parquet release
                the GIL), only small summaries come back."""
                result = _DayResult(day)
                rejects = []
                raw_files = {s: _raw_files(day, s) for s in shards}
                rows_read = {s: files_rows(files) for s, files in raw_files.items()}
                # Shards are finished as their last slice is typed and written as they are
                # finished: a day holds one slice of raw rows, one shard's typed rows and one
                # shard's view rows, whatever the day's size.
                shaped_shards = finish_shards(
                    spec,
                    type_slices(
                        spec,
                        raw_slices(shards, lambda s: read_slices(raw_files[s], needed, READ_ROWS)),
                        primary_key=table.primary_key,
                        cursor=table.cursor,
                        day_rows=rows_read,
                    ),
                    primary_key=table.primary_key,
                    related=_LazyStates(shards, functools.partial(_states, day)),
                    related_cursors={t: sources.tables[t].cursor for t in lookup_tables},
                    run_id=context.run.run_id,
                )
                writer = ViewDayWriter(the_lake.view(spec.name), day)
                preview: list[pl.DataFrame] = []
                try:
                    for shard, shaped in shaped_shards:
                        result.stats.append((shard, shaped.stats))
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
                        writer.add(shaped.rows)
                        del shaped, keys
                    day_schema = writer.schema
                    writer.commit()
                except BaseException:
                    writer.abort()
                    raise
                day_rejects = pl.concat(rejects, how="vertical_relaxed").with_columns(
                    pl.lit(context.run.run_id).alias("_run_id")
                )
                reject_rows = day_rejects.to_arrow()
                the_lake.rejects(spec.name).write_partitions({day: reject_rows}, reject_rows.schema)
                # In the day's final schema: the metadata's column schema is read from it, and
                # a later shard may have added columns or widened types.
                assert day_schema is not None
                result.preview = pl.concat(
                    [pl.DataFrame(schema=day_schema), *preview], how="diagonal_relaxed"
                ).head(PREVIEW_ROWS)
                del rejects, day_rejects, reject_rows, preview
                release_free_memory()
                return result

            window = _Window()
            days = window_days(context.partition_time_window)
            workers = min(len(days), default_threads())
            share_cores(workers)
            try:
                # A day hands back only a summary: days finished out of order may wait for the
                # consumer while their worker goes on to the next day.
                for day_result in ordered_map(_day, days, workers=workers, ahead=workers):
                    window.add_day(day_result)
            finally:
                share_cores(1)  # the setting is the process's: give later readers every core
            with duckdb.get_connection() as conn:
                register_view(conn, spec.name, the_lake.view(spec.name))
                register_view(conn, f"{spec.name}__rejects", the_lake.rejects(spec.name))
            add_daily_metadata(context, window.day_metadata, asset_key=view_asset_key(spec.name))
            add_daily_metadata(
                context, day_row_counts(window.day_rejects), asset_key=rejects_asset_key(spec.name)
            )
            yield dg.MaterializeResult(
                asset_key=view_asset_key(spec.name),
                metadata=view_window_metadata(
                    window_drift(spec, window.drift_samples), path=str(the_lake.view(spec.name).dir)
                ),
            )
            yield dg.MaterializeResult(
                asset_key=rejects_asset_key(spec.name),
                metadata={"path": dg.MetadataValue.path(str(the_lake.rejects(spec.name).dir))},
            )
            yield from _check_results(spec, window)

    return _view


def build_view_defs(spec: ViewSpec, sources: SourcesSpec) -> dg.Definitions:
    """The view's assets and checks, and a job + schedule when the spec has a `schedule`."""
    assets = build_view_assets(spec, sources)
    if not spec.schedule:
        return dg.Definitions(assets=[assets])
    job = dg.define_asset_job(
        f"refresh_{spec.name}",
        selection=dg.AssetSelection.assets(
            view_asset_key(spec.name), rejects_asset_key(spec.name)
        ).upstream(),
        description=f"Today's partition of {spec.name} and everything it reads.",
    )

    @dg.schedule(
        name=f"refresh_{spec.name}_schedule",
        cron_schedule=spec.schedule,
        job=job,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        tick = context.scheduled_execution_time.astimezone(dt.UTC)
        return dg.RunRequest(partition_key=tick.date().isoformat(), run_key=tick.isoformat())

    return dg.Definitions(assets=[assets], jobs=[job], schedules=[_schedule])
