"""A view day written shard by shard reads back as one concat of its shards would have."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from etl_platform.load.lake import Lake
from etl_platform.load.staging import staging_root
from etl_platform.load.view_day import ROW_GROUP_BYTES, ViewDayWriter

DAY = dt.date(2024, 3, 1)


def _shard(shard: str, ids: list[int], **extra: list) -> pl.DataFrame:
    return pl.DataFrame({"order_id": ids, "_shard": [shard] * len(ids), **extra})


def _write(tmp_path: Path, shards: list[pl.DataFrame], **sizes: int) -> tuple[ViewDayWriter, Path]:
    dataset = Lake(tmp_path).view("v")
    writer = ViewDayWriter(dataset, DAY, **sizes)
    for rows in shards:
        writer.add(rows)
    writer.commit()
    (file,) = dataset.partition_files(DAY)
    return writer, file


def test_shards_are_written_as_they_come_small_ones_sharing_a_row_group(tmp_path: Path) -> None:
    shards = [_shard(f"s{i}", [i * 10 + 1, i * 10 + 2], city=["a", None]) for i in range(3)]
    writer, file = _write(tmp_path / "small", shards)
    assert writer.widened == 0
    assert pq.ParquetFile(file).metadata.num_row_groups == 1
    assert_frame_equal(pl.read_parquet(file), pl.concat(shards))
    # Past a row group's worth, what is held is written: no shard waits for the day's end.
    _, file = _write(tmp_path / "large", shards, row_group_rows=2)
    assert pq.ParquetFile(file).metadata.num_row_groups == 3
    assert_frame_equal(pl.read_parquet(file), pl.concat(shards))


def test_by_default_a_wide_shard_day_is_written_when_it_comes_not_held_for_the_next(
    tmp_path: Path,
) -> None:
    """What a day in flight holds is bounded by about one shard-day of a wide view: a
    20k-row shard with ~500 bytes a row (the bench's orders_enriched, 4X) does not wait."""
    text = "x" * 500
    shards = [
        _shard(f"s{i}", list(range(i * 20_000, (i + 1) * 20_000)), items=[text] * 20_000)
        for i in range(3)
    ]
    assert all(s.to_arrow().nbytes >= ROW_GROUP_BYTES for s in shards)
    _, file = _write(tmp_path, shards)
    groups = pq.ParquetFile(file).metadata
    assert [groups.row_group(i).num_rows for i in range(groups.num_row_groups)] == [20_000] * 3
    # Small shards still share one.
    small = [
        _shard(f"s{i}", list(range(i * 1_000, (i + 1) * 1_000)), items=[text] * 1_000)
        for i in range(4)
    ]
    _, file = _write(tmp_path / "small", small)
    assert pq.ParquetFile(file).metadata.num_row_groups == 1


def test_a_shard_that_widens_the_schema_rewrites_the_day_as_one_concat(tmp_path: Path) -> None:
    # flatten's columns follow the data: a key only one shard has, a type that differs, an
    # all-null column, and empty shards that only bring a schema. row_group_rows=1: every
    # shard is in the file before the next comes, so widening reads it back.
    shards = [
        _shard("s0", [], city=pl.Series([], dtype=pl.Null)),
        _shard("s1", [1, 2], city=[None, None], n=[1, 2]),
        _shard("s2", [3], city=["x"], n=[1.5], zip=["123"]),
        _shard("s3", [4], city=["y"]),
        _shard("s4", []),
    ]
    whole = pl.concat(shards, how="diagonal_relaxed")
    for sizes in ({}, {"row_group_rows": 1}):
        writer, file = _write(tmp_path / str(len(sizes)), shards, **sizes)
        assert writer.widened == 2  # s1 adds n; s2 types city, makes n Float64, adds zip
        assert writer.schema == whole.schema
        assert_frame_equal(pl.read_parquet(file), whole)


EMPTY_FIRST = [
    # An empty first shard has no flattened columns: a later shard's go where one concat
    # puts them, after the platform's columns.
    [
        pl.DataFrame(
            {"order_id": pl.Series([], dtype=pl.Int64), "_shard": pl.Series([], dtype=pl.String)}
        ),
        pl.DataFrame({"order_id": [1], "zip": ["9"], "_shard": ["s1"]}),
    ],
    # Supertypes depend on the order shards are merged in: empty shards count in theirs.
    [
        pl.DataFrame({"price": pl.Series([], dtype=pl.Int32)}),
        pl.DataFrame({"price": pl.Series([1], dtype=pl.Decimal(10, 2))}),
        pl.DataFrame({"price": pl.Series([2], dtype=pl.Decimal(12, 2))}),
    ],
    [
        pl.DataFrame({"v": pl.Series([], dtype=pl.String)}),
        pl.DataFrame({"v": pl.Series([1], dtype=pl.Decimal(10, 2))}),
        pl.DataFrame({"v": pl.Series([dt.datetime(2024, 3, 1)], dtype=pl.Datetime("us"))}),
    ],
    # Types that go through Parquet when a widening reads the day back (the lake writes
    # timestamps in microseconds, as before).
    [
        pl.DataFrame(
            {
                "at": pl.Series([dt.datetime(2024, 3, 1, 5)], dtype=pl.Datetime("us", "UTC")),
                "d": pl.Series(["1.50"]).cast(pl.Decimal(12, 2)),
                "tags": [["a", "b"]],
                "s": [{"k": 1}],
            }
        ),
        pl.DataFrame({"at": pl.Series([None], dtype=pl.Datetime("us", "UTC")), "extra": [1]}),
    ],
]


@pytest.mark.parametrize("shards", EMPTY_FIRST)
def test_the_day_is_what_one_concat_of_its_shards_in_order_is(
    tmp_path: Path, shards: list[pl.DataFrame]
) -> None:
    whole = pl.concat(shards, how="diagonal_relaxed")
    for sizes in ({}, {"row_group_rows": 1}):
        writer, file = _write(tmp_path / str(len(sizes)), shards, **sizes)
        assert writer.schema == whole.schema
        assert_frame_equal(pl.read_parquet(file), whole)


def test_a_day_of_empty_shards_leaves_no_file_and_is_written_empty(tmp_path: Path) -> None:
    shards = [_shard("s0", [], city=pl.Series([], dtype=pl.String)), _shard("s1", [])]
    dataset = Lake(tmp_path).view("v")
    writer = ViewDayWriter(dataset, DAY)
    for rows in shards:
        writer.add(rows)
    assert writer.commit().rows == 0
    assert writer.schema == pl.concat(shards, how="diagonal_relaxed").schema
    assert not dataset.partition_dir(DAY).exists()
    assert dataset.written_days() == {DAY}


def test_a_day_that_fails_midway_leaves_the_previous_day_in_place(tmp_path: Path) -> None:
    old = [_shard("s0", [1], city=["a"])]
    _write(tmp_path, old)
    dataset = Lake(tmp_path).view("v")
    writer = ViewDayWriter(dataset, DAY)
    writer.add(_shard("s0", [9], city=["b"]))
    writer.abort()
    (still,) = dataset.partition_files(DAY)
    assert_frame_equal(pl.read_parquet(still), old[0])
    assert not any(staging_root(tmp_path).rglob("*.parquet"))


def test_the_day_file_refuses_writes_after_a_read_back_until_restarted(tmp_path: Path) -> None:
    day = Lake(tmp_path).view("v").open_day(DAY)
    day.write(_shard("s0", [1]).to_arrow())
    assert day.read_back().num_rows == 1
    with pytest.raises(RuntimeError, match="after read_back"):
        day.write(_shard("s1", [2]).to_arrow())
    day.restart(_shard("s1", [2, 3]).to_arrow())
    assert day.commit().rows == 2
