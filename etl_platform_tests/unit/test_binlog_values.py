"""Values as pymysqlreplication decodes them, typed as the batch extract types the server's
text (the parity with a real server is test_cdc_type_parity.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

from etl_platform.extract.binlog_values import (
    ZERO_DATE,
    binlog_table,
    mysql_json_text,
    render_text,
    with_none_sources,
)
from etl_platform.extract.types import (
    ColumnInfo,
    ColumnPlan,
    ConversionStats,
    ValueConversionError,
    arrow_schema,
    plan_column,
)

UTC = dt.UTC
MAX_U64 = 2**64 - 1
#: A UUID as the binlog carries it: its 16 bytes less the trailing zero.
UUID_STORED = bytes.fromhex("123e4567e89b12d3a4564266141740")
#: MySQL's binary JSON as the library decodes it: keys and strings are bytes.
JSON_OBJECT = {b"a": [1, 2.5, None, True], b"b": b'\xc3\xa9\n"'}


def _plan(
    column_type: str,
    name: str = "c",
    *,
    nullable: bool = True,
    precision: int | None = None,
    scale: int = 0,
) -> ColumnPlan:
    data_type = column_type.split("(")[0].split()[0]
    info = ColumnInfo(
        name, data_type, column_type, numeric_precision=precision, numeric_scale=scale,
        nullable=nullable,
    )  # fmt: skip
    return plan_column(info, table="t")


def _typed(
    column_type: str, values: list[object], *, timezone: str = "UTC", **kw: object
) -> list[object]:
    plan = _plan(column_type, **kw)  # type: ignore[arg-type]
    rows = [{"c": v} for v in values]
    table = binlog_table([plan], rows, timezone=timezone, table="t", stats=ConversionStats())
    assert table.schema == arrow_schema([plan])
    return table.column("c").to_pylist()


@pytest.mark.parametrize(
    ("column_type", "values", "expected"),
    [
        ("bigint(20) unsigned", [MAX_U64, 0, None], [MAX_U64, 0, None]),
        ("bigint(20)", [-(2**63), 2**63 - 1], [-(2**63), 2**63 - 1]),
        ("tinyint(4)", [-128, 127], [-128, 127]),
        ("mediumint(8) unsigned", [16777215], [16777215]),
        ("year(4)", [2155, 1901, 1900, None], [2155, 1901, 0, None]),
        ("tinyint(1)", [1, 0, True, None], [True, False, True, None]),
        ("bit(1)", ["1", "0", None], [True, False, None]),
        ("bit(8)", ["11111111", "00000001", "0"], [255, 1, 0]),
        ("bit(64)", ["1" * 64], [MAX_U64]),
    ],
    ids=["bigint-unsigned", "bigint", "tinyint", "mediumint", "year", "tinyint1", "bit1", "bit8",
         "bit64"],
)  # fmt: skip
def test_integers_and_bits(column_type: str, values: list, expected: list) -> None:
    assert _typed(column_type, values) == expected


def test_decimal_keeps_every_digit() -> None:
    values = [
        Decimal("-1E-30"),
        Decimal("0E-30"),
        Decimal("12345678901234567890123456789012345.123456789012345678901234567890"),
    ]
    got = _typed("decimal(65,30)", values, precision=65, scale=30)
    assert got == [Decimal(v) for v in values]
    assert str(got[0]) == "-1E-30"


@pytest.mark.parametrize(
    ("column_type", "value", "expected"),
    [
        # The server prints FLOAT with six significant digits; the batch types that text.
        ("float", 16777216.0, 16777200.0),
        ("float", 0.10000000149011612, 0.10000000149011612),
        ("float(7,3)", 9999.9990234375, 9999.9990234375),
        ("double", 0.1, 0.1),
        ("double", 2.2250738585072014e-308, 2.2250738585072014e-308),
        ("double(10,4)", -0.0001, -0.0001),
    ],
    ids=["float-six-digits", "float", "float-m-d", "double", "double-tiny", "double-m-d"],
)
def test_floats_as_the_server_prints_them(column_type: str, value: float, expected: float) -> None:
    assert _typed(column_type, [value]) == [expected]


def test_datetime_is_the_shards_wall_clock_with_microseconds() -> None:
    values = [
        dt.datetime(2024, 3, 10, 12, 0, 0, 1),
        dt.datetime(2024, 10, 27, 2, 30),  # Berlin falls back: the first 02:30 (CEST)
        dt.datetime(2024, 1, 15, 12, 0),
        None,
    ]
    assert _typed("datetime(6)", values, timezone="Europe/Berlin") == [
        dt.datetime(2024, 3, 10, 11, 0, 0, 1, tzinfo=UTC),
        dt.datetime(2024, 10, 27, 0, 30, tzinfo=UTC),
        dt.datetime(2024, 1, 15, 11, 0, tzinfo=UTC),
        None,
    ]


def test_timestamp_is_utc_whatever_the_shards_zone() -> None:
    naive_utc = dt.datetime(2038, 1, 19, 3, 14, 7, 999999)
    aware = dt.datetime(2024, 6, 1, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    got = _typed("timestamp(6)", [naive_utc, aware, None], timezone="Europe/Berlin")
    assert got == [naive_utc.replace(tzinfo=UTC), dt.datetime(2024, 6, 1, 12, tzinfo=UTC), None]


def test_zero_dates_are_null_and_counted_as_the_batch_counts_them() -> None:
    plans = [_plan("timestamp", "ts"), _plan("date", "d"), _plan("datetime", "dtm")]
    rows = [
        # TIMESTAMP's zero is stored as the epoch, which the library decodes as 1970-01-01.
        {"ts": dt.datetime(1970, 1, 1), "d": ZERO_DATE, "dtm": ZERO_DATE},
        {"ts": dt.datetime(1970, 1, 1, 0, 0, 1), "d": dt.date(1000, 1, 1), "dtm": None},
    ]
    stats = ConversionStats()
    table = binlog_table(plans, rows, timezone="UTC", table="t", stats=stats)
    assert table.to_pylist() == [
        {"ts": None, "d": None, "dtm": None},
        {"ts": dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC), "d": dt.date(1000, 1, 1), "dtm": None},
    ]
    assert stats.zero_dates == {"ts": 1, "d": 1, "dtm": 1}


def test_time_is_a_signed_duration_beyond_a_day() -> None:
    values = [
        dt.timedelta(hours=838, minutes=59, seconds=59),
        -dt.timedelta(hours=838, minutes=59, seconds=59),
        dt.timedelta(hours=100, microseconds=990000),
        dt.timedelta(microseconds=1),
        None,
    ]
    assert _typed("time(6)", values) == values


@pytest.mark.parametrize(
    ("decoded", "meant"),
    [
        (-dt.timedelta(seconds=1, microseconds=750000), "-00:00:01.250000"),
        (-dt.timedelta(hours=12, minutes=34, seconds=56, microseconds=999999), "-12:34:56.000001"),
        (-dt.timedelta(microseconds=900000), "-00:00:00.100000"),
        (-dt.timedelta(seconds=1), "-00:00:01.000000"),
    ],
    ids=["quarter", "one-microsecond", "under-a-second", "whole"],
)
def test_a_negative_times_fraction_is_complemented_back(decoded: dt.timedelta, meant: str) -> None:
    """mysql-replication 1.0.17 decodes -00:00:01.25 as -00:00:01.75 (the stored complement)."""
    assert render_text(_plan("time(6)"), decoded) == meant


def test_strings_keep_utf8mb4_and_tell_empty_from_null() -> None:
    values = ["Zoë 🚀 日本語", "", None, " a"]
    assert _typed("varchar(64)", values) == values
    assert _typed("enum('a','b')", ["", "b", None]) == ["", "b", None]


def test_set_members_in_the_columns_order() -> None:
    column_type = "set('x','it''s','z')"
    assert _typed(column_type, [{"z", "x"}, {"it's"}, frozenset(), None]) == [
        "x,z",
        "it's",
        "",
        None,
    ]
    # The library decodes an empty SET as None: in a NOT NULL column that can only be empty.
    assert _typed("set('p','q')", [None, {"q", "p"}], nullable=False) == ["", "p,q"]


def test_with_none_sources_puts_back_what_is_not_null() -> None:
    values = {"s": None, "d": None, "dtm": None, "n": None, "v": 1}
    sources = {
        "s": "empty set",
        "d": "out of date range",
        "dtm": "out of datetime2 range",
        "n": "null",
    }
    assert with_none_sources(values, sources) == {
        "s": frozenset(),
        "d": ZERO_DATE,
        "dtm": ZERO_DATE,
        "n": None,
        "v": 1,
    }


def test_binary_values_are_bytes_padded_as_stored() -> None:
    # The library hands an empty binary value over as "" and drops BINARY's trailing zeros.
    assert _typed("varbinary(16)", [b"\x00", "", None]) == [b"\x00", b"", None]
    assert _typed("binary(4)", [b"\x01", "", b"\xde\xad\xbe\xef"]) == [
        b"\x01\x00\x00\x00",
        b"\x00\x00\x00\x00",
        b"\xde\xad\xbe\xef",
    ]
    assert _typed("longblob", [b"\xde\xad\xbe\xef\x00"]) == [b"\xde\xad\xbe\xef\x00"]


@pytest.mark.parametrize(
    ("column_type", "stored", "text"),
    [
        ("uuid", UUID_STORED, "123e4567-e89b-12d3-a456-426614174000"),
        ("uuid", "", "00000000-0000-0000-0000-000000000000"),
        ("inet4", b"\n", "10.0.0.0"),
        ("inet4", b"\xff\xff\xff\xff", "255.255.255.255"),
        ("inet6", "", "::"),
        ("inet6", bytes(15) + b"\x01", "::1"),
        ("inet6", bytes(10) + b"\xff\xff\x01\x02\x03\x04", "::ffff:1.2.3.4"),
        ("inet6", bytes(12) + b"\x01\x02\x03\x04", "::1.2.3.4"),
        ("inet6", bytes.fromhex("20010db8000000010001000100010001"), "2001:db8::1:1:1:1:1"),
        ("inet6", bytes.fromhex("fe800000000000000001"), "fe80::1:0:0:0"),
        ("inet6", bytes.fromhex("20010000000000010000000000010001"), "2001::1:0:0:1:1"),
    ],
    ids=["uuid", "uuid-nil", "inet4-trailing-zero", "inet4", "inet6-zero", "inet6-loopback",
         "inet6-mapped", "inet6-compatible", "inet6-single-zero", "inet6-first-run",
         "inet6-tie"],
)  # fmt: skip
def test_mariadb_fixed_binary_types_as_the_server_prints_them(
    column_type: str, stored: bytes | str, text: str
) -> None:
    assert _typed(column_type, [stored]) == [text]


def test_mariadb_json_is_its_text() -> None:
    doc = '  {"b" : 2, "emoji": "🎉"}  '
    assert _typed("longtext", [doc]) == [doc]


@pytest.mark.parametrize(
    ("decoded", "text"),
    [
        (JSON_OBJECT, '{"a": [1, 2.5, null, true], "b": "é\\n\\""}'),
        ([], "[]"),
        ({}, "{}"),
        ([1e300, 1e-07, 3.0, -0.5], "[1e300, 1e-7, 3.0, -0.5]"),
        ([Decimal("1.50"), False], "[1.50, false]"),
        (b"x", '"x"'),
        ([dt.datetime(2015, 1, 15, 23, 24, 25)], '["2015-01-15 23:24:25.000000"]'),
        ([dt.time(1, 2, 3)], '["01:02:03.000000"]'),
        ([["\x01"]], '[["\\u0001"]]'),
    ],
    ids=["object", "empty-array", "empty-object", "doubles", "decimal", "string", "datetime",
         "time", "control-char"],
)  # fmt: skip
def test_mysql_binary_json_in_mysqls_layout(decoded: object, text: str) -> None:
    assert mysql_json_text(decoded) == text
    assert _typed("json", [decoded]) == [text]


def test_a_column_the_row_lacks_is_null() -> None:
    plans = [_plan("int(11)"), _plan("set('a')", "added", nullable=False)]
    table = binlog_table(
        plans, [{"c": 1}, {"c": 2, "added": None}], timezone="UTC", table="t",
        stats=ConversionStats(),
    )  # fmt: skip
    assert table.to_pylist() == [{"c": 1, "added": None}, {"c": 2, "added": ""}]


def test_no_rows_is_an_empty_table_of_the_schema() -> None:
    plans = [_plan("bigint(20) unsigned"), _plan("time(6)"), _plan("blob")]
    table = binlog_table(plans, [], timezone="UTC", table="t", stats=ConversionStats())
    assert table.num_rows == 0
    assert table.schema == arrow_schema(plans)


@pytest.mark.parametrize(
    ("column_type", "value", "match"),
    [
        ("tinyint(1)", 2, r"table `orders` column `c` is TINYINT\(1\)"),
        ("int(11)", "abc", r"table `orders` column `c` \(int\(11\)\): cannot read"),
        ("datetime", dt.date(2024, 1, 1), r"table `orders` column `c` \(datetime\)"),
        ("tinyint(3) unsigned", -1, r"table `orders` column `c` \(tinyint\(3\) unsigned\)"),
    ],
    ids=["flag-above-one", "text-in-int", "date-in-datetime", "negative-unsigned"],
)
def test_a_value_that_does_not_convert_names_table_and_column(
    column_type: str, value: object, match: str
) -> None:
    with pytest.raises(ValueConversionError, match=match):
        binlog_table(
            [_plan(column_type)], [{"c": value}], timezone="UTC", table="orders",
            stats=ConversionStats(),
        )  # fmt: skip


def test_schema_is_the_batch_extracts() -> None:
    plans = [
        _plan("decimal(65,30)", "dec", precision=65, scale=30),
        _plan("timestamp(6)", "ts"),
        _plan("json", "doc"),
        _plan("bit(1)", "flag"),
    ]
    table = binlog_table(plans, [{}], timezone="UTC", table="t", stats=ConversionStats())
    assert table.schema == arrow_schema(plans)
    assert table.schema.field("dec").type == pa.decimal256(65, 30)
