"""Days written with no rows: no file, one manifest per dataset, and a write order that a crash
can only turn into "not written", never into stale rows."""

import datetime as dt
import json
import threading
import time
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pytest

from etl_platform.load import empty_days, lake
from etl_platform.load.duckdb_catalog import register_view
from etl_platform.load.empty_days import MANIFEST_NAME, day_ranges, range_days
from etl_platform.load.lake import Dataset, Lake
from etl_platform.load.lake_reads import partition_days, read_day_slices, read_frame
from etl_platform.steps.lookup_versions import sync_versions

SCHEMA = pa.schema([("id", pa.int64()), ("updated_at", pa.timestamp("us", tz="UTC"))])
FIRST = dt.date(2024, 1, 1)
DAYS = [FIRST + dt.timedelta(days=i) for i in range(4)]


def _rows(day: dt.date, ids: list[int]) -> pa.Table:
    ts = dt.datetime.combine(day, dt.time(6), tzinfo=dt.UTC)
    return pa.table({"id": ids, "updated_at": [ts] * len(ids)}, schema=SCHEMA)


def _write(dataset: Dataset, ids_by_day: dict[dt.date, list[int]]) -> dict:
    return dataset.write_partitions({d: _rows(d, ids) for d, ids in ids_by_day.items()}, SCHEMA)


def _ids(dataset: Dataset, day: dt.date) -> list[int] | None:
    table = dataset.read_partition(day)
    return None if table is None else sorted(table.column("id").to_pylist())


def _manifest(dataset: Dataset) -> list:
    return json.loads((dataset.dir / MANIFEST_NAME).read_text())


@pytest.fixture
def raw(tmp_path: Path) -> Dataset:
    return Lake(tmp_path).raw("s0", "orders")


def test_empty_days_leave_no_file_and_are_listed_as_ranges(raw: Dataset) -> None:
    stats = _write(raw, {DAYS[0]: [], DAYS[1]: [], DAYS[2]: [1], DAYS[3]: []})
    assert {d: s.rows for d, s in stats.items()} == {DAYS[0]: 0, DAYS[1]: 0, DAYS[2]: 1, DAYS[3]: 0}
    assert sorted(p.name for p in raw.dir.iterdir()) == sorted(
        [MANIFEST_NAME, "updated_at=2024-01-03"]
    )
    assert (raw.dir / MANIFEST_NAME).read_text() == (
        '[["2024-01-01","2024-01-02"],["2024-01-04","2024-01-04"]]'
    )
    assert raw.written_days() == set(DAYS)
    assert partition_days(raw) == DAYS
    assert raw.is_written(DAYS[0]) and not raw.is_written(FIRST - dt.timedelta(days=1))
    assert raw.read_partition(DAYS[0]) is None and _ids(raw, DAYS[2]) == [1]


def test_a_day_whose_rows_moved_on_is_emptied(raw: Dataset) -> None:
    _write(raw, {DAYS[0]: [1, 2], DAYS[1]: [3]})
    _write(raw, {DAYS[0]: [1, 2, 3], DAYS[1]: []})
    assert not raw.partition_dir(DAYS[1]).exists()
    assert _manifest(raw) == [["2024-01-02", "2024-01-02"]]
    assert raw.is_written(DAYS[1]) and _ids(raw, DAYS[1]) is None
    assert not any(p.is_dir() for p in raw.staging_dir.iterdir())  # the removed folder too


def test_an_empty_day_that_gets_rows_leaves_the_list(raw: Dataset) -> None:
    _write(raw, {DAYS[0]: [], DAYS[1]: [], DAYS[2]: []})
    _write(raw, {DAYS[1]: [5]})
    assert _manifest(raw) == [["2024-01-01", "2024-01-01"], ["2024-01-03", "2024-01-03"]]
    assert _ids(raw, DAYS[1]) == [5] and raw.written_days() == set(DAYS[:3])


def test_a_rerun_is_idempotent(raw: Dataset) -> None:
    _write(raw, {DAYS[0]: [1], DAYS[1]: []})
    before = (raw.dir / MANIFEST_NAME).stat().st_mtime_ns
    _write(raw, {DAYS[0]: [1], DAYS[1]: []})
    assert (raw.dir / MANIFEST_NAME).stat().st_mtime_ns == before  # unchanged: not rewritten
    assert _ids(raw, DAYS[0]) == [1] and raw.written_days() == set(DAYS[:2])


def test_ranges_round_trip() -> None:
    days = {FIRST, FIRST + dt.timedelta(days=1), FIRST + dt.timedelta(days=40)}
    assert day_ranges(days) == [["2024-01-01", "2024-01-02"], ["2024-02-10", "2024-02-10"]]
    assert range_days(day_ranges(days)) == days
    assert day_ranges([]) == []


def _fail(*_args: object, **_kwargs: object) -> None:
    raise RuntimeError("crash")


def test_a_write_that_fails_before_the_swap_leaves_the_old_days(
    raw: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(raw, {DAYS[0]: [1], DAYS[1]: [2], DAYS[2]: []})
    monkeypatch.setattr(lake, "swap_in", _fail)
    with pytest.raises(RuntimeError, match="crash"):
        _write(raw, {DAYS[0]: [7], DAYS[1]: [], DAYS[2]: [9]})
    assert (_ids(raw, DAYS[0]), _ids(raw, DAYS[1])) == ([1], [2])
    assert _manifest(raw) == [["2024-01-03", "2024-01-03"]]


def test_a_crash_before_an_emptied_day_is_listed_leaves_it_unwritten(
    raw: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(raw, {DAYS[0]: [1], DAYS[1]: [2]})
    monkeypatch.setattr(lake, "record_days", _fail)
    with pytest.raises(RuntimeError, match="crash"):
        _write(raw, {DAYS[0]: [1, 2], DAYS[1]: []})
    assert _ids(raw, DAYS[0]) == [1, 2]
    assert not raw.is_written(DAYS[1])  # its old rows are gone; the day is demanded again


def test_a_crash_before_a_filled_day_is_unlisted_shows_its_new_rows(
    raw: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(raw, {DAYS[0]: []})
    monkeypatch.setattr(lake, "record_days", _fail)
    with pytest.raises(RuntimeError, match="crash"):
        _write(raw, {DAYS[0]: [4]})
    assert DAYS[0] in empty_days.read_empty_days(raw.dir)  # still listed, but the files win
    assert raw.is_written(DAYS[0]) and _ids(raw, DAYS[0]) == [4]


def test_a_crash_while_removing_an_emptied_day_keeps_the_days_with_rows(
    raw: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(raw, {DAYS[0]: [1], DAYS[1]: [2]})
    monkeypatch.setattr(lake, "swap_out", _fail)
    with pytest.raises(RuntimeError, match="crash"):
        _write(raw, {DAYS[0]: [1, 2], DAYS[1]: []})
    assert _ids(raw, DAYS[0]) == [1, 2]
    assert _ids(raw, DAYS[1]) == [2]  # the previous write's day, not yet removed
    assert not (raw.dir / MANIFEST_NAME).exists()


def test_concurrent_writers_of_other_windows_are_all_listed(
    raw: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_replace = empty_days._replace

    def slow_replace(folder: Path, days: set[dt.date]) -> None:
        time.sleep(0.02)  # widen the read-modify-write: without the lock, updates get lost
        real_replace(folder, days)

    monkeypatch.setattr(empty_days, "_replace", slow_replace)
    windows = [[FIRST + dt.timedelta(days=10 * w + i) for i in range(3)] for w in range(8)]
    start = threading.Barrier(len(windows))
    errors: list[BaseException] = []

    def write(days: list[dt.date]) -> None:
        try:
            start.wait()
            _write(raw, {d: ([1] if i == 1 else []) for i, d in enumerate(days)})
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=write, args=(w,)) for w in windows]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert empty_days.read_empty_days(raw.dir) == {w[i] for w in windows for i in (0, 2)}
    assert raw.written_days() == {d for w in windows for d in w}


def test_an_empty_day_reads_as_no_rows_in_the_tables_columns(raw: Dataset) -> None:
    _write(raw, {DAYS[0]: [1], DAYS[1]: []})
    frame = read_frame(raw, DAYS[1], ["id"])
    assert frame is not None and frame.height == 0 and frame.schema == {"id": pl.Int64}
    assert read_frame(raw, DAYS[2], ["id"]) is None
    (empty,) = read_day_slices(raw, DAYS[1], raw.partition_files(DAYS[1]), ["id"], rows=10)
    assert empty.height == 0 and empty.schema == {"id": pl.Int64}
    other_shard = Lake(raw.root).raw("s1", "orders")
    _write(other_shard, {DAYS[1]: []})  # no file of its own: the table's on another shard
    assert read_frame(other_shard, DAYS[1], ["id"]).schema == {"id": pl.Int64}


def test_lookup_state_counts_an_empty_day_as_synced_and_drops_an_emptied_days_versions(
    tmp_path: Path,
) -> None:
    the_lake = Lake(tmp_path)
    raw, versions = the_lake.raw("s0", "customers"), the_lake.versions("s0", "customers")

    def sync() -> object:
        columns = ["id", "updated_at"]
        return sync_versions(raw, versions, columns=columns, key=["id"], cursor="updated_at")

    _write(raw, {DAYS[0]: [1], DAYS[1]: [2], DAYS[2]: []})
    report = sync()
    assert report.read_days == DAYS[:3] and set(versions.manifest()) == set(DAYS[:3])
    _write(raw, {DAYS[2]: []})  # re-written empty: nothing to read again
    assert sync().read_days == []
    _write(raw, {DAYS[1]: []})  # emptied: its versions go
    assert sync().read_days == [DAYS[1]]
    frame = versions.read()
    assert frame is not None and sorted(frame["id"].to_list()) == [1]


def test_duckdb_has_an_empty_view_for_a_dataset_without_files(tmp_path: Path) -> None:
    view = Lake(tmp_path).view("v")
    _write(view, {DAYS[0]: []})
    conn = duckdb.connect()
    assert not register_view(conn, "v", view)
    assert register_view(conn, "v", view, SCHEMA)
    assert conn.sql("SELECT * FROM v").fetchall() == []
    assert conn.sql("SELECT * FROM v").columns == ["id", "updated_at"]
    _write(view, {DAYS[1]: [3]})
    assert register_view(conn, "v", view, SCHEMA)
    assert conn.sql("SELECT id, updated_at FROM v").fetchall() == [(3, DAYS[1])]
