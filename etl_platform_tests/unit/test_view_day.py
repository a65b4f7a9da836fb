"""A view day written shard by shard reads back as one concat of its shards would have."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from etl_platform.load.lake import Lake
from etl_platform.load.view_day import ViewDayWriter

DAY = dt.date(2024, 3, 1)


def _shard(shard: str, ids: list[int], **extra: list) -> pl.DataFrame:
    return pl.DataFrame({"order_id": ids, "_shard": [shard] * len(ids), **extra})


def _write(tmp_path: Path, shards: list[pl.DataFrame]) -> tuple[ViewDayWriter, Path]:
    dataset = Lake(tmp_path).view("v")
    writer = ViewDayWriter(dataset, DAY)
    for rows in shards:
        writer.add(rows)
    writer.commit()
    (file,) = dataset.partition_files(DAY)
    return writer, file


def test_shards_of_one_schema_are_streamed_into_one_file(tmp_path: Path) -> None:
    shards = [_shard(f"s{i}", [i * 10 + 1, i * 10 + 2], city=["a", None]) for i in range(3)]
    writer, file = _write(tmp_path, shards)
    assert writer.widened == 0
    # One row group per shard: no shard waited for the others, none was written twice.
    assert pq.ParquetFile(file).metadata.num_row_groups == 3
    assert_frame_equal(pl.read_parquet(file), pl.concat(shards))


def test_a_shard_that_widens_the_schema_rewrites_the_day_as_one_concat(tmp_path: Path) -> None:
    # flatten's columns follow the data: a key only one shard has, a type that differs, an
    # all-null column, and empty shards that only bring a schema.
    shards = [
        _shard("s0", [], city=pl.Series([], dtype=pl.Null)),
        _shard("s1", [1, 2], city=[None, None], n=[1, 2]),
        _shard("s2", [3], city=["x"], n=[1.5], zip=["123"]),
        _shard("s3", [4], city=["y"]),
        _shard("s4", []),
    ]
    writer, file = _write(tmp_path, shards)
    assert writer.widened == 1  # s2: city Null -> String, n Int64 -> Float64, zip; s3 fits
    assert_frame_equal(pl.read_parquet(file), pl.concat(shards, how="diagonal_relaxed"))


def test_a_day_of_empty_shards_still_gets_a_file_with_their_schema(tmp_path: Path) -> None:
    shards = [_shard("s0", [], city=pl.Series([], dtype=pl.String)), _shard("s1", [])]
    _, file = _write(tmp_path, shards)
    back = pl.read_parquet(file)
    assert back.height == 0
    assert back.schema == pl.concat(shards, how="diagonal_relaxed").schema


def test_a_day_that_fails_midway_leaves_the_previous_day_in_place(tmp_path: Path) -> None:
    old = [_shard("s0", [1], city=["a"])]
    _write(tmp_path, old)
    dataset = Lake(tmp_path).view("v")
    writer = ViewDayWriter(dataset, DAY)
    writer.add(_shard("s0", [9], city=["b"]))
    writer.abort()
    (still,) = dataset.partition_files(DAY)
    assert_frame_equal(pl.read_parquet(still), old[0])
    assert not any((tmp_path / "_staging").rglob("*.parquet"))


def test_the_day_file_refuses_writes_after_a_read_back_until_restarted(tmp_path: Path) -> None:
    day = Lake(tmp_path).view("v").open_day(DAY)
    day.write(_shard("s0", [1]).to_arrow())
    assert day.read_back().num_rows == 1
    with pytest.raises(RuntimeError, match="after read_back"):
        day.write(_shard("s1", [2]).to_arrow())
    day.restart(_shard("s1", [2, 3]).to_arrow())
    assert day.commit().rows == 2
