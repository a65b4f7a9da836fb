"""Views landing on S3 + Glue, against moto over real HTTP; read back like Athena would."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import boto3
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
import sqlglot

from etl_platform.load.athena_ddl import create_table_ddl, table_location
from etl_platform.load.athena_lake import (
    AthenaTarget,
    _write_files,
    clear_partition,
    land_partition,
)

pytestmark = pytest.mark.integration

D1, D2 = dt.date(2024, 3, 9), dt.date(2024, 3, 10)
UTC = dt.UTC


def _rows(ids: list[int], *, extra: bool = False) -> pa.Table:
    data = {
        "order_id": pa.array(ids, pa.uint64()),
        "total": pa.array([Decimal("12.30")] * len(ids), pa.decimal128(12, 2)),
        "city": pa.array(["Zürich 🚀"] * len(ids), pa.large_string()),
        "is_gift": pa.array([True] * len(ids)),
        "_shard": pa.array(["shard_00"] * len(ids), pa.large_string()),
        "_updated_at": pa.array(
            [dt.datetime(2024, 3, 9, 23, 59, 59, 999999, tzinfo=UTC)] * len(ids),
            pa.timestamp("us", tz="UTC"),
        ),
    }
    if extra:
        data["coupon"] = pa.array(["SPRING"] * len(ids), pa.large_string())
    return pa.table(data)


@pytest.fixture
def target(moto_endpoint: str) -> AthenaTarget:
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(
        Bucket=bucket
    )
    # moto's Glue is one catalog for the whole server: a database per test keeps them apart.
    return AthenaTarget(
        bucket=bucket,
        prefix="views",
        database=f"analytics_{uuid.uuid4().hex[:8]}",
        endpoint_url=moto_endpoint,
    )


def _glue(target: AthenaTarget):
    return boto3.client("glue", endpoint_url=target.endpoint_url, region_name=target.region)


def _read_like_athena(target: AthenaTarget, view: str) -> pa.Table:
    """Resolve each partition's location in Glue, read the Parquet there, add the partition."""
    fs = target.filesystem()
    parts = _glue(target).get_partitions(DatabaseName=target.database, TableName=view)["Partitions"]
    tables = []
    for part in parts:
        location = part["StorageDescriptor"]["Location"].removeprefix("s3://")
        table = ds.dataset(location, filesystem=fs, format="parquet").to_table()
        day = dt.date.fromisoformat(part["Values"][0])
        tables.append(table.append_column("updated_at", pa.array([day] * table.num_rows)))
    return pa.concat_tables(tables, promote_options="permissive")


def test_first_landing_registers_the_table_with_athena_types(target: AthenaTarget) -> None:
    meta = land_partition(target, "orders_enriched", D1, _rows([1, 2**64 - 1]), write_id="w1")
    table = _glue(target).get_table(DatabaseName=target.database, Name="orders_enriched")["Table"]
    columns = {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}
    assert columns == {
        "order_id": "decimal(20,0)",
        "total": "decimal(12,2)",
        "city": "string",
        "is_gift": "boolean",
        "_shard": "string",
        "_updated_at": "timestamp",
    }
    assert table["PartitionKeys"] == [{"Name": "updated_at", "Type": "date"}]
    assert "ParquetHiveSerDe" in table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]
    assert meta["location"].endswith("/orders_enriched/updated_at=2024-03-09/w1/")
    got = _read_like_athena(target, "orders_enriched")
    assert got.column("order_id").to_pylist() == [Decimal(1), Decimal(2**64 - 1)]
    assert got.column("city").to_pylist() == ["Zürich 🚀"] * 2
    assert got.column("updated_at").to_pylist() == [D1, D1]
    # Timestamps are INT64 microseconds, not INT96.
    fs = target.filesystem()
    path = meta["location"].removeprefix("s3://") + "part-00000.parquet"
    column = pq.ParquetFile(path, filesystem=fs).schema.column(5)
    assert column.physical_type == "INT64" and "timeUnit=microseconds" in str(column.logical_type)


def test_a_rewrite_switches_the_partition_and_removes_the_old_files(target: AthenaTarget) -> None:
    land_partition(target, "v", D1, _rows([1, 2, 3]), write_id="w1")
    land_partition(target, "v", D2, _rows([7]), write_id="w1")
    meta = land_partition(target, "v", D1, _rows([1, 2]), write_id="w2")
    assert meta["previous_location"].endswith("updated_at=2024-03-09/w1/")
    assert meta["versions_removed"] == 1
    got = _read_like_athena(target, "v")
    assert sorted(
        zip(got.column("updated_at").to_pylist(), got.column("order_id").to_pylist(), strict=True)
    ) == [(D1, 1), (D1, 2), (D2, 7)]
    # After the switch the plain Hive layout holds exactly one version per day.
    fs = target.filesystem()
    root = table_location(target.bucket, target.prefix, "v").removeprefix("s3://")
    hive = ds.dataset(root, filesystem=fs, format="parquet", partitioning="hive").to_table()
    assert hive.num_rows == 3


def test_a_day_written_with_no_rows_drops_its_partition_and_objects(target: AthenaTarget) -> None:
    assert clear_partition(target, "v", D1)["previous_location"] is None  # no table yet
    land_partition(target, "v", D1, _rows([1, 2]), write_id="w1")
    land_partition(target, "v", D2, _rows([7]), write_id="w1")
    meta = clear_partition(target, "v", D1)
    assert meta["previous_location"].endswith("updated_at=2024-03-09/w1/")
    assert (meta["rows"], meta["versions_removed"]) == (0, 1)
    got = _read_like_athena(target, "v")
    assert got.column("updated_at").to_pylist() == [D2]
    root = table_location(target.bucket, target.prefix, "v").removeprefix("s3://")
    left = target.filesystem().get_file_info(
        pafs.FileSelector(f"{root}updated_at={D1}/", allow_not_found=True, recursive=True)
    )
    assert [i for i in left if i.type == pafs.FileType.File] == []
    assert clear_partition(target, "v", D1)["versions_removed"] == 0  # again: nothing left


def test_a_crash_before_the_switch_leaves_the_previous_partition(target: AthenaTarget) -> None:
    land_partition(target, "v", D1, _rows([1, 2, 3]), write_id="w1")
    root = table_location(target.bucket, target.prefix, "v").removeprefix("s3://")
    _write_files(target.filesystem(), f"{root}updated_at={D1}/crashed/", _rows([9]))
    got = _read_like_athena(target, "v")
    assert sorted(got.column("order_id").to_pylist()) == [1, 2, 3]
    meta = land_partition(target, "v", D1, _rows([4]), write_id="w3")
    assert meta["versions_removed"] == 2  # the old version and the crashed one
    assert _read_like_athena(target, "v").column("order_id").to_pylist() == [4]


def test_a_column_added_to_the_view_is_added_to_the_table(target: AthenaTarget) -> None:
    land_partition(target, "v", D1, _rows([1]), write_id="w1")
    meta = land_partition(target, "v", D2, _rows([2], extra=True), write_id="w1")
    assert meta["columns_added"] == ["coupon"]
    columns = [
        c["Name"]
        for c in _glue(target).get_table(DatabaseName=target.database, Name="v")["Table"][
            "StorageDescriptor"
        ]["Columns"]
    ]
    assert columns[-1] == "coupon"
    got = _read_like_athena(target, "v").sort_by("order_id")
    assert got.column("coupon").to_pylist() == [None, "SPRING"]


def test_a_changed_type_is_refused_with_the_column(target: AthenaTarget) -> None:
    land_partition(target, "v", D1, _rows([1]), write_id="w1")
    changed = _rows([1]).set_column(1, "total", pa.array(["x"], pa.string()))
    with pytest.raises(
        TypeError, match="column total is decimal\\(12,2\\) in the catalog but string"
    ):
        land_partition(target, "v", D1, changed, write_id="w2")


def test_the_ddl_text_parses_as_athena_sql() -> None:
    ddl = create_table_ddl(
        "analytics",
        "orders_enriched",
        _rows([1], extra=True).schema,
        "s3://bucket/views/orders_enriched/",
    )
    parsed = sqlglot.parse_one(ddl, read="athena")
    assert parsed.key == "create"
    assert "`order_id` decimal(20,0)" in ddl and "PARTITIONED BY (`updated_at` date)" in ddl
    assert "`_updated_at` timestamp" in ddl


def test_identifiers_are_validated_in_ddl() -> None:
    with pytest.raises(ValueError, match="not a plain name"):
        create_table_ddl("analytics; DROP", "v", _rows([1]).schema, "s3://b/p/")


def test_fs_is_real_http(target: AthenaTarget) -> None:
    assert isinstance(target.filesystem(), pafs.S3FileSystem)
    assert target.endpoint_url.startswith("http://127.0.0.1:")
