"""The schema snapshot read as the extractor would: types, Arrow schema, unreadable columns."""

from __future__ import annotations

import pyarrow as pa

from etl_platform.env import DEFAULTS_DIR
from etl_platform.extract.schema_snapshot import (
    column_info,
    column_infos,
    snapshot_arrow_schema,
    unreadable_columns,
)
from etl_platform.extract.types import ColumnInfo
from etl_platform.specs.loader import load_source_schema, load_sources
from etl_platform.specs.source_schema import SourceSchema

SOURCES = load_sources(DEFAULTS_DIR / "sources.yaml")
SCHEMA = load_source_schema(DEFAULTS_DIR / "sources.schema.yaml")


def test_column_info_rebuilds_information_schema_from_the_column_type() -> None:
    assert column_info("total", "decimal(12,2) unsigned") == ColumnInfo(
        name="total",
        data_type="decimal",
        column_type="decimal(12,2) unsigned",
        numeric_precision=12,
        numeric_scale=2,
    )
    assert column_info("n", "NUMERIC(7)").numeric_scale == 0
    assert column_info("s", "varchar(64)").data_type == "varchar"
    assert column_info("g", "point").data_type == "point"


def test_the_arrow_schema_is_the_extractors() -> None:
    schema = snapshot_arrow_schema(SCHEMA, "products", exclude=("thumbnail",))
    assert schema.names == [
        c.name for c in column_infos(SCHEMA, "products") if c.name != "thumbnail"
    ]
    assert schema.field("id").type == pa.uint32()
    assert schema.field("price").type == pa.decimal128(10, 2)
    assert schema.field("updated_at").type == pa.timestamp("us", tz="UTC")
    assert column_infos(SCHEMA, "no_such_table") == []


def test_the_demo_snapshot_has_no_unreadable_column() -> None:
    assert unreadable_columns(SOURCES, SCHEMA) == []


def test_unreadable_columns_skip_excluded_ones_and_tables_outside_sources() -> None:
    schema = SourceSchema(
        tables={
            "orders": {"id": "bigint", "shape": "geometry", "updated_at": "datetime"},
            "elsewhere": {"spot": "point"},
        }
    )
    assert unreadable_columns(SOURCES, schema) == [
        (
            "tables.orders",
            "column shape has type geometry that cannot be read; add it to exclude_columns",
        )
    ]
