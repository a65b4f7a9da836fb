"""The Redshift loader against the real PostgreSQL stand-in on loopback, checked with SQL.

Each test gets its own schema, dropped afterwards. PostgreSQL being down is a failure, not a
skip (the project's rule for CI).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pyarrow as pa
import pytest

from etl_platform.load import redshift_loader
from etl_platform.load.redshift_loader import (
    RedshiftLoadError,
    RedshiftTarget,
    clear_day,
    load_partition,
)

pytestmark = pytest.mark.integration

DAY = dt.date(2024, 3, 10)
NEXT = DAY + dt.timedelta(days=1)
UTC_TS = pa.timestamp("us", tz="UTC")
PASSWORD = "pw-S3cr3t-never-shown"


def sql(url: str, statement: str, params: tuple = ()) -> list[tuple]:
    """Run one statement in its own committed transaction; the rows, if any."""
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(statement, params or None)
        return cur.fetchall() if cur.description else []


@pytest.fixture
def target(postgres_url: str, request: pytest.FixtureRequest) -> Iterator[RedshiftTarget]:
    """A target whose schema is named after the test (not created: the loader does that)."""
    schema = "etl_test_rs_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:45]
    sql(postgres_url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    yield RedshiftTarget(dsn=postgres_url, schema=schema)
    sql(postgres_url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def view_rows(ids: list[int], day: dt.date = DAY, **extra: pa.Array) -> pa.Table:
    """A small view partition: declared columns plus `_shard`, `_updated_at`, `_run_id`."""
    noon = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
    return pa.table(
        {
            "order_id": pa.array(ids, pa.uint64()),
            "total": pa.array([Decimal(i) / 4 for i in ids], pa.decimal128(12, 2)),
            **extra,
            "_shard": pa.array(["shard_00"] * len(ids), pa.large_string()),
            "_updated_at": pa.array([noon + dt.timedelta(seconds=i) for i in ids], UTC_TS),
            "_run_id": pa.array(["run-1"] * len(ids), pa.large_string()),
        }
    )


def table_rows(target: RedshiftTarget, columns: str = "order_id, updated_at") -> list[tuple]:
    return sql(target.dsn, f'SELECT {columns} FROM "{target.schema}"."orders" ORDER BY 1, 2')


def test_first_load_creates_the_table_with_the_mapped_types(target: RedshiftTarget) -> None:
    meta = load_partition(target, "types", DAY, every_type())
    assert meta["table_created"] is True
    assert (meta["rows_loaded"], meta["rows_deleted"]) == (3, 0)
    assert meta["table"] == f"{target.schema}.types"
    columns = sql(
        target.dsn,
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull "
        "FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attnum > 0 ORDER BY a.attnum",
        (f'"{target.schema}"."types"',),
    )
    assert columns == [
        ("row_no", "integer", False),
        ("i8", "smallint", False),
        ("i16", "smallint", False),
        ("i32", "integer", False),
        ("i64", "bigint", False),
        ("u8", "smallint", False),
        ("u16", "integer", False),
        ("u32", "bigint", False),
        ("u64", "numeric(20,0)", False),
        ("f32", "real", False),
        ("f64", "double precision", False),
        ("flag", "boolean", False),
        ("s", "character varying(65535)", False),
        ("ls", "character varying(65535)", False),
        ("money", "numeric(12,2)", False),
        ("d38", "numeric(38,10)", False),
        ("day", "date", False),
        ("ts", "timestamp with time zone", False),
        ("bin", "bytea", False),
        ("lbin", "bytea", False),
        ("updated_at", "date", True),
    ]


def every_type() -> pa.Table:
    """Three rows: low/edge values, high/edge values, all NULL."""
    big = Decimal("-9999999999999999999999999999.9999999999")
    return pa.table(
        {
            "row_no": pa.array([0, 1, 2], pa.int32()),
            "i8": pa.array([-128, 127, None], pa.int8()),
            "i16": pa.array([-(2**15), 2**15 - 1, None], pa.int16()),
            "i32": pa.array([-(2**31), 2**31 - 1, None], pa.int32()),
            "i64": pa.array([-(2**63), 2**63 - 1, None], pa.int64()),
            "u8": pa.array([0, 255, None], pa.uint8()),
            "u16": pa.array([0, 2**16 - 1, None], pa.uint16()),
            "u32": pa.array([0, 2**32 - 1, None], pa.uint32()),
            "u64": pa.array([2**63 + 1, 2**64 - 1, None], pa.uint64()),
            "f32": pa.array([1.5, -3.25, None], pa.float32()),
            "f64": pa.array([0.1, 1.7976931348623157e308, None], pa.float64()),
            "flag": pa.array([True, False, None], pa.bool_()),
            "s": pa.array(["ünïcödé 🎉👩‍👩‍👧", "tab\tnl\ncr\r back\\slash 'q' \"dq\"", None]),
            "ls": pa.array(["", "∑" * 1000, None], pa.large_string()),
            "money": pa.array([Decimal("39.80"), Decimal("-0.01"), None], pa.decimal128(12, 2)),
            "d38": pa.array([big, Decimal("0.0000000001"), None], pa.decimal128(38, 10)),
            "day": pa.array([dt.date(1970, 1, 1), dt.date(9999, 12, 31), None], pa.date32()),
            "ts": pa.array(
                [
                    dt.datetime(2024, 3, 10, 0, 0, 0, 1, tzinfo=dt.UTC),
                    dt.datetime(2024, 3, 10, 23, 59, 59, 999999, tzinfo=dt.UTC),
                    None,
                ],
                UTC_TS,
            ),
            "bin": pa.array([bytes(range(256)), b"", None], pa.binary()),
            "lbin": pa.array([b"\x00", b"\xff\x00\\N\t", None], pa.large_binary()),
        }
    )


def test_every_type_round_trips(target: RedshiftTarget) -> None:
    rows = every_type()
    load_partition(target, "types", DAY, rows)
    names = ", ".join(f'"{n}"' for n in rows.column_names)
    back = sql(target.dsn, f'SELECT {names} FROM "{target.schema}"."types" ORDER BY row_no')
    assert [dict(zip(rows.column_names, r, strict=True)) for r in back] == rows.to_pylist()
    # The server's own view of the edge values, not just the driver's.
    (checks,) = sql(
        target.dsn,
        "SELECT u64::text, d38::text, char_length(s), octet_length(s), octet_length(bin), "
        "to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), f64::text, "
        "encode(lbin, 'hex'), updated_at::text "
        f'FROM "{target.schema}"."types" WHERE row_no = 1',
    )
    assert checks == (
        "18446744073709551615",
        "0.0000000001",
        len(rows["s"][1].as_py()),
        len(rows["s"][1].as_py().encode()),
        0,
        "2024-03-10 23:59:59.999999",
        "1.7976931348623157e+308",
        "ff005c4e09",
        "2024-03-10",
    )
    (nulls,) = sql(
        target.dsn,
        f'SELECT num_nulls({names}) FROM "{target.schema}"."types" WHERE row_no = 2',
    )
    assert nulls == (rows.num_columns - 1,)


def test_rerunning_a_day_replaces_its_rows(target: RedshiftTarget) -> None:
    load_partition(target, "orders", DAY, view_rows([1, 2, 3]))
    again = load_partition(target, "orders", DAY, view_rows([1, 2, 3]))
    assert (again["rows_deleted"], again["rows_loaded"], again["table_created"]) == (3, 3, False)
    assert table_rows(target) == [(1, DAY), (2, DAY), (3, DAY)]

    fewer = load_partition(target, "orders", DAY, view_rows([2]))
    assert (fewer["rows_deleted"], fewer["rows_loaded"]) == (3, 1)
    assert table_rows(target) == [(2, DAY)]

    empty = load_partition(target, "orders", DAY, view_rows([]))
    assert (empty["rows_deleted"], empty["rows_loaded"]) == (1, 0)
    assert table_rows(target) == []


def test_a_day_written_with_no_rows_deletes_only_its_rows(target: RedshiftTarget) -> None:
    nothing = clear_day(target, "orders", DAY)  # no table yet: nothing to delete, none made
    assert (nothing["rows_deleted"], nothing["rows_loaded"], nothing["table_created"]) == (
        0,
        0,
        False,
    )
    assert sql(target.dsn, "SELECT 1 FROM pg_namespace WHERE nspname = %s", (target.schema,)) == []
    load_partition(target, "orders", DAY, view_rows([1, 2]))
    load_partition(target, "orders", NEXT, view_rows([3], day=NEXT))
    cleared = clear_day(target, "orders", DAY)
    assert (cleared["rows_deleted"], cleared["rows_loaded"]) == (2, 0)
    assert table_rows(target) == [(3, NEXT)]
    assert PASSWORD not in json.dumps(cleared)


def test_a_second_day_leaves_the_first_alone(target: RedshiftTarget) -> None:
    load_partition(target, "orders", DAY, view_rows([1, 2]))
    meta = load_partition(target, "orders", NEXT, view_rows([3], day=NEXT))
    assert meta["rows_deleted"] == 0
    load_partition(target, "orders", NEXT, view_rows([3, 4], day=NEXT))
    assert table_rows(target) == [(1, DAY), (2, DAY), (3, NEXT), (4, NEXT)]


def test_a_new_column_is_added_and_older_rows_hold_null(target: RedshiftTarget) -> None:
    load_partition(target, "orders", DAY, view_rows([1]))
    meta = load_partition(
        target,
        "orders",
        NEXT,
        view_rows([2], day=NEXT, city=pa.array(["Zürich"], pa.large_string())),
    )
    assert meta["columns_added"] == ["city"]
    assert any('ADD COLUMN "city" VARCHAR(65535)' in s for s in meta["statements"])
    assert table_rows(target, "order_id, city") == [(1, None), (2, "Zürich")]
    # A later load without the column keeps it (columns are never dropped): NULL there.
    load_partition(target, "orders", NEXT, view_rows([2], day=NEXT))
    assert table_rows(target, "order_id, city") == [(1, None), (2, None)]


def test_failure_between_delete_and_insert_keeps_the_previous_rows(
    target: RedshiftTarget,
) -> None:
    """The stage takes the rows, the DELETE runs, the INSERT fails on the target's CHECK."""
    load_partition(target, "orders", DAY, view_rows([1, 2]))
    sql(target.dsn, f'ALTER TABLE "{target.schema}"."orders" ADD CHECK (order_id < 100)')
    with pytest.raises(RedshiftLoadError, match="inserting from the stage failed") as error:
        load_partition(target, "orders", DAY, view_rows([3, 100]))
    assert f"{target.schema}.orders day 2024-03-10 at {target.describe()}" in str(error.value)
    assert table_rows(target) == [(1, DAY), (2, DAY)]


def test_failure_while_copying_keeps_the_previous_rows(target: RedshiftTarget) -> None:
    load_partition(target, "orders", DAY, view_rows([1, 2]))
    nul = pa.array(["fine", "PostgreSQL text cannot hold \x00"], pa.large_string())
    with pytest.raises(RedshiftLoadError, match="loading the stage failed"):
        load_partition(target, "orders", DAY, view_rows([3, 4], note=nul))
    assert table_rows(target) == [(1, DAY), (2, DAY)]
    # The new column of the failed load was rolled back with it.
    assert "note" not in {c for (c,) in _columns(target, "orders")}


def test_a_failed_first_load_leaves_nothing_behind(target: RedshiftTarget) -> None:
    nul = pa.array(["\x00"], pa.large_string())
    with pytest.raises(RedshiftLoadError):
        load_partition(target, "orders", DAY, view_rows([1], note=nul))
    assert sql(target.dsn, "SELECT 1 FROM pg_namespace WHERE nspname = %s", (target.schema,)) == []


def test_a_changed_column_type_is_refused_naming_the_column(target: RedshiftTarget) -> None:
    load_partition(target, "orders", DAY, view_rows([1]))
    retyped = view_rows([2]).set_column(0, "order_id", pa.array([2], pa.int64()))
    with pytest.raises(RedshiftLoadError, match=r"orders\.order_id: the table has numeric"):
        load_partition(target, "orders", DAY, retyped)
    assert table_rows(target) == [(1, DAY)]


def test_rows_outside_the_day_are_refused_before_any_sql(target: RedshiftTarget) -> None:
    with pytest.raises(RedshiftLoadError, match="1 rows have _updated_at outside 2024-03-11"):
        load_partition(
            target, "orders", NEXT, pa.concat_tables([view_rows([1]), view_rows([2], NEXT)])
        )
    assert sql(target.dsn, "SELECT 1 FROM pg_namespace WHERE nspname = %s", (target.schema,)) == []


def test_rows_are_streamed_in_batches(
    target: RedshiftTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redshift_loader, "COPY_BATCH_ROWS", 7)
    ids = list(range(1, 51))
    meta = load_partition(target, "orders", DAY, view_rows(ids), dist_key="order_id")
    assert meta["rows_loaded"] == 50
    assert table_rows(target, "count(*), sum(order_id)") == [(50, sum(ids))]


def test_the_password_never_shows(postgres_url: str, target: RedshiftTarget) -> None:
    """PostgreSQL's trust auth ignores the password, so the load itself succeeds."""
    parts = urlsplit(postgres_url)
    netloc = f"{parts.username}:{PASSWORD}@{parts.hostname}:{parts.port or 5432}"
    secret = RedshiftTarget(dsn=urlunsplit(parts._replace(netloc=netloc)), schema=target.schema)
    assert PASSWORD not in repr(secret) + secret.describe()

    meta = load_partition(secret, "orders", DAY, view_rows([1]))
    assert PASSWORD not in json.dumps(meta)

    retyped = view_rows([2]).set_column(0, "order_id", pa.array([2], pa.int64()))
    with pytest.raises(RedshiftLoadError) as failed:
        load_partition(secret, "orders", DAY, retyped)
    down = RedshiftTarget(dsn=f"postgresql://u:{PASSWORD}@127.0.0.1:1/db", schema="s")
    with pytest.raises(RedshiftLoadError, match="connecting failed") as unreachable:
        load_partition(down, "orders", DAY, view_rows([1]))
    assert "u@127.0.0.1:1/db" in str(unreachable.value)
    for error in (failed.value, unreachable.value):
        assert PASSWORD not in str(error) + repr(error)
        assert PASSWORD not in str(error.__cause__ or "")
    with pytest.raises(ValueError, match="not shown") as bad:
        RedshiftTarget(dsn=f"host=x password={PASSWORD} nonsense", schema="s")
    assert PASSWORD not in str(bad.value)


def test_a_redshift_target_loads_only_from_s3_with_a_role() -> None:
    """Checked before connecting: the DSN points nowhere."""
    nowhere = "postgresql://u@127.0.0.1:1/db"
    rs = RedshiftTarget(dsn=nowhere, schema="s", redshift=True)
    with pytest.raises(RedshiftLoadError, match="pass staged_s3_uri"):
        load_partition(rs, "orders", DAY, view_rows([1]))
    with pytest.raises(RedshiftLoadError, match="needs the target's iam_role_arn"):
        load_partition(rs, "orders", DAY, view_rows([1]), staged_s3_uri="s3://b/k/")
    pg = RedshiftTarget(dsn=nowhere, schema="s")
    with pytest.raises(RedshiftLoadError, match="needs a Redshift target"):
        load_partition(pg, "orders", DAY, view_rows([1]), staged_s3_uri="s3://b/k/")
    with pytest.raises(RedshiftLoadError, match="not a plain name"):
        load_partition(pg, 'orders"; DROP TABLE x; --', DAY, view_rows([1]))


def _columns(target: RedshiftTarget, table: str) -> list[tuple]:
    return sql(
        target.dsn,
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s",
        (target.schema, table),
    )
