"""The Redshift SQL builders: type mapping, DDL for both flags, COPY, and the swap statements.

Redshift statements are parsed with sqlglot's Redshift dialect and checked on the tree, so
the text is valid Redshift SQL and says what it should (not just "contains DISTKEY").
"""

from __future__ import annotations

import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from etl_platform.identifiers import IdentifierError
from etl_platform.load import redshift_sql as rs

TS = pa.timestamp("us", tz="UTC")
VIEW = pa.schema(
    [
        ("order_id", pa.uint64()),
        ("total", pa.decimal128(12, 2)),
        ("_shard", pa.large_string()),
        ("_updated_at", TS),
        ("_run_id", pa.large_string()),
    ]
)
ARN = "arn:aws:iam::123456789012:role/etl-loader"


def _redshift(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read="redshift")


@pytest.mark.parametrize(
    ("arrow_type", "expected"),
    [
        (pa.int8(), "SMALLINT"),
        (pa.int16(), "SMALLINT"),
        (pa.int32(), "INTEGER"),
        (pa.int64(), "BIGINT"),
        (pa.uint8(), "SMALLINT"),
        (pa.uint16(), "INTEGER"),
        (pa.uint32(), "BIGINT"),
        (pa.uint64(), "DECIMAL(20,0)"),
        (pa.float32(), "REAL"),
        (pa.float64(), "DOUBLE PRECISION"),
        (pa.bool_(), "BOOLEAN"),
        (pa.string(), "VARCHAR(65535)"),
        (pa.large_string(), "VARCHAR(65535)"),
        (pa.decimal128(12, 2), "DECIMAL(12,2)"),
        (pa.decimal128(38, 0), "DECIMAL(38,0)"),
        (pa.date32(), "DATE"),
        (TS, "TIMESTAMPTZ"),
        (pa.binary(), "VARBYTE(65535)"),
        (pa.large_binary(), "VARBYTE(65535)"),
    ],
)
def test_arrow_types_map_to_redshift_types(arrow_type: pa.DataType, expected: str) -> None:
    assert rs.redshift_type(arrow_type) == expected
    postgres = "BYTEA" if expected.startswith("VARBYTE") else expected
    assert rs.redshift_type(arrow_type, redshift=False) == postgres


@pytest.mark.parametrize(
    "arrow_type",
    [
        pa.decimal256(39, 2),
        pa.timestamp("us"),  # naive: which zone?
        pa.timestamp("ns", tz="UTC"),
        pa.timestamp("us", tz="Europe/Berlin"),
        pa.date64(),
        pa.time64("us"),
        pa.duration("us"),
        pa.null(),
        pa.list_(pa.int64()),
        pa.struct([("a", pa.int64())]),
        pa.dictionary(pa.int32(), pa.string()),
        pa.float16(),
    ],
)
def test_types_without_a_mapping_raise_naming_the_column(arrow_type: pa.DataType) -> None:
    with pytest.raises(TypeError, match="'price'"):
        rs.redshift_type(arrow_type, column="price")


def test_create_table_for_redshift_has_dist_and_sort_keys() -> None:
    sql = rs.create_table_sql("analytics", "orders", VIEW, dist_key="order_id", redshift=True)
    tree = _redshift(sql)
    assert isinstance(tree, exp.Create) and tree.args["exists"]
    assert tree.this.this.sql(dialect="redshift") == '"analytics"."orders"'
    columns = {c.this.name: c for c in tree.this.expressions}
    assert list(columns) == [*VIEW.names, "updated_at"]
    assert columns["order_id"].args["kind"].sql("redshift") == "DECIMAL(20, 0)"
    assert columns["_updated_at"].args["kind"].sql("redshift") == "TIMESTAMP WITH TIME ZONE"
    assert columns["updated_at"].args["kind"].sql("redshift") == "DATE"
    assert columns["updated_at"].find(exp.NotNullColumnConstraint) is not None
    assert tree.find(exp.DistStyleProperty).this.name == "KEY"
    assert tree.find(exp.DistKeyProperty).this.name == "order_id"
    assert [k.name for k in tree.find(exp.SortKeyProperty).this] == ["updated_at"]


def test_create_table_without_dist_key_lets_redshift_choose() -> None:
    sql = rs.create_table_sql("analytics", "orders", VIEW, dist_key=None, redshift=True)
    tree = _redshift(sql)
    assert tree.find(exp.DistStyleProperty).this.name == "AUTO"
    assert tree.find(exp.DistKeyProperty) is None
    assert tree.find(exp.SortKeyProperty) is not None


def test_create_table_for_postgres_has_no_redshift_clauses() -> None:
    sql = rs.create_table_sql("analytics", "orders", VIEW, dist_key="order_id", redshift=False)
    assert sql == (
        'CREATE TABLE IF NOT EXISTS "analytics"."orders" ("order_id" DECIMAL(20,0), '
        '"total" DECIMAL(12,2), "_shard" VARCHAR(65535), "_updated_at" TIMESTAMPTZ, '
        '"_run_id" VARCHAR(65535), "updated_at" DATE NOT NULL)'
    )
    sqlglot.parse_one(sql, read="postgres")


def test_stage_has_the_rows_columns_only_and_the_targets_dist_key() -> None:
    tree = _redshift(rs.create_stage_sql(VIEW, dist_key="order_id", redshift=True))
    assert tree.find(exp.TemporaryProperty) is not None
    assert [c.this.name for c in tree.this.expressions] == VIEW.names
    assert tree.find(exp.DistKeyProperty).this.name == "order_id"
    assert "DIST" not in rs.create_stage_sql(VIEW, dist_key="order_id", redshift=False)


@pytest.mark.parametrize("redshift", [True, False])
def test_dist_key_must_be_a_column(redshift: bool) -> None:
    with pytest.raises(ValueError, match="'nope' is not one of the columns"):
        rs.create_table_sql("s", "t", VIEW, dist_key="nope", redshift=redshift)


def test_partition_column_is_reserved_and_duplicates_are_refused() -> None:
    with pytest.raises(ValueError, match="'updated_at' is reserved"):
        rs.create_table_sql(
            "s", "t", pa.schema([("updated_at", pa.date32())]), dist_key=None, redshift=False
        )
    twice = pa.schema([("Total", pa.int64()), ("total", pa.int64())])
    with pytest.raises(ValueError, match="appears twice"):
        rs.create_table_sql("s", "t", twice, dist_key=None, redshift=True)


@pytest.mark.parametrize(
    "bad",
    ['x"; DROP TABLE t; --', "a b", "1abc", "", "naïve", "t.u", 'q"', "x" * 65],
)
def test_injection_in_identifiers_raises(bad: str) -> None:
    one_col = pa.schema([("a", pa.int64())])
    with pytest.raises(IdentifierError):
        rs.create_table_sql(bad, "t", one_col, dist_key=None, redshift=True)
    with pytest.raises(IdentifierError):
        rs.create_table_sql("s", bad, one_col, dist_key=None, redshift=True)
    with pytest.raises(IdentifierError):
        rs.create_table_sql("s", "t", pa.schema([(bad, pa.int64())]), dist_key=None, redshift=True)
    with pytest.raises(IdentifierError):
        rs.create_table_sql("s", "t", one_col, dist_key=bad, redshift=True)
    with pytest.raises(IdentifierError):
        rs.delete_partition_sql("s", bad)
    with pytest.raises(IdentifierError):
        rs.insert_from_stage_sql("s", "t", ["a", bad])
    with pytest.raises(IdentifierError):
        rs.copy_from_s3_sql("s", bad, "s3://b/k", ARN)
    with pytest.raises(IdentifierError):
        rs.add_columns_sql("s", "t", {}, pa.schema([(bad, pa.int64())]), redshift=True)


def test_add_columns_adds_only_new_ones_one_statement_each() -> None:
    existing = {"order_id": "numeric(20,0)", "total": "numeric(12,2)", "old": "bigint"}
    wider = VIEW.append(pa.field("blob", pa.binary()))
    statements = rs.add_columns_sql("s", "t", existing, wider, redshift=True)
    assert statements == [
        'ALTER TABLE "s"."t" ADD COLUMN "_shard" VARCHAR(65535)',
        'ALTER TABLE "s"."t" ADD COLUMN "_updated_at" TIMESTAMPTZ',
        'ALTER TABLE "s"."t" ADD COLUMN "_run_id" VARCHAR(65535)',
        'ALTER TABLE "s"."t" ADD COLUMN "blob" VARBYTE(65535)',
    ]
    for statement in statements:
        assert isinstance(_redshift(statement), exp.Alter)
    pg = rs.add_columns_sql("s", "t", existing, wider, redshift=False)
    assert pg[-1] == 'ALTER TABLE "s"."t" ADD COLUMN "blob" BYTEA'


def test_add_columns_accepts_the_catalogs_spelling_of_every_type() -> None:
    """What PostgreSQL's format_type() reports for each type the DDL declares."""
    catalog = {
        "SMALLINT": "smallint",
        "INTEGER": "integer",
        "BIGINT": "bigint",
        "DECIMAL(20,0)": "numeric(20,0)",
        "REAL": "real",
        "DOUBLE PRECISION": "double precision",
        "BOOLEAN": "boolean",
        "VARCHAR(65535)": "character varying(65535)",
        "DATE": "date",
        "TIMESTAMPTZ": "timestamp with time zone",
        "BYTEA": "bytea",
        "VARBYTE(65535)": "binary varying(65535)",
    }
    for declared, reported in catalog.items():
        assert rs.canonical_type(declared) == rs.canonical_type(reported), declared


def test_a_changed_type_is_an_error_naming_the_column() -> None:
    existing = {"order_id": "bigint"}
    with pytest.raises(rs.ColumnTypeChangedError, match=r"s\.t\.order_id: .*bigint.*DECIMAL"):
        rs.add_columns_sql("s", "t", existing, VIEW, redshift=True)


def test_redshift_matches_existing_names_case_insensitively() -> None:
    schema = pa.schema([("OrderId", pa.int64())])
    assert rs.add_columns_sql("s", "t", {"orderid": "bigint"}, schema, redshift=True) == []
    assert len(rs.add_columns_sql("s", "t", {"orderid": "bigint"}, schema, redshift=False)) == 1


def test_copy_from_s3_is_redshift_copy_with_quoted_literals() -> None:
    sql = rs.copy_from_s3_sql(None, "_etl_stage", "s3://bucket/views/o'k/day=1/", ARN)
    assert sql == (
        "COPY \"_etl_stage\" FROM 's3://bucket/views/o''k/day=1/' "
        f"IAM_ROLE '{ARN}' FORMAT AS PARQUET"
    )
    tree = _redshift(sql)
    assert isinstance(tree, exp.Copy)
    assert [f.name for f in tree.args["files"]] == ["s3://bucket/views/o'k/day=1/"]
    assert tree.find(exp.Credentials).args["iam_role"].name == ARN
    assert _redshift(rs.copy_from_s3_sql("s", "stage", "s3://b/k", ARN)).this.db == "s"


@pytest.mark.parametrize(
    "uri",
    ["https://bucket/key", "s3:/bucket", "s3://", "/tmp/x.parquet", "s3://b/k\\x", "s3://b/\nk"],
)
def test_copy_refuses_a_uri_that_is_not_plain_s3(uri: str) -> None:
    with pytest.raises(ValueError, match="URI"):
        rs.copy_from_s3_sql(None, "stage", uri, ARN)


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::12345:role/x",
        "arn:aws:iam::123456789012:user/x",
        "arn:aws:iam::123456789012:role/x' CREDENTIALS 'y",
        "",
        "arn:aws:iam::123456789012:role/",
    ],
)
def test_copy_refuses_an_arn_that_is_not_a_role(arn: str) -> None:
    with pytest.raises(ValueError, match="IAM role"):
        rs.copy_from_s3_sql(None, "stage", "s3://b/k", arn)


def test_swap_statements_bind_the_day_and_parse_as_redshift() -> None:
    delete = rs.delete_partition_sql("analytics", "orders")
    insert = rs.insert_from_stage_sql("analytics", "orders", ["order_id", "total"])
    assert delete == 'DELETE FROM "analytics"."orders" WHERE "updated_at" = %s'
    assert insert == (
        'INSERT INTO "analytics"."orders" ("order_id", "total", "updated_at") '
        'SELECT "order_id", "total", CAST(%s AS DATE) FROM "_etl_stage"'
    )
    assert isinstance(_redshift(delete), exp.Delete)
    tree = _redshift(insert)
    assert isinstance(tree, exp.Insert)
    assert [c.name for c in tree.this.expressions] == ["order_id", "total", "updated_at"]
    assert tree.find(exp.From).this.name == "_etl_stage"
    for sql in (delete, insert):
        assert sql.count("%s") == 1
    assert rs.lock_table_sql("s", "t", redshift=True) == 'LOCK "s"."t"'
    assert rs.copy_from_stdin_sql(["a", "b"]) == 'COPY "_etl_stage" ("a", "b") FROM STDIN'
