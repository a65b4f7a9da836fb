"""Reconciling landed rows with the shard: the comparison, the key checksum's text, the query."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pyarrow as pa
import pytest

from etl_platform.components.landed_count_check import (
    ROWS_MATCH_SHARD,
    NotCounted,
    _result,
    landed_count_check_results,
)
from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.extract.extractor import ExtractRequest
from etl_platform.extract.introspect import TablePlan
from etl_platform.extract.query import build_window_query, cursor_bounds
from etl_platform.extract.types import ColumnInfo, plan_column
from etl_platform.extract.window_counts import WindowCounts, build_counts_query, key_checksum_expr
from etl_platform.transform.landed_counts import (
    DayCount,
    differing,
    key_checksum,
    key_text,
    reconcile_days,
)

D1, D2, D3 = dt.date(2024, 3, 1), dt.date(2024, 3, 2), dt.date(2024, 3, 3)


def _plan(*columns: tuple[str, str, str], key: tuple[str, ...] = ("id",)) -> TablePlan:
    plans = tuple(plan_column(ColumnInfo(n, t, c), table="items") for n, t, c in columns)
    return TablePlan(
        table="items", plans=plans, cursor="updated_at", cursor_index=None, primary_key=key
    )


INT_KEY = _plan(("id", "bigint", "bigint(20)"), ("updated_at", "datetime", "datetime(6)"))


def _request(days: list[dt.date], **kw: object) -> ExtractRequest:
    return ExtractRequest(
        shard="shard_00",
        table="items",
        endpoint=MySqlEndpoint("127.0.0.1"),
        days=days,
        cursor="updated_at",
        primary_key=("id",),
        **kw,  # type: ignore[arg-type]
    )


# -- the comparison ---------------------------------------------------------------------------


def test_matching_days_do_not_differ() -> None:
    counts = {D1: DayCount(3, 7), D2: DayCount(0, 0)}
    days = reconcile_days(counts, counts, dict(counts))
    assert [d.day for d in days] == [D1, D2] and differing(days) == []


def test_a_day_short_of_rows_differs_with_both_numbers() -> None:
    shard = {D1: DayCount(3, 7), D2: DayCount(5, 9)}
    days = reconcile_days(shard, shard, {D1: DayCount(3, 7), D2: DayCount(4, 1)})
    (day,) = differing(days)
    assert day.day == D2 and day.rows_differ and day.checksum_differs
    assert day.describe() == "2024-03-02: shard 5 rows, landed 4 (key checksums differ)"


def test_same_count_other_keys_differs_by_checksum() -> None:
    shard = {D1: DayCount(2, 7)}
    (day,) = differing(reconcile_days(shard, shard, {D1: DayCount(2, 8)}))
    assert not day.rows_differ and day.checksum_differs


def test_a_day_written_during_the_read_is_unsettled_not_different() -> None:
    before = {D1: DayCount(3, 7), D2: DayCount(5, 9)}
    after = {D1: DayCount(3, 7), D2: DayCount(6, 2)}
    days = reconcile_days(before, after, {D1: DayCount(3, 7), D2: DayCount(5, 9)})
    assert differing(days) == [] and [d.day for d in days if d.unsettled] == [D2]
    assert days[1].as_json()["status"] == "unsettled"


def test_a_day_missing_from_the_lake_counts_zero_rows() -> None:
    shard = {D1: DayCount(2, None)}
    (day,) = differing(reconcile_days({}, shard, {}))
    assert (day.shard.rows, day.landed.rows) == (2, 0) and not day.checksum_differs


# -- the key checksum's text, as MySQL's CRC32 reads it -----------------------------------------


@pytest.mark.parametrize(
    ("value", "mysql_crc32"),
    [(12345, 3421846044), (-5, 926977075), ("12345", 3421846044)],
    ids=["int", "negative-int", "string"],
)
def test_key_text_matches_mysql_crc32(value: object, mysql_crc32: int) -> None:
    # The right-hand values are MariaDB's `SELECT CRC32(12345), CRC32(-5)`.
    assert key_checksum([value]) == mysql_crc32


def test_key_checksum_is_an_xor_that_skips_nulls_and_is_zero_when_empty() -> None:
    assert key_checksum(pa.array([1, None, 2], pa.uint64())) == key_checksum([2, 1])
    assert key_checksum(pa.chunked_array([[], []], pa.int64())) == 0
    assert key_text("café") == "café".encode() and key_text(b"\x00\xff") == b"\x00\xff"
    with pytest.raises(TypeError, match="boolean"):
        key_text(True)


# -- the shard's query --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        (INT_KEY, "BIT_XOR(CRC32(`id`))"),
        (
            _plan(("id", "varchar", "varchar(36)"), ("updated_at", "datetime", "datetime")),
            "BIT_XOR(CRC32(CONVERT(`id` USING utf8mb4)))",
        ),
        (
            _plan(("id", "decimal", "decimal(10,0)"), ("updated_at", "datetime", "datetime")),
            None,
        ),
        (
            _plan(
                ("a", "int", "int"),
                ("b", "int", "int"),
                ("updated_at", "datetime", "datetime"),
                key=("a", "b"),
            ),
            None,
        ),
    ],
    ids=["int", "string", "decimal", "composite"],
)
def test_key_checksum_expr(plan: TablePlan, expected: str | None) -> None:
    checksum, reason = key_checksum_expr(plan)
    assert checksum == expected
    assert (reason is None) == (expected is not None)


def test_the_counts_use_the_extracts_bounds_per_day_in_the_shard_time_zone() -> None:
    req = _request([D1, D2], timezone="America/New_York")
    sql, params = build_counts_query(req, INT_KEY, "BIT_XOR(CRC32(`id`))")
    assert sql.count("UNION ALL") == 1 and sql.count("%s") == 6
    assert "COUNT(*)" in sql and "`updated_at` >= %s AND `updated_at` < %s" in sql
    # Each day's branch: its label, then its bounds as the extract converts them.
    assert params == (
        "2024-03-01",
        "2024-02-29 19:00:00.000000",
        "2024-03-01 19:00:00.000000",
        "2024-03-02",
        "2024-03-01 19:00:00.000000",
        "2024-03-02 19:00:00.000000",
    )
    # The branches abut into the extract's own window.
    start, end = req.window
    bounds = cursor_bounds(start, end, cursor_kind="datetime", timezone="America/New_York")
    whole = build_window_query("items", INT_KEY.plans, "updated_at", bounds)
    assert (params[1], params[-1]) == whole.params


def test_the_counts_place_null_cursor_rows_by_the_fallback_as_the_extract_does() -> None:
    plan = _plan(
        ("id", "int", "int"),
        ("created_on", "date", "date"),
        ("updated_at", "timestamp", "timestamp(6)"),
    )
    sql, params = build_counts_query(_request([D1], fallback="created_on"), plan, None)
    assert "`updated_at` IS NULL AND `created_on` >= %s AND `created_on` < %s" in sql
    assert params == (
        "2024-03-01",
        "2024-03-01 00:00:00.000000",
        "2024-03-02 00:00:00.000000",
        "2024-03-01",
        "2024-03-02",
    )


def test_days_before_the_tables_start_are_not_counted() -> None:
    _, params = build_counts_query(_request([D1, D2, D3], first_day=D3), INT_KEY, None)
    assert params[0] == "2024-03-03" and len(params) == 3
    with pytest.raises(ValueError, match="nothing to count"):
        build_counts_query(_request([D1], first_day=D3), INT_KEY, None)


# -- the check's result -------------------------------------------------------------------------


def test_a_failed_result_names_shard_table_and_each_day() -> None:
    shard = {D1: DayCount(3, 7), D2: DayCount(5, 9)}
    days = reconcile_days(shard, shard, {D1: DayCount(3, 7), D2: DayCount(4, 9)})
    counts = WindowCounts(days=shard, checksum="BIT_XOR(CRC32(`id`))", no_checksum=None, sql="")
    key = dg.AssetKey(["raw", "shard_00", "items"])
    result = _result(key, _request([D1, D2]), days, counts, passed=False)
    assert result.check_name == ROWS_MATCH_SHARD and not result.passed
    assert result.severity == dg.AssetCheckSeverity.WARN
    assert result.description == (
        "shard shard_00 table `items`: landed rows differ from the shard on "
        "2024-03-02: shard 5 rows, landed 4"
    )
    assert result.metadata["days_differing"].value == ["2024-03-02"]


@pytest.mark.parametrize(
    ("shard_rows", "landed_rows", "checksum", "maybe_writes"),
    [
        (500, 499, None, True),
        (5000, 4950, None, True),
        (500, 250, None, False),
        (500, 499, 7, False),
    ],
    ids=["one-row", "one-percent", "half-lost", "checksummed"],
)
def test_a_small_difference_without_a_key_checksum_may_be_writes_during_the_read(
    shard_rows: int, landed_rows: int, checksum: int | None, maybe_writes: bool
) -> None:
    """Counts equal before and after do not prove the day was left alone (an insert and a
    delete during the read): without a key checksum to tell, a small difference says so."""
    shard = {D1: DayCount(shard_rows, checksum)}
    landed = {D1: DayCount(landed_rows, None if checksum is None else 8)}
    (day,) = differing(reconcile_days(shard, shard, landed))
    assert day.may_be_writes_during_the_read is maybe_writes
    assert ("may come from writes during the read" in day.describe()) is maybe_writes


def test_a_count_that_failed_before_the_read_makes_the_check_not_counted() -> None:
    key = dg.AssetKey(["raw", "shard_00", "items"])
    failed = NotCounted("shard shard_00 (127.0.0.1:3306) is unavailable: timed out")
    (result,) = landed_count_check_results(key, _request([D1]), None, failed)  # type: ignore[arg-type]
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.description == f"not counted: {failed.reason}"
    assert result.metadata["not_counted"].value == f"before the read: {failed.reason}"
