import datetime as dt
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl_platform.load.lake import Lake
from etl_platform.load.lake_reads import read_frame, read_slices
from etl_platform.steps.view_slices import raw_slices

DAY = dt.date(2026, 11, 2)


def _write(tmp_path: Path, rows: int, row_group: int) -> Lake:
    lake = Lake(tmp_path)
    folder = lake.raw("s0", "orders").partition_dir(DAY)
    folder.mkdir(parents=True)
    table = pa.table({"id": list(range(rows)), "payload": [f'{{"n": {i}}}' for i in range(rows)]})
    pq.write_table(table, folder / "part-00000.parquet", row_group_size=row_group)
    return lake


def test_a_day_is_read_in_slices_of_whole_row_groups(tmp_path: Path) -> None:
    lake = _write(tmp_path, rows=1_000, row_group=100)
    dataset = lake.raw("s0", "orders")
    slices = list(read_slices(dataset.partition_files(DAY), ["id", "payload"], rows=250))
    assert [s.height for s in slices] == [300, 300, 300, 100]
    assert pl.concat(slices).equals(read_frame(dataset, DAY, ["id", "payload"]))
    assert dataset.partition_rows(DAY) == 1_000


def test_a_row_group_much_larger_than_a_slice_is_streamed_in_batches(tmp_path: Path) -> None:
    """A one-day extract writes row groups of up to 128k rows: a slice must not be one."""
    lake = Lake(tmp_path)
    folder = lake.raw("s0", "orders").partition_dir(DAY)
    folder.mkdir(parents=True)
    ids = list(range(1_300))
    table = pa.table({"id": ids, "payload": [f'{{"n": {i}}}' for i in ids]})
    with pq.ParquetWriter(folder / "part-00000.parquet", table.schema) as writer:
        for start, length in ((0, 100), (100, 100), (200, 1_000), (1_200, 100)):
            writer.write_table(table.slice(start, length))
    dataset = lake.raw("s0", "orders")
    slices = list(read_slices(dataset.partition_files(DAY), ["id", "payload"], rows=250))
    assert [s.height for s in slices] == [200, 250, 250, 250, 250, 100]
    whole = read_frame(dataset, DAY, ["id", "payload"])
    assert pl.concat(slices).equals(whole)


def test_an_empty_day_gives_one_empty_slice_and_a_missing_day_none(tmp_path: Path) -> None:
    lake = _write(tmp_path, rows=0, row_group=100)
    (empty,) = read_slices(lake.raw("s0", "orders").partition_files(DAY), ["id"], rows=10)
    assert empty.height == 0 and empty.columns == ["id"]
    assert list(read_slices(lake.raw("s1", "orders").partition_files(DAY), ["id"], rows=10)) == []


def test_slices_span_shards_and_every_shard_appears() -> None:
    frames = {
        "a": [pl.DataFrame({"id": [1, 2, 3]}), pl.DataFrame({"id": [4, 5]})],
        "b": [pl.DataFrame({"id": []}, schema={"id": pl.Int64})],
        "c": [pl.DataFrame({"id": [6]}), pl.DataFrame({"id": [7, 8, 9, 10]})],
    }
    slices = list(raw_slices(["a", "b", "c"], lambda shard: iter(frames[shard]), rows=4))
    assert [{s: f["id"].to_list() for s, f in sl.items()} for sl in slices] == [
        {"a": [1, 2, 3, 4]},
        {"a": [5], "b": [], "c": [6, 7, 8]},
        {"c": [9, 10]},
    ]


def test_a_slice_never_holds_more_than_its_rows() -> None:
    """A frame larger than what is left of a slice is cut, however large: the JSON pass's
    memory follows a slice's rows, so the bound must hold whatever the shards' days are."""
    sizes = {"a": [7, 0, 3], "b": [25], "c": [4, 4], "d": [0]}
    frames: dict[str, list[pl.DataFrame]] = {}
    start = 0
    for shard, lengths in sizes.items():
        frames[shard] = []
        for n in lengths:
            frames[shard].append(
                pl.DataFrame({"id": list(range(start, start + n))}, schema={"id": pl.Int64})
            )
            start += n
    slices = list(raw_slices(list(sizes), lambda shard: iter(frames[shard]), rows=6))
    assert [sum(f.height for f in sl.values()) for sl in slices] == [6] * 7 + [1]
    # Every row once, in shard order, each shard in consecutive slices and present at least once.
    ids = [i for sl in slices for f in sl.values() for i in f["id"].to_list()]
    assert ids == list(range(start))
    seen = [s for sl in slices for s in sl]
    assert set(seen) == set(sizes) and seen == sorted(seen)
    with pytest.raises(ValueError, match="at least one row"):
        next(raw_slices(["a"], lambda shard: iter(frames[shard]), rows=0))
