"""NULL-cursor rows without a server: the config, the SQL text, the fallback fill, the rejects."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl_platform.components.mysql_sources import null_cursor_rule
from etl_platform.components.null_cursor_check import grew
from etl_platform.extract.introspect import TablePlan
from etl_platform.extract.null_cursor import (
    NullCursorRule,
    fallback_bounds,
    fill_cursor,
    reject_batch,
    reject_reason,
)
from etl_platform.extract.query import (
    build_window_query,
    key_set_sql,
    null_cursor_count_sql,
    null_cursor_keys_sql,
)
from etl_platform.extract.types import ColumnInfo, plan_column
from etl_platform.identifiers import IdentifierError
from etl_platform.load.lake import Dataset
from etl_platform.load.replaced_file import ReplacedFileWriter, dataset_file
from etl_platform.load.staging import staging_root
from etl_platform.specs.errors import SpecError
from etl_platform.specs.loader import load_sources

UTC = dt.UTC
D1 = dt.datetime(2024, 3, 10, tzinfo=UTC)
D2 = dt.datetime(2024, 3, 11, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


def _plan(*columns: tuple[str, str, str]) -> TablePlan:
    plans = tuple(plan_column(ColumnInfo(n, t, c), table="items") for n, t, c in columns)
    return TablePlan(
        table="items", plans=plans, cursor="updated_at", cursor_index=None, primary_key=("id",)
    )


PLAN = _plan(
    ("id", "int", "int(10) unsigned"),
    ("created_on", "date", "date"),
    ("created_at", "datetime", "datetime(6)"),
    ("name", "varchar", "varchar(32)"),
    ("updated_at", "timestamp", "timestamp(6)"),
)


# -- sources.yaml ----------------------------------------------------------------------------


def _sources(tmp_path: Path, table: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(
        f"start: 2024-01-01\nshards:\n  s0: {{url_env: X}}\ntables:\n  items: {{{table}}}\n"
    )
    return path


@pytest.mark.parametrize(
    ("setting", "rule"),
    [
        ("", NullCursorRule("reject")),
        (", null_cursor: reject", NullCursorRule("reject")),
        (", null_cursor: ignore", NullCursorRule("ignore")),
        (", null_cursor: {fallback: created_at}", NullCursorRule("fallback", "created_at")),
    ],
)
def test_null_cursor_setting(tmp_path: Path, setting: str, rule: NullCursorRule) -> None:
    spec = load_sources(_sources(tmp_path, f"primary_key: [id]{setting}"))
    assert null_cursor_rule(spec.tables["items"]) == rule
    assert spec.tables["items"].reconcile_keys is False


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("null_cursor: drop", "null_cursor"),
        ("null_cursor: {fallback: 'a b'}", "not a plain name"),
        ("null_cursor: {fallback: updated_at}", "is the cursor or an excluded column"),
        ("null_cursor: {fallback: x}, exclude_columns: [x]", "is the cursor or an excluded"),
        ("null_cursor: {fallback: x, other: y}", "other"),
    ],
)
def test_a_bad_null_cursor_setting_is_named(tmp_path: Path, setting: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        load_sources(_sources(tmp_path, f"primary_key: [id], {setting}"))


def test_reconcile_keys_is_a_table_setting(tmp_path: Path) -> None:
    spec = load_sources(_sources(tmp_path, "primary_key: [id], reconcile_keys: true"))
    assert spec.tables["items"].reconcile_keys is True


def test_a_rule_names_a_fallback_only_when_it_is_one() -> None:
    with pytest.raises(ValueError):
        NullCursorRule("fallback")
    with pytest.raises(ValueError):
        NullCursorRule("reject", "created_at")
    assert NullCursorRule("fallback", "created_at").describe() == "fallback:created_at"
    assert not NullCursorRule("ignore").keeps_rejects


# -- SQL --------------------------------------------------------------------------------------


def test_the_fallback_window_keeps_the_cursor_range_and_binds_every_bound() -> None:
    q = build_window_query(
        "items",
        PLAN.plans[:1],
        "updated_at",
        ("a", "b"),
        fallback="created_at",
        fallback_bounds=("c", "d"),
    )
    assert q.sql == (
        "SELECT `id` FROM `items` WHERE (`updated_at` >= %s AND `updated_at` < %s) "
        "OR (`updated_at` IS NULL AND `created_at` >= %s AND `created_at` < %s)"
    )
    assert q.params == ("a", "b", "c", "d")
    assert q.fallback == "created_at"
    with pytest.raises(ValueError, match="its own window bounds"):
        build_window_query("items", PLAN.plans[:1], "updated_at", ("a", "b"), fallback="x")
    with pytest.raises(IdentifierError):
        build_window_query(
            "items",
            PLAN.plans[:1],
            "updated_at",
            ("a", "b"),
            fallback="x`; DROP",
            fallback_bounds=("c", "d"),
        )


def test_null_cursor_statements_hold_quoted_names_only() -> None:
    assert null_cursor_count_sql("items", "updated_at") == (
        "SELECT COUNT(*) FROM `items` WHERE `updated_at` IS NULL"
    )
    assert null_cursor_count_sql("items", "updated_at", "created_at") == (
        "SELECT COUNT(*), COUNT(`created_at`) FROM `items` WHERE `updated_at` IS NULL"
    )
    assert null_cursor_keys_sql("items", ["`id`", "`sub`"], "updated_at") == (
        "SELECT `id`, `sub` FROM `items` WHERE `updated_at` IS NULL"
    )
    assert null_cursor_keys_sql("items", ["`id`"], "updated_at", "created_at") == (
        "SELECT `id` FROM `items` WHERE `updated_at` IS NULL AND `created_at` IS NULL"
    )
    assert key_set_sql("items", ["`id`"]) == "SELECT `id` FROM `items`"
    with pytest.raises(IdentifierError):
        null_cursor_count_sql("items; DROP TABLE x", "updated_at")


def test_fallback_bounds_follow_the_fallback_type() -> None:
    assert fallback_bounds(PLAN, None, D1, D2, timezone="UTC") is None
    assert fallback_bounds(PLAN, "created_on", D1, D2, timezone="UTC") == (
        "2024-03-10",
        "2024-03-11",
    )
    # A DATETIME fallback is a wall clock in the shard's zone, like a DATETIME cursor.
    assert fallback_bounds(PLAN, "created_at", D1, D2, timezone="Asia/Kolkata") == (
        "2024-03-10 05:30:00.000000",
        "2024-03-11 05:30:00.000000",
    )
    with pytest.raises(TypeError, match="must be DATETIME, TIMESTAMP or DATE"):
        fallback_bounds(PLAN, "name", D1, D2, timezone="UTC")
    with pytest.raises(LookupError, match="does not exist"):
        fallback_bounds(PLAN, "nope", D1, D2, timezone="UTC")


# -- the fill and the rejects ----------------------------------------------------------------


def test_a_null_cursor_takes_the_fallback_value_in_the_cursor_type() -> None:
    at = dt.datetime(2024, 3, 10, 8, 0, tzinfo=UTC)
    batch = pa.record_batch(
        {
            "id": pa.array([1, 2, 3], pa.uint32()),
            "created_on": pa.array([dt.date(2024, 3, 1), dt.date(2024, 3, 2), None], pa.date32()),
            "updated_at": pa.array([at, None, None], TS),
        }
    )
    filled = fill_cursor(batch, "updated_at", "created_on")
    assert filled.schema == batch.schema
    assert filled.column("updated_at").to_pylist() == [
        at,
        dt.datetime(2024, 3, 2, tzinfo=UTC),
        None,  # neither: no day; its key goes to the rejects
    ]
    complete = batch.slice(0, 1)
    assert fill_cursor(complete, "updated_at", "created_on") is complete


def test_reject_records_carry_shard_table_key_and_reason() -> None:
    keys = pa.record_batch({"id": pa.array([7, 9], pa.uint64()), "sub": ["a", "b"]})
    out = reject_batch(keys, shard="s0", table="items", reason=reject_reason("updated_at"))
    assert out.schema.names == ["_shard", "_table", "id", "sub", "_reason"]
    assert out.schema.field("id").type == pa.uint64()
    assert out.to_pylist()[1] == {
        "_shard": "s0",
        "_table": "items",
        "id": 9,
        "sub": "b",
        "_reason": "cursor updated_at is NULL",
    }
    assert reject_reason("u", "c") == "cursor u and fallback c are NULL"


def test_the_rejects_file_is_replaced_whole_or_not_at_all(tmp_path: Path) -> None:
    dataset = Dataset(tmp_path, ("raw", "s0", "items__null_cursor"))
    schema = pa.schema([("id", pa.int64())])
    first = ReplacedFileWriter(dataset, schema)
    first.write(pa.record_batch({"id": [1, 2]}, schema=schema))
    assert first.commit() == 2
    failed = ReplacedFileWriter(dataset, schema)
    failed.write(pa.record_batch({"id": [3]}, schema=schema))
    failed.abort()
    assert pq.read_table(dataset_file(dataset)).column("id").to_pylist() == [1, 2]
    empty = ReplacedFileWriter(dataset, schema)
    assert empty.commit() == 0
    assert pq.read_table(dataset_file(dataset)).num_rows == 0
    assert [p.name for p in dataset.dir.iterdir()] == ["part-00000.parquet"]
    assert not any(staging_root(tmp_path).rglob("*.parquet"))


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [(None, 5, False), (5, 5, False), (5, 4, False), (5, 6, True), (0, 1, True)],
)
def test_the_check_fails_only_on_growth(previous: int | None, current: int, expected: bool) -> None:
    assert grew(previous, current) is expected
