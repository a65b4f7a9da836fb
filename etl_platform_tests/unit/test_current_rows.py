"""A view's current rows: kept up to date from the changed days only, always equal to the
latest version of each `_shard` + key over all days as they are now (a brute-force reference
over every day), on random histories of new, rebuilt, emptied and removed days."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl_platform.load.current_rows import (
    DAY_COLUMN,
    GROUP_KEY,
    MANIFEST_KEY,
    current_path,
    current_table,
    read_current,
)
from etl_platform.load.lake import Lake
from etl_platform.specs.views import ViewSpec
from etl_platform.steps.current_rows import sync_current
from etl_platform.transform.current_rows import Reread, merge_current

FIRST = dt.date(2026, 3, 1)
DAYS = [FIRST + dt.timedelta(days=i) for i in range(6)]
KEY = ["k"]
GROUP = ["_shard", "k"]
SCHEMA = {"k": pl.Int64, "v": pl.Int64, "_shard": pl.String, "_updated_at": pl.Int64}
SPEC = ViewSpec.model_validate(
    {
        "name": "orders",
        "source": "orders",
        "columns": {"k": {"from": "id", "type": "int64"}, "v": {"from": "v", "type": "int64"}},
        "unique_key": KEY,
    }
)

# A view day's rows: (shard, key, cursor, value), one row per shard + key. Cursors may be null,
# tie across days, or be earlier than another day's: the merge must not rely on days.
Row = tuple[str, int, int | None, int]
rows_st = st.lists(
    st.tuples(
        st.sampled_from(["s0", "s1"]),
        st.integers(0, 4),
        st.one_of(st.none(), st.integers(0, 6)),
        st.integers(0, 3),
    ),
    max_size=8,
    unique_by=lambda r: (r[0], r[1]),
)
op_st = st.one_of(
    st.tuples(st.just("write"), st.integers(0, len(DAYS) - 1), rows_st),
    st.tuples(st.just("remove"), st.integers(0, len(DAYS) - 1), st.just([])),
    st.tuples(st.just("empty"), st.integers(0, len(DAYS) - 1), st.just([])),
)
history_st = st.lists(st.lists(op_st, min_size=1, max_size=4), min_size=1, max_size=6)


def _frame(rows: list[Row], *, extra: bool = False) -> pl.DataFrame:
    frame = pl.DataFrame(
        [(k, v, shard, cursor) for shard, k, cursor, v in rows], schema=SCHEMA, orient="row"
    )
    # Some days carry a column others lack (a view whose columns changed): the union is kept.
    return frame.with_columns(pl.col("v").alias("extra")) if extra else frame


def _reference(days: dict[dt.date, pl.DataFrame]) -> dict[tuple, dict]:
    """Latest version per shard + key over every day: the greatest cursor (null lowest), then
    the later day. One row per key and day, so nothing else ties."""
    best: dict[tuple, dict] = {}
    for day, frame in days.items():
        for row in frame.to_dicts():
            row = {**row, DAY_COLUMN: day}
            rank = (row["_updated_at"] is not None, row["_updated_at"] or 0, day)
            group = (row["_shard"], row["k"])
            held = best.get(group)
            if held is None or rank > (
                held["_updated_at"] is not None,
                held["_updated_at"] or 0,
                held[DAY_COLUMN],
            ):
                best[group] = row
    return best


def _as_dicts(frame: pl.DataFrame | None) -> dict[tuple, dict]:
    if frame is None:
        return {}
    assert frame.columns[-1] == DAY_COLUMN
    assert frame.select(GROUP).is_duplicated().sum() == 0
    assert frame.equals(frame.sort(GROUP))
    return {(r["_shard"], r["k"]): r for r in frame.to_dicts()}


def _same(got: dict[tuple, dict], want: dict[tuple, dict]) -> None:
    assert got.keys() == want.keys()
    for group, row in want.items():
        columns = {*row, *got[group]}  # a column some days lack is null in the others' rows
        assert {c: got[group].get(c) for c in columns} == {c: row.get(c) for c in columns}, group


def _reread_from(days: dict[dt.date, pl.DataFrame], skip: set[dt.date]) -> Reread:
    """The vanished keys' rows in the days not in `skip`, as the step reads them from disk."""

    def reread(keys: pl.DataFrame) -> Iterator[pl.DataFrame]:
        for day, frame in days.items():
            if day not in skip:
                found = frame.join(keys.cast(frame.select(GROUP).schema), on=GROUP, how="semi")
                yield found.with_columns(pl.lit(day).alias(DAY_COLUMN))

    return reread


@settings(max_examples=300, deadline=None)
@given(history=history_st, fold_rows=st.sampled_from([1, 5, 10**6]))
def test_merge_equals_latest_over_all_days(history: list[list[tuple]], fold_rows: int) -> None:
    world: dict[dt.date, pl.DataFrame] = {}
    synced: set[dt.date] = set()  # the days the current rows were built from
    current = None
    for ops in history:
        changed: dict[dt.date, pl.DataFrame] = {}
        for kind, i, rows in ops:
            day = DAYS[i]
            if kind == "write" and rows:
                world[day] = changed[day] = _frame(rows, extra=i % 2 == 1)
            else:  # removed, or rebuilt with no rows: no file either way
                world.pop(day, None)
                changed.pop(day, None)
        gone = synced - set(world)
        merged = merge_current(
            current,
            changed,
            gone,
            key=KEY,
            reread=_reread_from(world, set(changed)),
            fold_rows=fold_rows,
        )
        current, synced = merged.rows, set(world)
        _same(_as_dicts(current), _reference(world))


def test_a_tie_on_the_cursor_goes_to_the_later_day() -> None:
    days = {DAYS[2]: _frame([("s0", 1, 5, 2)]), DAYS[0]: _frame([("s0", 1, 5, 0)])}
    merged = merge_current(None, days, [], key=KEY)
    assert merged.rows is not None
    assert merged.rows.select("v", DAY_COLUMN).rows() == [(2, DAYS[2])]


def test_a_key_gone_from_a_rebuilt_day_falls_back_to_an_older_unchanged_day() -> None:
    first = {DAYS[0]: _frame([("s0", 1, 1, 10)]), DAYS[2]: _frame([("s0", 1, 3, 30)])}
    built = merge_current(None, first, [], key=KEY).rows
    assert built is not None and built["v"].to_list() == [30]
    # Day 3 built again without the row (it moved to a day not built yet): day 1's version is
    # the latest there is now, and the current table does not hold it.
    now = {DAYS[0]: first[DAYS[0]], DAYS[2]: _frame([("s0", 2, 3, 7)])}
    with pytest.raises(ValueError, match="vanished"):
        merge_current(built, {DAYS[2]: now[DAYS[2]]}, [], key=KEY)
    merged = merge_current(
        built, {DAYS[2]: now[DAYS[2]]}, [], key=KEY, reread=_reread_from(now, {DAYS[2]})
    )
    assert merged.vanished == 1
    assert merged.rows is not None
    assert merged.rows.select("k", "v", DAY_COLUMN).rows() == [(1, 10, DAYS[0]), (2, 7, DAYS[2])]


def test_a_key_whose_changed_version_is_later_is_not_looked_for() -> None:
    built = merge_current(None, {DAYS[1]: _frame([("s0", 1, 3, 30)])}, [], key=KEY).rows
    merged = merge_current(built, {DAYS[1]: _frame([("s0", 1, 4, 40)])}, [], key=KEY)
    assert merged.vanished == 0
    assert merged.rows is not None and merged.rows["v"].to_list() == [40]


# The step, on a lake on disk.


def _write_view_day(lake: Lake, day: dt.date, rows: list[Row]) -> None:
    """A view day as the view writes it: swapped in whole; no rows: folder removed and the day
    listed as empty."""
    writer = lake.view(SPEC.name).open_day(day)
    if rows:
        writer.write(_frame(rows, extra=day.day % 2 == 0).to_arrow())
    writer.commit()


def _disk_reference(lake: Lake) -> dict[tuple, dict]:
    view = lake.view(SPEC.name)
    days = {
        d: pl.concat(
            [pl.read_parquet(f, hive_partitioning=False) for f in view.partition_files(d)],
            how="diagonal_relaxed",
        )
        for d in view.days_with_files()
    }
    return _reference(days)


@settings(max_examples=40, deadline=None)
@given(history=history_st)
def test_sync_equals_latest_over_all_days_on_disk(history: list[list[tuple]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lake = Lake(Path(tmp) / "lake")
        synced: set[dt.date] = set()
        for ops in history:
            written: set[dt.date] = set()
            for kind, i, rows in ops:
                day = DAYS[i]
                if kind == "remove":
                    shutil.rmtree(lake.view(SPEC.name).partition_dir(day), ignore_errors=True)
                    written.discard(day)
                elif kind == "write" and rows:
                    _write_view_day(lake, day, rows)
                    written.add(day)
                else:
                    _write_view_day(lake, day, [])
                    written.discard(day)
            with_files = lake.view(SPEC.name).days_with_files()
            report = sync_current(lake, SPEC)
            assert set(report.days_read) == written
            assert set(report.days_gone) == synced - with_files
            assert report.days == len(with_files)
            synced = with_files
            _same(_as_dicts(read_current(lake.root, SPEC.name)), _disk_reference(lake))
            again = sync_current(lake, SPEC)
            assert not again.written and not again.days_read
            assert (again.rows, again.keys) == (report.rows, report.rows)


def _lake_with_history(tmp_path: Path) -> Lake:
    lake = Lake(tmp_path / "lake")
    _write_view_day(lake, DAYS[0], [("s0", 1, 1, 10), ("s0", 2, 1, 20), ("s1", 1, 1, 11)])
    _write_view_day(lake, DAYS[2], [("s0", 1, 3, 30)])
    _write_view_day(lake, DAYS[3], [("s1", 3, 4, 33)])
    return lake


def test_the_file_records_its_days_and_key_and_is_swapped_in_whole(tmp_path: Path) -> None:
    lake = _lake_with_history(tmp_path)
    report = sync_current(lake, SPEC)
    assert report.written and report.rows == report.keys == 4
    assert report.rows_per_shard == {"s0": 2, "s1": 2}
    assert report.path == current_path(lake.root, SPEC.name)
    meta = pq.read_schema(report.path).metadata
    assert set(meta) >= {MANIFEST_KEY, GROUP_KEY}
    table = current_table(lake.root, SPEC.name)
    assert set(table.manifest()) == {DAYS[0], DAYS[2], DAYS[3]}
    assert table.group() == GROUP
    assert list(report.path.parent.iterdir()) == [report.path]
    staged = table.dataset.staging_dir
    assert not staged.exists() or not [p for p in staged.iterdir() if p.is_dir()]
    current = read_current(lake.root, SPEC.name, ["k", "v", DAY_COLUMN])
    assert current is not None
    assert current.rows() == [
        (1, 30, DAYS[2]),
        (2, 20, DAYS[0]),
        (1, 11, DAYS[0]),
        (3, 33, DAYS[3]),
    ]


def test_an_update_reads_only_the_days_that_changed(tmp_path: Path) -> None:
    lake = _lake_with_history(tmp_path)
    first = sync_current(lake, SPEC)
    stamp = first.path.stat().st_mtime_ns
    assert sync_current(lake, SPEC).written is False
    assert first.path.stat().st_mtime_ns == stamp
    _write_view_day(lake, DAYS[4], [("s0", 2, 5, 50)])
    report = sync_current(lake, SPEC)
    assert report.days_read == [DAYS[4]] and report.vanished_keys == 0
    # Day 3 rebuilt without key 1 (it moved on to a day not built yet): day 1's version again.
    _write_view_day(lake, DAYS[2], [])
    report = sync_current(lake, SPEC)
    assert (report.days_read, report.days_gone) == ([], [DAYS[2]])
    assert (report.vanished_keys, report.days_reread) == (1, 1)
    _same(_as_dicts(read_current(lake.root, SPEC.name)), _disk_reference(lake))


def test_a_changed_unique_key_rebuilds_from_every_day(tmp_path: Path) -> None:
    lake = _lake_with_history(tmp_path)
    sync_current(lake, SPEC)
    by_value = SPEC.model_copy(update={"unique_key": ["v"]})
    report = sync_current(lake, by_value)
    assert report.rebuilt and len(report.days_read) == 3
    assert current_table(lake.root, SPEC.name).group() == ["_shard", "v"]
    assert report.rows == 5  # every (shard, v) of every day is distinct here


def test_a_view_without_rows_has_no_file_until_it_has_some(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    _write_view_day(lake, DAYS[0], [])
    report = sync_current(lake, SPEC)
    assert not report.written and report.rows == 0
    assert read_current(lake.root, SPEC.name) is None
    _write_view_day(lake, DAYS[1], [("s0", 1, 1, 1)])
    assert sync_current(lake, SPEC).rows == 1
    _write_view_day(lake, DAYS[1], [])
    report = sync_current(lake, SPEC)
    assert report.written and report.rows == 0 and report.days_gone == [DAYS[1]]
    empty = read_current(lake.root, SPEC.name)
    assert empty is not None and empty.height == 0 and "v" in empty.columns
