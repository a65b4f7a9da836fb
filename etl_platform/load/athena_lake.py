"""Land a view partition on S3 as Parquet and register it in Glue, switching atomically.

Each write goes to a new prefix `<view>/updated_at=D/<write_id>/`; then the Glue partition's
location is switched to it in one call and the previous version's objects are deleted. A query
that is running reads the location it resolved when it started: old files or new, never both, never
an empty partition. A crash before the switch leaves the previous partition in place (the
unreferenced prefix is removed by the next write of that day). A day written with no rows has
no file to land: `clear_partition` drops its Glue partition and then deletes its objects.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from etl_platform.identifiers import validate_identifier
from etl_platform.layout import PARTITION_COLUMN, partition_folder, partition_key
from etl_platform.load.athena_ddl import table_location
from etl_platform.load.athena_types import athena_type, to_storable

#: One file per partition up to this many rows; row groups of ROW_GROUP_ROWS (see README).
MAX_ROWS_PER_FILE = 4_000_000
ROW_GROUP_ROWS = 500_000

_PARQUET = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {
        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    },
}


@dataclasses.dataclass(frozen=True)
class AthenaTarget:
    """Where views land for Athena: a bucket/prefix and a Glue database."""

    bucket: str
    prefix: str
    database: str
    region: str = "us-east-1"
    endpoint_url: str | None = None  # a non-AWS S3/Glue endpoint (moto in tests)

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix.strip('/')} + Glue {self.database} ({self.region})"

    def _client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, region_name=self.region, endpoint_url=self.endpoint_url)

    def filesystem(self) -> pafs.S3FileSystem:
        kwargs: dict[str, Any] = {"region": self.region}
        if self.endpoint_url:
            scheme, _, host = self.endpoint_url.partition("://")
            kwargs.update(endpoint_override=host, scheme=scheme)
        return pafs.S3FileSystem(**kwargs)


def _columns(schema: pa.Schema) -> list[dict[str, str]]:
    return [
        {"Name": f.name, "Type": athena_type(f.type, column=f.name)}
        for f in schema
        if f.name != PARTITION_COLUMN
    ]


def ensure_table(target: AthenaTarget, view: str, schema: pa.Schema) -> list[str]:
    """Create the database and table the first time; add columns the view gained. Returns the
    names of added columns. A column whose type changed is an error naming it."""
    glue = target._client("glue")
    validate_identifier(target.database, what="Glue database")
    validate_identifier(view, what="view")
    try:
        glue.get_database(Name=target.database)
    except glue.exceptions.EntityNotFoundException:
        glue.create_database(DatabaseInput={"Name": target.database})
    wanted = _columns(schema)
    location = table_location(target.bucket, target.prefix, view)
    try:
        table = glue.get_table(DatabaseName=target.database, Name=view)["Table"]
    except glue.exceptions.EntityNotFoundException:
        glue.create_table(
            DatabaseName=target.database,
            TableInput={
                "Name": view,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE"},
                "PartitionKeys": [{"Name": PARTITION_COLUMN, "Type": "date"}],
                "StorageDescriptor": {"Columns": wanted, "Location": location, **_PARQUET},
            },
        )
        return [c["Name"] for c in wanted]
    existing = {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}
    for column in wanted:
        if column["Name"] in existing and existing[column["Name"]] != column["Type"]:
            raise TypeError(
                f"Glue table {target.database}.{view}: column {column['Name']} is "
                f"{existing[column['Name']]} in the catalog but {column['Type']} now; "
                "a type change needs a new view name or a manual migration"
            )
    added = [c for c in wanted if c["Name"] not in existing]
    if added:
        descriptor = {
            **table["StorageDescriptor"],
            "Columns": table["StorageDescriptor"]["Columns"] + added,
        }
        glue.update_table(
            DatabaseName=target.database,
            TableInput={
                "Name": view,
                "TableType": table.get("TableType", "EXTERNAL_TABLE"),
                "Parameters": table.get("Parameters", {}),
                "PartitionKeys": table["PartitionKeys"],
                "StorageDescriptor": descriptor,
            },
        )
    return [c["Name"] for c in added]


def _partition_location(glue: Any, target: AthenaTarget, view: str, day: dt.date) -> str | None:
    try:
        part = glue.get_partition(
            DatabaseName=target.database, TableName=view, PartitionValues=[partition_key(day)]
        )
    except glue.exceptions.EntityNotFoundException:
        return None
    return part["Partition"]["StorageDescriptor"]["Location"]


def _write_files(fs: pafs.S3FileSystem, base: str, table: pa.Table) -> tuple[int, int]:
    """Few large files: one per MAX_ROWS_PER_FILE rows, zstd, row groups of ROW_GROUP_ROWS."""
    files = 0
    for start in range(0, max(table.num_rows, 1), MAX_ROWS_PER_FILE):
        chunk = table.slice(start, MAX_ROWS_PER_FILE)
        pq.write_table(
            chunk,
            f"{base}part-{files:05d}.parquet",
            filesystem=fs,
            compression="zstd",
            row_group_size=ROW_GROUP_ROWS,
            coerce_timestamps="us",
            use_deprecated_int96_timestamps=False,
        )
        files += 1
    total = sum(i.size for i in fs.get_file_info(pafs.FileSelector(base, recursive=True)))
    return files, total


def land_partition(
    target: AthenaTarget, view: str, day: dt.date, rows: pa.Table, *, write_id: str
) -> dict[str, Any]:
    """Write the day's rows to a new version prefix, switch the partition to it, clean up."""
    rows = to_storable(rows)
    added = ensure_table(target, view, rows.schema)
    glue = target._client("glue")
    fs = target.filesystem()
    day_prefix = _day_prefix(target, view, day)
    new_base = f"{day_prefix}{write_id}/"
    files, size = _write_files(fs, new_base, rows)
    new_location = f"s3://{new_base}"
    old_location = _partition_location(glue, target, view, day)
    partition_input = {
        "Values": [partition_key(day)],
        "StorageDescriptor": {
            "Columns": _columns(rows.schema),
            "Location": new_location,
            **_PARQUET,
        },
    }
    if old_location is None:
        glue.create_partition(
            DatabaseName=target.database, TableName=view, PartitionInput=partition_input
        )
    else:
        glue.update_partition(
            DatabaseName=target.database,
            TableName=view,
            PartitionValueList=[partition_key(day)],
            PartitionInput=partition_input,
        )
    removed = _remove_other_versions(fs, day_prefix, keep=new_base)
    return {
        "location": new_location,
        "previous_location": old_location,
        "files": files,
        "bytes": size,
        "rows": rows.num_rows,
        "columns_added": added,
        "versions_removed": removed,
    }


def clear_partition(target: AthenaTarget, view: str, day: dt.date) -> dict[str, Any]:
    """Empty the day: drop its Glue partition (Athena then finds no rows for it), then delete
    every version's objects. A view day written with no rows has no file to land."""
    validate_identifier(target.database, what="Glue database")
    validate_identifier(view, what="view")
    glue = target._client("glue")
    old_location = _partition_location(glue, target, view, day)
    if old_location is not None:
        glue.delete_partition(
            DatabaseName=target.database, TableName=view, PartitionValues=[partition_key(day)]
        )
    removed = _remove_other_versions(target.filesystem(), _day_prefix(target, view, day), keep="")
    return {
        "location": None,
        "previous_location": old_location,
        "files": 0,
        "bytes": 0,
        "rows": 0,
        "columns_added": [],
        "versions_removed": removed,
    }


def _day_prefix(target: AthenaTarget, view: str, day: dt.date) -> str:
    """`bucket/prefix/view/updated_at=D/`: where every version of the day is written."""
    base = table_location(target.bucket, target.prefix, view).removeprefix("s3://")
    return f"{base}{partition_folder(day)}/"


def _remove_other_versions(fs: pafs.S3FileSystem, day_prefix: str, *, keep: str) -> int:
    """After the switch nothing reads other versions of the day: delete them."""
    removed = 0
    for info in fs.get_file_info(pafs.FileSelector(day_prefix, allow_not_found=True)):
        if info.type == pafs.FileType.Directory and info.path.rstrip("/") + "/" != keep:
            fs.delete_dir(info.path)
            removed += 1
    return removed
