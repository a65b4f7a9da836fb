"""A view's second partitioning (`partition_by`): after any sequence of changes to the current
rows, and after a sync killed part way, the layout is the current rows regrouped by event day,
each row exactly once, and a sync rewrites only the days whose rows changed."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from dagster_duckdb import DuckDBResource
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl_platform.asset_keys import by_column_asset_key, current_asset_key
from etl_platform.components.by_column import build_by_column_asset
from etl_platform.load import by_column_lake
from etl_platform.load.by_column_lake import (
    PENDING_DIR,
    CurrentRowsMissing,
    LayoutWriter,
    by_column_dataset,
    sync_layout,
)
from etl_platform.load.current_rows import current_path, read_current
from etl_platform.load.duckdb_catalog import register_parquet_view
from etl_platform.resources import LakeResource
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.views import ViewSpec
from etl_platform.transform.by_column import (
    EVENT_DAY,
    NULL_FOLDER_VALUE,
    day_folder,
    day_passes,
    event_day,
    folder_key,
    placement_of,
    touched_days,
)

D = dt.date
VIEW, COLUMN, KEY = "events", "occurred", ["id"]
DAYS = [D(2024, 2, 10), D(2024, 3, 1), D(2024, 3, 2), D(2024, 3, 3), None]
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

#: A key's state: its event day (None: NULL) and its version; a missing key has no row.
State = dict[tuple[str, int], tuple[dt.date | None, int]]
STATES = st.dictionaries(
    st.tuples(st.sampled_from(["s0", "s1"]), st.integers(0, 5)),
    st.tuples(st.sampled_from(DAYS), st.integers(1, 3)),
    max_size=12,
)


def current_frame(state: State, kind: str) -> pl.DataFrame:
    """The current rows of `state`: the event column a date, or a timestamp late in its UTC
    day (a wrong time zone would move it to the next day)."""
    rows = [
        {
            "id": key,
            "amount": key * 10 + version,
            COLUMN: day,
            "_shard": shard,
            "_updated_at": dt.datetime(2024, 3, 5) + dt.timedelta(hours=version),
            "_run_id": f"run-{version}",
            "_day": D(2024, 3, 5),
        }
        for (shard, key), (day, version) in sorted(state.items())
    ]
    schema = {
        "id": pl.Int64,
        "amount": pl.Int64,
        COLUMN: pl.Date,
        "_shard": pl.String,
        "_updated_at": pl.Datetime("us"),
        "_run_id": pl.String,
        "_day": pl.Date,
    }
    frame = pl.DataFrame(rows, schema=schema)
    if kind == "timestamp":
        late = pl.col(COLUMN).cast(pl.Datetime("us")) + pl.duration(hours=23, minutes=59)
        frame = frame.with_columns(late.dt.replace_time_zone("UTC").alias(COLUMN))
    return frame


def write_current(root: Path, frame: pl.DataFrame) -> None:
    path = current_path(root, VIEW)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    frame.write_parquet(tmp, row_group_size=4)  # several groups, some without a touched day
    tmp.replace(path)


def key_of(kind: str) -> str:
    return COLUMN if kind == "date" else f"{COLUMN}_day"


def regrouped(frame: pl.DataFrame, kind: str) -> dict[str, set[tuple]]:
    """The brute force: every current row under its event day's folder."""
    key = key_of(kind)
    dtype = frame.schema[COLUMN]
    days = frame.with_columns(event_day(COLUMN, dtype).alias(EVENT_DAY))
    stored = sorted(c for c in frame.columns if not (kind == "date" and c == COLUMN))
    out: dict[str, set[tuple]] = {}
    for row in days.iter_rows(named=True):
        values = tuple(row[c] for c in stored)
        out.setdefault(day_folder(key, row[EVENT_DAY]), set()).add(values)
    return out


def laid_out(root: Path) -> dict[str, set[tuple]]:
    """What the layout holds: each day folder's rows, one file per folder."""
    folder = by_column_dataset(root, VIEW, COLUMN).dir
    out: dict[str, set[tuple]] = {}
    for day in sorted(p for p in folder.iterdir() if "=" in p.name) if folder.is_dir() else []:
        files = list(day.iterdir())
        assert [f.name for f in files] == ["part-00000.parquet"], files
        rows = pl.read_parquet(files[0])
        assert rows.height, f"{day.name} is an empty day folder"
        rows = rows.select(sorted(rows.columns))
        assert rows.height == rows.unique().height  # exactly once
        out[day.name] = set(rows.rows())
    return out


def file_ids(root: Path) -> dict[str, int]:
    """Each day file's inode: a rewritten day is a new file."""
    folder = by_column_dataset(root, VIEW, COLUMN).dir
    if not folder.is_dir():
        return {}
    return {f.parent.name: f.stat().st_ino for f in folder.glob("*=*/*.parquet")}


# --- the pure steps -------------------------------------------------------------------------


def test_a_timestamp_falls_on_its_utc_day_and_a_date_on_itself() -> None:
    moments = [dt.datetime(2024, 3, 1, 23, 30), dt.datetime(2024, 3, 2, 0, 0), None]
    frame = pl.DataFrame({"at": moments}).with_columns(
        pl.col("at").alias("naive"),
        pl.col("at").dt.replace_time_zone("UTC").dt.convert_time_zone("Asia/Tokyo").alias("tokyo"),
        pl.col("at").dt.date().alias("day"),
    )
    expected = [D(2024, 3, 1), D(2024, 3, 2), None]
    for column in ("naive", "tokyo", "day"):
        got = frame.select(event_day(column, frame.schema[column])).to_series().to_list()
        assert got == expected, column
    assert folder_key("day", pl.Date()) == "day"
    assert folder_key("at", pl.Datetime("us", "UTC")) == "at_day"
    with pytest.raises(TypeError, match="not a date or timestamp"):
        folder_key("n", pl.Int64())


def test_touched_days_are_the_old_and_new_days_of_changed_keys() -> None:
    before = current_frame(
        {("s0", 1): (DAYS[1], 1), ("s0", 2): (DAYS[2], 1), ("s1", 3): (None, 1)}, "date"
    )
    old = placement_of(before, KEY, COLUMN)
    assert touched_days(None, old, KEY) == {DAYS[1], DAYS[2], None}
    assert touched_days(old, old, KEY) == set()
    moved = {("s0", 1): (DAYS[0], 2), ("s0", 2): (DAYS[2], 1), ("s1", 3): (None, 1)}
    assert touched_days(old, placement_of(current_frame(moved, "date"), KEY, COLUMN), KEY) == {
        DAYS[0],
        DAYS[1],
    }
    newer = {("s0", 1): (DAYS[1], 1), ("s0", 2): (DAYS[2], 1), ("s1", 3): (None, 2)}
    assert touched_days(old, placement_of(current_frame(newer, "date"), KEY, COLUMN), KEY) == {None}
    gone = {("s0", 1): (DAYS[1], 1), ("s1", 2): (DAYS[3], 1)}  # s0/2 and s1/3 vanish, s1/2 new
    assert touched_days(old, placement_of(current_frame(gone, "date"), KEY, COLUMN), KEY) == {
        DAYS[2],
        DAYS[3],
        None,
    }


def test_passes_hold_at_most_the_row_limit_unless_one_day_is_larger() -> None:
    counts = {DAYS[0]: 5, DAYS[1]: 3, DAYS[2]: 9, None: 1, DAYS[3]: 0}
    assert day_passes(counts, counts, 6) == [[DAYS[0]], [DAYS[1]], [DAYS[2]], [None]]
    assert day_passes(counts, counts, 100) == [[DAYS[0], DAYS[1], DAYS[2], None]]


# --- the layout on disk ---------------------------------------------------------------------


@SETTINGS
@given(
    history=st.lists(STATES, min_size=1, max_size=5), kind=st.sampled_from(["date", "timestamp"])
)
def test_the_layout_is_the_current_rows_regrouped_after_any_history(
    history: list[State], kind: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("lake")
    before: dict[str, set[tuple]] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(by_column_lake, "ROWS_PER_PASS", 3)  # several reads of the current rows
        for state in history:
            _sync_and_check(root, state, kind, before)
            before = regrouped(current_frame(state, kind), kind)


def _sync_and_check(root: Path, state: State, kind: str, before: dict[str, set[tuple]]) -> None:
    """One sync over `state`: the layout is its regrouping, and only the folders whose rows
    changed were rewritten or removed."""
    frame = current_frame(state, kind)
    write_current(root, frame)
    files = file_ids(root)
    report = sync_layout(root, VIEW, COLUMN, KEY)
    expected = regrouped(frame, kind)
    assert laid_out(root) == expected
    changed = {f for f in expected if expected[f] != before.get(f)}
    assert {day_folder(report.key, d) for d in report.rewritten} == changed
    assert {f"{report.key}={v}" for v in report.removed} == set(before) - set(expected)
    untouched = set(expected) - changed
    assert {f: i for f, i in file_ids(root).items() if f in untouched} == {
        f: files[f] for f in untouched
    }
    assert report.rows == frame.height and report.days == len(expected)
    assert not (by_column_dataset(root, VIEW, COLUMN).dir / PENDING_DIR).exists()


class Killed(Exception):
    """The process dying at one of a sync's writes."""


@SETTINGS
@given(
    first=STATES,
    second=STATES,
    then=st.one_of(st.none(), st.just("first"), STATES),
    kill_at=st.integers(0, 12),
    kind=st.sampled_from(["date", "timestamp"]),
)
def test_a_sync_killed_between_writes_converges_on_the_next(
    first: State,
    second: State,
    then: State | str | None,
    kill_at: int,
    kind: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Killed at any write of its second sync, then rerun over the same current rows, over
    new ones, or over the first ones again (a view day rebuilt back): the layout converges."""
    root = tmp_path_factory.mktemp("lake")
    write_current(root, current_frame(first, kind))
    sync_layout(root, VIEW, COLUMN, KEY)
    write_current(root, current_frame(second, kind))
    calls = itertools.count()
    with pytest.MonkeyPatch.context() as patch:
        for name in (
            "write_pending",
            "replace_folder",
            "remove_folder",
            "replace_placement",
            "clear_pending",
        ):
            real = getattr(LayoutWriter, name)

            def dying(self: LayoutWriter, *args: object, _real=real) -> object:
                if next(calls) == kill_at:
                    raise Killed
                return _real(self, *args)

            patch.setattr(LayoutWriter, name, dying)
        with contextlib.suppress(Killed):
            sync_layout(root, VIEW, COLUMN, KEY)
    final = second if then is None else first if then == "first" else then
    assert isinstance(final, dict)
    frame = current_frame(final, kind)
    write_current(root, frame)
    sync_layout(root, VIEW, COLUMN, KEY)
    assert laid_out(root) == regrouped(frame, kind)
    report = sync_layout(root, VIEW, COLUMN, KEY)
    assert report.rewritten == [] and report.removed == []


def test_a_row_updated_today_moves_to_last_months_day_exactly_once(tmp_path: Path) -> None:
    today, last_month = D(2024, 3, 3), D(2024, 2, 10)
    write_current(tmp_path, current_frame({("s0", 1): (today, 1), ("s0", 2): (today, 1)}, "date"))
    sync_layout(tmp_path, VIEW, COLUMN, KEY)
    moved = current_frame({("s0", 1): (last_month, 2), ("s0", 2): (today, 1)}, "date")
    write_current(tmp_path, moved)
    report = sync_layout(tmp_path, VIEW, COLUMN, KEY)
    assert report.rewritten == [last_month, today]
    everywhere = pl.read_parquet(
        by_column_dataset(tmp_path, VIEW, COLUMN).dir / "*=*" / "*.parquet",
        hive_partitioning=True,
    )
    assert everywhere.filter(pl.col("id") == 1).select(COLUMN, "amount").rows() == [
        (last_month, 12)
    ]


def test_null_dates_go_to_the_hive_default_folder_that_readers_read_as_null(
    tmp_path: Path,
) -> None:
    frame = current_frame({("s0", 1): (None, 1), ("s0", 2): (DAYS[1], 1)}, "date")
    write_current(tmp_path, frame)
    sync_layout(tmp_path, VIEW, COLUMN, KEY)
    folder = by_column_dataset(tmp_path, VIEW, COLUMN).dir
    assert (folder / f"{COLUMN}={NULL_FOLDER_VALUE}").is_dir()
    conn = duckdb.connect()
    register_parquet_view(conn, "v", str(folder / "*=*" / "*.parquet"), hive_dates=[COLUMN])
    assert conn.sql(f"SELECT id FROM v WHERE {COLUMN} IS NULL").fetchall() == [(1,)]
    assert conn.sql(f"SELECT id FROM v WHERE {COLUMN} = DATE '2024-03-01'").fetchall() == [(2,)]


def test_a_change_of_the_views_columns_rewrites_every_day(tmp_path: Path) -> None:
    state = {("s0", 1): (DAYS[0], 1), ("s0", 2): (DAYS[1], 1)}
    write_current(tmp_path, current_frame(state, "date"))
    sync_layout(tmp_path, VIEW, COLUMN, KEY)
    wider = current_frame(state, "date").with_columns(pl.lit("x").alias("note"))
    write_current(tmp_path, wider)
    report = sync_layout(tmp_path, VIEW, COLUMN, KEY)
    assert report.rebuilt and report.rewritten == [DAYS[0], DAYS[1]]
    assert laid_out(tmp_path) == regrouped(wider, "date")


def test_folders_of_another_key_or_a_lost_day_are_removed(tmp_path: Path) -> None:
    state = {("s0", 1): (DAYS[1], 1)}
    write_current(tmp_path, current_frame(state, "date"))
    sync_layout(tmp_path, VIEW, COLUMN, KEY)
    folder = by_column_dataset(tmp_path, VIEW, COLUMN).dir
    stray = folder / f"{COLUMN}=1999-01-01"
    stray.mkdir()
    pl.DataFrame({"id": [9]}).write_parquet(stray / "part-00000.parquet")
    assert sync_layout(tmp_path, VIEW, COLUMN, KEY).removed == ["1999-01-01"]
    frame = current_frame(state, "timestamp")  # the column became a timestamp: a new key
    write_current(tmp_path, frame)
    report = sync_layout(tmp_path, VIEW, COLUMN, KEY)
    assert report.key == f"{COLUMN}_day" and report.removed == ["2024-03-01"]
    assert laid_out(tmp_path) == regrouped(frame, "timestamp")


def test_a_timestamps_day_folder_must_not_be_a_view_column(tmp_path: Path) -> None:
    frame = current_frame({("s0", 1): (DAYS[1], 1)}, "timestamp")
    write_current(tmp_path, frame.with_columns(pl.lit(DAYS[1]).alias(f"{COLUMN}_day")))
    with pytest.raises(ValueError, match="partition by that date column instead"):
        sync_layout(tmp_path, VIEW, COLUMN, KEY)


def test_a_unique_key_may_hold_the_partition_column(tmp_path: Path) -> None:
    frame = current_frame({("s0", 1): (DAYS[1], 1), ("s0", 2): (DAYS[2], 1)}, "date")
    write_current(tmp_path, frame)
    sync_layout(tmp_path, VIEW, COLUMN, ["id", COLUMN])
    assert laid_out(tmp_path) == regrouped(frame, "date")


def test_without_current_rows_there_is_nothing_to_lay_out(tmp_path: Path) -> None:
    with pytest.raises(CurrentRowsMissing, match="never built"):
        sync_layout(tmp_path, VIEW, COLUMN, KEY)


# --- the asset ------------------------------------------------------------------------------

SPEC = ViewSpec.model_validate(
    {
        "name": VIEW,
        "source": "events",
        "columns": {
            "id": {"from": "id", "type": "int64"},
            "amount": {"from": "amount", "type": "int64"},
            COLUMN: {"from": "occurred", "type": "date"},
        },
        "unique_key": KEY,
        "partition_by": COLUMN,
    }
)
SOURCES = SourcesSpec.model_validate(
    {
        "start": "2024-01-01",
        "shards": {"s0": {"url_env": "SHARD_URL"}},
        "tables": {"events": {"primary_key": ["id"]}},
    }
)


def _materialize(root: Path) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [build_by_column_asset(SPEC, SOURCES)],
        resources={
            "lake": LakeResource(root=str(root)),
            "duckdb": DuckDBResource(database=str(root / "lake.duckdb")),
        },
        raise_on_error=False,
    )


def _metadata(result: dg.ExecuteInProcessResult) -> dict:
    (mat,) = result.asset_materializations_for_node(result.all_node_events[0].node_name)
    return {k: v.value for k, v in mat.metadata.items()}


def test_the_asset_rewrites_changed_days_and_registers_a_duckdb_view(tmp_path: Path) -> None:
    asset = build_by_column_asset(SPEC, SOURCES)
    assert asset.key == by_column_asset_key(VIEW, COLUMN)
    assert set(asset.asset_deps[asset.key]) == {current_asset_key(VIEW)}
    assert asset.group_names_by_key[asset.key] == "views"
    failed = _materialize(tmp_path)
    assert not failed.success
    assert "materialize views/events__current first" in str(failed.get_step_failure_events())

    write_current(tmp_path, current_frame({("s0", 1): (DAYS[2], 1), ("s1", 1): (None, 1)}, "date"))
    first = _metadata(_materialize(tmp_path))
    assert first["days_rewritten"] == ["2024-03-02", NULL_FOLDER_VALUE]
    assert first["dagster/row_count"] == 2 and first["partition_key"] == COLUMN
    schema = {c.name: c.type for c in first["dagster/column_schema"].columns}
    assert schema[COLUMN] == "date" and "amount" in schema
    assert f"`{COLUMN}=YYYY-MM-DD/`;" in asset.descriptions_by_key[asset.key]

    write_current(tmp_path, current_frame({("s0", 1): (DAYS[0], 2), ("s1", 1): (None, 1)}, "date"))
    second = _metadata(_materialize(tmp_path))
    assert second["days_rewritten"] == ["2024-02-10"] and second["days_removed"] == ["2024-03-02"]
    with duckdb.connect(str(tmp_path / "lake.duckdb")) as conn:
        rows = conn.sql(f"SELECT id, _shard, {COLUMN} FROM {VIEW}__by_{COLUMN} ORDER BY 2")
        assert rows.fetchall() == [(1, "s0", DAYS[0]), (1, "s1", None)]

    write_current(tmp_path, read_current(tmp_path, VIEW).clear())
    third = _metadata(_materialize(tmp_path))
    assert third["dagster/row_count"] == 0 and len(third["days_removed"]) == 2
    with duckdb.connect(str(tmp_path / "lake.duckdb")) as conn:
        assert not conn.sql(
            f"SELECT * FROM duckdb_views() WHERE view_name = '{VIEW}__by_{COLUMN}'"
        ).fetchall()


def test_the_description_names_a_timestamps_day_folder() -> None:
    spec = SPEC.model_copy(
        update={
            "columns": {
                **SPEC.columns,
                "at": SPEC.columns["id"].model_copy(update={"type": "timestamp"}),
            },
            "partition_by": "at",
        }
    )
    text = build_by_column_asset(spec, SOURCES).descriptions_by_key[by_column_asset_key(VIEW, "at")]
    assert "`at_day=YYYY-MM-DD/` (the UTC day of `at`)" in text
