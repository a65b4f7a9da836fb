import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

from etl_platform.extract.types import (
    ColumnInfo,
    ConversionStats,
    UnsupportedTypeError,
    ValueConversionError,
    convert_column,
    plan_column,
)

UTC_US = pa.timestamp("us", tz="UTC")


@pytest.mark.parametrize(
    ("data_type", "column_type", "precision", "scale", "expected"),
    [
        ("tinyint", "tinyint(1)", None, None, pa.bool_()),
        ("tinyint", "tinyint(4)", None, None, pa.int8()),
        ("tinyint", "tinyint(3) unsigned", None, None, pa.uint8()),
        ("int", "int(10) unsigned", None, None, pa.uint32()),
        ("bigint", "bigint(20)", None, None, pa.int64()),
        ("bigint", "bigint(20) unsigned", None, None, pa.uint64()),
        ("decimal", "decimal(12,2)", 12, 2, pa.decimal128(12, 2)),
        ("decimal", "decimal(65,30)", 65, 30, pa.decimal256(65, 30)),
        ("float", "float", None, None, pa.float32()),
        ("double", "double", None, None, pa.float64()),
        ("bit", "bit(1)", None, None, pa.bool_()),
        ("bit", "bit(12)", None, None, pa.uint64()),
        ("year", "year(4)", None, None, pa.int16()),
        ("date", "date", None, None, pa.date32()),
        ("datetime", "datetime(6)", None, None, UTC_US),
        ("timestamp", "timestamp(6)", None, None, UTC_US),
        ("time", "time(3)", None, None, pa.duration("us")),
        ("enum", "enum('a','b')", None, None, pa.large_string()),
        ("set", "set('a','b')", None, None, pa.large_string()),
        ("longtext", "longtext", None, None, pa.large_string()),
        ("json", "json", None, None, pa.large_string()),
        ("blob", "blob", None, None, pa.large_binary()),
        ("varbinary", "varbinary(16)", None, None, pa.large_binary()),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_mysql_types_map_faithfully(data_type, column_type, precision, scale, expected) -> None:
    col = ColumnInfo("c", data_type, column_type, numeric_precision=precision, numeric_scale=scale)
    assert plan_column(col, table="t").arrow_type == expected


def test_unmappable_type_names_the_column_and_table() -> None:
    with pytest.raises(
        UnsupportedTypeError, match=r"column `geo` of table `places`.*exclude_columns"
    ):
        plan_column(ColumnInfo("geo", "point", "point"), table="places")


#: How a driver hands a column over: pymysql's Python str, or an Arrow array (connectorx's
#: strings, mysqlclient's bytes).
FORMS = {
    "python": lambda values: values,
    "arrow-string": lambda values: pa.array(values, pa.string()),
    "arrow-binary": lambda values: pa.array(
        [None if v is None else v.encode() for v in values], pa.large_binary()
    ),
}


@pytest.fixture(params=sorted(FORMS))
def form(request: pytest.FixtureRequest) -> str:
    return request.param


def _convert(
    form: str, data_type: str, column_type: str, values: list, tz: str = "UTC", **kw
) -> tuple:
    stats = ConversionStats()
    plan = plan_column(ColumnInfo("c", data_type, column_type, **kw), table="t")
    column = FORMS[form](values)
    return convert_column(plan, column, timezone=tz, table="t", stats=stats).to_pylist(), stats


def test_text_is_typed_without_losing_precision(form: str) -> None:
    assert _convert(form, "bigint", "bigint(20) unsigned", ["18446744073709551615", None])[0] == [
        2**64 - 1,
        None,
    ]
    assert _convert(
        form,
        "decimal",
        "decimal(12,2)",
        ["-0.01", "9999999999.99"],
        numeric_precision=12,
        numeric_scale=2,
    )[0] == [
        Decimal("-0.01"),
        Decimal("9999999999.99"),
    ]
    assert _convert(form, "tinyint", "tinyint(1)", ["0", "1", None])[0] == [False, True, None]
    assert _convert(form, "time", "time(6)", ["-838:59:59.000001", "01:02:03"])[0] == [
        -dt.timedelta(hours=838, minutes=59, seconds=59, microseconds=1),
        dt.timedelta(hours=1, minutes=2, seconds=3),
    ]


def test_zero_dates_become_null_and_are_counted(form: str) -> None:
    values, stats = _convert(
        form,
        "datetime",
        "datetime",
        [
            "0000-00-00 00:00:00",
            "2024-00-10 00:00:00",
            "2024-05-00 00:00:00",
            "2024-05-01 23:59:59.999999",
            None,
        ],
    )
    assert values[:3] == [None, None, None] and values[4] is None
    assert values[3] == dt.datetime(2024, 5, 1, 23, 59, 59, 999999, tzinfo=dt.UTC)
    assert stats.zero_dates == {"c": 3}
    values, stats = _convert(form, "date", "date", ["0000-00-00", "2024-02-29"])
    assert values == [None, dt.date(2024, 2, 29)] and stats.zero_dates == {"c": 1}


def test_datetime_is_read_in_the_shard_time_zone(form: str) -> None:
    values, _ = _convert(
        form, "datetime", "datetime(6)", ["2024-07-01 02:00:00"], tz="Europe/Berlin"
    )
    assert values == [dt.datetime(2024, 7, 1, 0, 0, tzinfo=dt.UTC)]
    # TIMESTAMP is read in the session zone, which the reader sets to UTC.
    values, _ = _convert(
        form, "timestamp", "timestamp(6)", ["2024-07-01 02:00:00"], tz="Europe/Berlin"
    )
    assert values == [dt.datetime(2024, 7, 1, 2, 0, tzinfo=dt.UTC)]


def test_a_flag_holding_another_number_is_an_error_not_a_cast(form: str) -> None:
    with pytest.raises(ValueConversionError, match=r"table `t` column `c`.*holds 2"):
        _convert(form, "tinyint", "tinyint(1)", ["1", "2"])


def test_garbage_in_a_number_column_names_the_column(form: str) -> None:
    with pytest.raises(ValueConversionError, match=r"table `t` column `c` \(int\(11\)\)"):
        _convert(form, "int", "int(11)", ["12", "twelve"])


def test_the_repeated_dst_hour_takes_its_first_occurrence(form: str) -> None:
    # 2024-11-03 01:30 happened twice in New York (EDT, then EST).
    values, _ = _convert(
        form, "datetime", "datetime", ["2024-11-03 01:30:00"], tz="America/New_York"
    )
    assert values == [dt.datetime(2024, 11, 3, 5, 30, tzinfo=dt.UTC)]


def _plan(data_type: str, column_type: str, **kw):
    return plan_column(ColumnInfo("c", data_type, column_type, **kw), table="t")


def _typed(plan, column) -> list:
    return convert_column(
        plan, column, timezone="UTC", table="t", stats=ConversionStats()
    ).to_pylist()


def test_a_drivers_exact_numbers_are_cast_not_reparsed() -> None:
    # connectorx hands integers, floats and TINYINT(1) over typed: same result as the text.
    big = pa.array([2**64 - 1, None], pa.uint64())
    assert _typed(_plan("bigint", "bigint(20) unsigned"), big) == [2**64 - 1, None]
    flags = pa.array([0, 1, None], pa.int8())
    assert _typed(_plan("tinyint", "tinyint(1)"), flags) == [False, True, None]
    with pytest.raises(ValueConversionError, match=r"column `c`.*holds 2"):
        _typed(_plan("tinyint", "tinyint(1)"), pa.array([2], pa.int8()))
    with pytest.raises(ValueConversionError, match=r"column `c` \(tinyint\(3\) unsigned\)"):
        _typed(_plan("tinyint", "tinyint(3) unsigned"), pa.array([-1], pa.int8()))
    f32 = pa.array([1.5, None], pa.float64())
    assert _typed(_plan("float", "float"), f32) == [1.5, None]
    assert _typed(_plan("bit", "bit(12)"), pa.array([4095], pa.uint64())) == [4095]


def test_arrow_strings_and_bytes_keep_text_and_binary_apart() -> None:
    text = pa.array(["Zoë 🚀", None], pa.string())
    assert _typed(_plan("varchar", "varchar(10)"), text) == ["Zoë 🚀", None]
    raw = pa.array([b"\x00\xff", b""], pa.large_binary())
    assert _typed(_plan("varbinary", "varbinary(4)"), raw) == [b"\x00\xff", b""]
    # Bytes of a text column must be UTF-8: a bad byte is a named error, not mojibake.
    with pytest.raises(ValueConversionError, match=r"table `t` column `c` \(varchar\(10\)\)"):
        _typed(_plan("varchar", "varchar(10)"), pa.array([b"\xff"], pa.large_binary()))
