"""A snapshot table's versions: each snapshot diffed by key against the current rows, changes
and deletes dated by the snapshot's time, the first snapshot dated at the table's start."""

import datetime as dt
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from etl_platform.errors import ColumnMissing, PartitionMissing
from etl_platform.load.lake import Lake
from etl_platform.specs.sources import SNAPSHOT_AT
from etl_platform.steps.snapshot_versions import sync_snapshot
from etl_platform.transform.snapshot_diff import SNAPSHOT, diff_snapshot, first_snapshot, start_of
from etl_platform.transform.versions import DAY, DELETED, ORIGIN, as_of, with_validity

START = dt.date(2026, 1, 1)
T1 = dt.datetime(2026, 3, 5, 10, 30, tzinfo=dt.UTC)
T2 = dt.datetime(2026, 3, 9, 8, 0, tzinfo=dt.UTC)
KEY = ["dept_no"]
COLUMNS = ["dept_no", SNAPSHOT_AT, "dept_name"]


def _rows(names: dict[str, str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {"dept_no": list(names), "dept_name": list(names.values())},
        schema={"dept_no": pl.String, "dept_name": pl.String},
    )


def _versions(rows: pl.DataFrame) -> pl.DataFrame:
    first = first_snapshot(rows, key=KEY, start=START)
    return with_validity(first, key=KEY, cursor=SNAPSHOT_AT)


def _apply(versions: pl.DataFrame, rows: pl.DataFrame, at: dt.datetime) -> pl.DataFrame:
    added = diff_snapshot(versions, rows, key=KEY, at=at)
    merged = pl.concat([versions, added], how="vertical_relaxed")
    return with_validity(merged, key=KEY, cursor=SNAPSHOT_AT)


def _names(versions: pl.DataFrame, day: dt.date) -> dict[str, str | None]:
    current = as_of(versions, day, key=KEY, cursor=SNAPSHOT_AT)
    return dict(current.select("dept_no", "dept_name").iter_rows())


FIRST = {"d001": "Marketing", "d002": "Finance", "d003": "Sales"}


def test_the_first_snapshot_is_dated_at_the_start_of_the_table() -> None:
    versions = _versions(_rows(FIRST))
    assert versions[SNAPSHOT_AT].unique().to_list() == [start_of(START)]
    assert versions[DAY].unique().to_list() == [START]
    assert versions[ORIGIN].unique().to_list() == [SNAPSHOT]
    assert not versions[DELETED].any()
    assert _names(versions, START) == FIRST
    assert _names(versions, START - dt.timedelta(days=1)) == {}


def test_inserts_changes_and_deletes_are_dated_by_the_snapshot() -> None:
    versions = _versions(_rows(FIRST))
    now = {"d001": "Marketing", "d002": "Finance & Accounting", "d004": "Research"}
    added = diff_snapshot(versions, _rows(now), key=KEY, at=T1)
    # d001 unchanged: nothing; d002 changed, d004 new: versions; d003 gone: a tombstone.
    assert sorted(added["dept_no"].to_list()) == ["d002", "d003", "d004"]
    assert set(added[SNAPSHOT_AT].to_list()) == {T1}
    assert set(added[DAY].to_list()) == {T1.date()}
    assert set(added[ORIGIN].to_list()) == {SNAPSHOT}
    assert added.filter(pl.col(DELETED))["dept_no"].to_list() == ["d003"]
    after = _apply(versions, _rows(now), T1)
    assert _names(after, T1.date()) == now
    assert _names(after, T1.date() - dt.timedelta(days=1)) == FIRST


def test_an_unchanged_snapshot_adds_nothing_and_applying_twice_is_idempotent() -> None:
    versions = _versions(_rows(FIRST))
    assert diff_snapshot(versions, _rows(FIRST), key=KEY, at=T1).height == 0
    now = {"d001": "Sales & Marketing", "d002": "Finance"}
    once = _apply(versions, _rows(now), T1)
    assert diff_snapshot(once, _rows(now), key=KEY, at=T2).height == 0
    assert _apply(once, _rows(now), T2).equals(once)


def test_a_null_value_is_compared_as_a_value_and_a_deleted_key_can_come_back() -> None:
    versions = _versions(_rows({"d001": None, "d002": "Finance"}))
    assert diff_snapshot(
        versions, _rows({"d001": None, "d002": "Finance"}), key=KEY, at=T1
    ).is_empty()
    gone = _apply(versions, _rows({"d001": None}), T1)
    assert _names(gone, T1.date()) == {"d001": None}
    back = _apply(gone, _rows({"d001": None, "d002": "Finance again"}), T2)
    assert _names(back, T1.date()) == {"d001": None}
    assert _names(back, T2.date()) == {"d001": None, "d002": "Finance again"}


def _write_snapshot(lake: Lake, names: dict[str, str], at: dt.datetime) -> None:
    table = pa.table({"dept_no": list(names), "dept_name": list(names.values())})
    writer = lake.snapshot("s0", "departments").open(table.schema, at)
    for batch in table.to_batches():
        writer.write(batch)
    writer.commit()


def _sync(lake: Lake):
    return sync_snapshot(
        lake.snapshot("s0", "departments"),
        lake.versions("s0", "departments"),
        columns=COLUMNS,
        key=KEY,
        start=START,
    )


def test_the_state_applies_each_snapshot_once(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    with pytest.raises(PartitionMissing, match="raw/s0/departments has no snapshot yet"):
        _sync(lake)
    _write_snapshot(lake, FIRST, T1)
    assert lake.snapshot("s0", "departments").taken_at() == T1
    first = _sync(lake)
    assert (first.added, first.deleted, first.restarted) == (3, 0, True)
    versions = lake.versions("s0", "departments")
    assert versions.applied_snapshot() == T1
    again = _sync(lake)
    assert (again.added, again.deleted, again.versions) == (0, 0, 3)

    _write_snapshot(lake, {"d001": "Marketing", "d002": "Money"}, T2)
    second = _sync(lake)
    assert (second.added, second.deleted, second.restarted) == (1, 1, False)
    frame = versions.read()
    assert frame is not None
    assert _names(frame, T2.date()) == {"d001": "Marketing", "d002": "Money"}
    assert _names(frame, START) == FIRST
    assert _sync(lake).versions == 5


def test_a_column_the_snapshot_lacks_is_named(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    _write_snapshot(lake, FIRST, T1)
    with pytest.raises(ColumnMissing, match=r"raw/s0/departments has no column.* budget"):
        sync_snapshot(
            lake.snapshot("s0", "departments"),
            lake.versions("s0", "departments"),
            columns=[*COLUMNS, "budget"],
            key=KEY,
            start=START,
        )
