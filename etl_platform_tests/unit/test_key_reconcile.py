"""Key reconciliation without a server: the streamed anti-join and the state days it rewrites."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from etl_platform.load.lake import Lake
from etl_platform.steps.reconcile import RECONCILED_DAYS, reconcile_state, vanished_keys

DAYS = [dt.date(2024, 3, 1) + dt.timedelta(days=i) for i in range(4)]
SCHEMA = pa.schema([("id", pa.uint64()), ("sub", pa.string()), ("tier", pa.string())])


def _batches(rows: list[tuple[int, str]], size: int) -> Iterator[pa.RecordBatch]:
    for start in range(0, len(rows), size):
        part = rows[start : start + size]
        yield pa.record_batch(
            {"id": pa.array([r[0] for r in part], pa.uint64()), "sub": [r[1] for r in part]}
        )


def test_vanished_keys_are_those_no_batch_holds_on_every_key_column() -> None:
    state = pl.DataFrame(
        {"id": [1, 1, 2, 3], "sub": ["a", "b", "a", "a"]},
        schema={"id": pl.UInt64, "sub": pl.String},
    )
    source = [(1, "a"), (2, "a"), (9, "z"), (3, "b")]  # (1, b) and (3, a) are gone
    vanished, read = vanished_keys(state, _batches(source, 2))
    assert sorted(vanished.rows()) == [(1, "b"), (3, "a")]
    assert read == 4


def test_source_keys_of_another_integer_type_still_match() -> None:
    state = pl.DataFrame({"id": [1, 2]}, schema={"id": pl.UInt64})
    source = [pa.record_batch({"id": pa.array([1], pa.int32())})]
    vanished, _ = vanished_keys(state, source)
    assert vanished["id"].to_list() == [2]


def _state(tmp_path: Path) -> Lake:
    """Four state days of a growing table: day i holds ids 0..i+1 (sub 'a')."""
    lake = Lake(tmp_path)
    for i, day in enumerate(DAYS):
        ids = list(range(i + 2))
        folder = lake.state("s0", "t").partition_dir(day)
        folder.mkdir(parents=True)
        table = pa.table({"id": ids, "sub": ["a"] * len(ids), "tier": ["x"] * len(ids)}, SCHEMA)
        pq.write_table(table, folder / "part-00000.parquet")
    return lake


def _ids(lake: Lake, day: dt.date) -> list[int]:
    table = lake.state("s0", "t").read_partition(day)
    assert table is not None and table.schema == SCHEMA
    return sorted(table.column("id").to_pylist())


def test_the_newest_state_days_forget_vanished_keys_and_older_days_keep_them(
    tmp_path: Path,
) -> None:
    lake = _state(tmp_path)
    source = [(i, "a") for i in range(5) if i != 1]  # id 1 was deleted
    report = reconcile_state(lake.state("s0", "t"), ["id", "sub"], _batches(source, 2))
    newest = DAYS[-RECONCILED_DAYS:]
    assert report.days == newest and report.rewritten == newest
    assert (report.state_keys, report.source_keys, report.dropped) == (5, 4, 1)
    assert report.dropped_sample == [{"id": 1, "sub": "a"}]
    assert _ids(lake, DAYS[-1]) == [0, 2, 3, 4]
    assert _ids(lake, DAYS[-2]) == [0, 2, 3]
    assert _ids(lake, DAYS[0]) == [0, 1]  # history as it was


def test_nothing_vanished_rewrites_nothing(tmp_path: Path) -> None:
    lake = _state(tmp_path)
    before = lake.state("s0", "t").partition_files(DAYS[-1])[0].stat().st_mtime_ns
    report = reconcile_state(
        lake.state("s0", "t"), ["id", "sub"], _batches([(i, "a") for i in range(6)], 4)
    )
    assert report.dropped == 0 and report.rewritten == []
    assert lake.state("s0", "t").partition_files(DAYS[-1])[0].stat().st_mtime_ns == before


def test_without_state_the_source_is_not_read(tmp_path: Path) -> None:
    def source() -> Iterator[pa.RecordBatch]:
        raise AssertionError("the shard was asked")
        yield  # pragma: no cover

    report = reconcile_state(Lake(tmp_path).state("s0", "t"), ["id"], source())
    assert report.days == [] and report.dropped == 0
