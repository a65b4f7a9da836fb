"""Key reconciliation without a server: the streamed anti-join and the tombstones it adds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from etl_platform.load.lake import Lake
from etl_platform.steps.lookup_versions import sync_versions
from etl_platform.steps.reconcile import reconcile_versions, vanished_keys
from etl_platform.transform.versions import as_of

DAYS = [dt.date(2024, 3, 1) + dt.timedelta(days=i) for i in range(4)]
SCHEMA = pa.schema([("id", pa.uint64()), ("sub", pa.string()), ("at", pa.date32())])


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


AT = dt.datetime(2024, 3, 6, 12, tzinfo=dt.UTC)


def _state(tmp_path: Path) -> Lake:
    """Versions of a growing table: day i adds id i+1 (ids 0 and 1 on the first day)."""
    lake = Lake(tmp_path)
    for i, day in enumerate(DAYS):
        ids = [0, 1] if i == 0 else [i + 1]
        folder = lake.raw("s0", "t").partition_dir(day)
        folder.mkdir(parents=True)
        table = pa.table({"id": ids, "sub": ["a"] * len(ids), "at": [day] * len(ids)}, SCHEMA)
        pq.write_table(table, folder / "part-00000.parquet")
    sync_versions(
        lake.raw("s0", "t"),
        lake.versions("s0", "t"),
        columns=["id", "sub", "at"],
        key=["id", "sub"],
        cursor="at",
    )
    return lake


def _ids(lake: Lake, day: dt.date) -> list[int]:
    frame = lake.versions("s0", "t").read(through=day)
    assert frame is not None
    return sorted(as_of(frame, day, key=["id", "sub"], cursor="at")["id"].to_list())


def _reconcile(lake: Lake, source: Iterator[pa.RecordBatch]):
    return reconcile_versions(lake.versions("s0", "t"), ["id", "sub"], "at", source, at=AT)


def test_a_vanished_key_is_gone_from_the_reconciliation_on_and_kept_before(
    tmp_path: Path,
) -> None:
    lake = _state(tmp_path)
    source = [(i, "a") for i in range(5) if i != 1]  # id 1 was deleted
    report = _reconcile(lake, _batches(source, 2))
    assert report.at == AT
    assert (report.state_keys, report.source_keys, report.dropped) == (5, 4, 1)
    assert report.dropped_sample == [{"id": 1, "sub": "a"}]
    assert _ids(lake, AT.date()) == [0, 2, 3, 4]
    assert _ids(lake, DAYS[-1]) == [0, 1, 2, 3, 4]  # history as it was
    # A later version of the key (it came back) is current again.
    folder = lake.raw("s0", "t").partition_dir(AT.date() + dt.timedelta(days=1))
    folder.mkdir(parents=True)
    later = AT.date() + dt.timedelta(days=1)
    pq.write_table(
        pa.table({"id": [1], "sub": ["a"], "at": [later]}, SCHEMA), folder / "part-0.parquet"
    )
    sync_versions(
        lake.raw("s0", "t"),
        lake.versions("s0", "t"),
        columns=["id", "sub", "at"],
        key=["id", "sub"],
        cursor="at",
    )
    assert _ids(lake, AT.date()) == [0, 2, 3, 4]
    assert _ids(lake, later) == [0, 1, 2, 3, 4]


def test_nothing_vanished_rewrites_nothing(tmp_path: Path) -> None:
    lake = _state(tmp_path)
    before = lake.versions("s0", "t").path.stat().st_mtime_ns
    report = _reconcile(lake, _batches([(i, "a") for i in range(6)], 4))
    assert report.dropped == 0 and report.at is None
    assert lake.versions("s0", "t").path.stat().st_mtime_ns == before


def test_without_state_the_source_is_not_read(tmp_path: Path) -> None:
    def source() -> Iterator[pa.RecordBatch]:
        raise AssertionError("the shard was asked")
        yield  # pragma: no cover

    report = _reconcile(Lake(tmp_path), source())
    assert report.state_keys == 0 and report.dropped == 0
