"""A column dropped at the source: the read of a raw day names the view, shard, table, day and
column instead of failing with polars' `ColumnNotFoundError` on a file path."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl_platform.components.failures import step_failures
from etl_platform.errors import ColumnMissing
from etl_platform.load.lake import Lake
from etl_platform.load.lake_reads import read_frame, read_slices
from etl_platform.specs.views import ViewSpec
from etl_platform.steps.view_slices import raw_slices
from etl_platform.transform.view_shape import type_slices

DAY = dt.date(2024, 3, 10)
HINT = "(dropped at the source? see the schema_drift metadata of raw/shard_01/orders)"


def _lake(tmp_path: Path) -> Lake:
    lake = Lake(tmp_path)
    for shard, columns in (("shard_00", ["id", "code"]), ("shard_01", ["id"])):
        folder = lake.raw(shard, "orders").partition_dir(DAY)
        folder.mkdir(parents=True)
        table = pa.table({c: pa.array([1, 2], pa.int64()) for c in columns})
        pq.write_table(table, folder / "part-00000.parquet")
    return lake


def test_reading_a_raw_day_without_a_column_names_it(tmp_path: Path) -> None:
    lake = _lake(tmp_path)
    files = lake.raw("shard_01", "orders").partition_files(DAY)
    message = f"raw/shard_01/orders day {DAY} has no column code {HINT}"
    with pytest.raises(ColumnMissing) as caught:
        list(read_slices(files, ["id", "code"], rows=10))
    assert str(caught.value) == message
    with pytest.raises(ColumnMissing) as caught:
        read_frame(lake.raw("shard_01", "orders"), DAY, ["id", "code", "qty"])
    assert str(caught.value) == f"raw/shard_01/orders day {DAY} has no columns code, qty {HINT}"
    assert read_frame(lake.raw("shard_00", "orders"), DAY, ["code"])["code"].to_list() == [1, 2]


def test_the_views_zone_gets_no_source_hint(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    folder = lake.view("orders_enriched").partition_dir(DAY)
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"id": [1]}), folder / "part-00000.parquet")
    with pytest.raises(ColumnMissing, match=r"^views/orders_enriched day 2024-03-10 has no "):
        read_frame(lake.view("orders_enriched"), DAY, ["id", "email"])
    with pytest.raises(ColumnMissing) as caught:
        read_frame(lake.view("orders_enriched"), DAY, ["email"])
    assert "dropped at the source" not in str(caught.value)


def test_a_view_day_names_the_view_and_the_step_fails_with_the_message(tmp_path: Path) -> None:
    lake = _lake(tmp_path)
    spec = ViewSpec.model_validate(
        {
            "name": "orders_view",
            "source": "orders",
            "columns": {
                "order_id": {"from": "id", "type": "int64"},
                "code": {"from": "code", "type": "int64"},
            },
            "unique_key": ["order_id"],
        }
    )

    def read(shard: str):
        return read_slices(lake.raw(shard, "orders").partition_files(DAY), ["id", "code"], 10)

    slices = raw_slices(["shard_00", "shard_01"], read)
    expected = f"view orders_view: raw/shard_01/orders day {DAY} has no column code {HINT}"
    with pytest.raises(dg.Failure) as caught, step_failures():
        list(type_slices(spec, slices, primary_key=["id"], cursor="id"))
    assert caught.value.description == expected


def test_frames_handed_over_directly_pass_through_unchanged() -> None:
    spec = ViewSpec.model_validate(
        {
            "name": "v",
            "source": "orders",
            "columns": {"order_id": {"from": "id", "type": "int64"}},
            "unique_key": ["order_id"],
        }
    )
    frame = pl.DataFrame({"id": [1, 2], "ts": [dt.datetime(2024, 3, 10)] * 2})
    ((shard, typed),) = type_slices(spec, [{"s0": frame}], primary_key=["id"], cursor="ts")
    assert shard == "s0" and typed.rows["order_id"].to_list() == [1, 2]
