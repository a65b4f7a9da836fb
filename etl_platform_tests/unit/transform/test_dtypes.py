"""parse_type and cast_strings: the spec's type names and JSON text -> typed values."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import polars as pl
import pytest

from etl_platform.specs.types import SIMPLE_TYPES, TypeName, parse_type_name
from etl_platform.transform.dtypes import (
    JSON,
    SUPPORTED_TYPES,
    cast_strings,
    parse_type,
    storage_dtype,
    type_name,
)

UTC = dt.UTC


@pytest.mark.parametrize(
    ("text", "dtype"),
    [
        ("int8", pl.Int8()),
        ("uint64", pl.UInt64()),
        ("float32", pl.Float32()),
        ("bool", pl.Boolean()),
        ("string", pl.String()),
        ("date", pl.Date()),
        ("timestamp", pl.Datetime("us", "UTC")),
        ("decimal(12,2)", pl.Decimal(12, 2)),
        (" Decimal( 38 , 0 ) ", pl.Decimal(38, 0)),
        ("decimal(1,1)", pl.Decimal(1, 1)),
        ("json", JSON),
    ],
    ids=[
        "int8",
        "uint64",
        "float32",
        "bool",
        "string",
        "date",
        "timestamp",
        "decimal",
        "decimal-spaces-case",
        "decimal-1-1",
        "json",
    ],
)
def test_parse_type(text: str, dtype: pl.DataType) -> None:
    assert parse_type(text) == dtype


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("integer", "unknown type `integer`; valid types: int8"),
        ("decimal(39,2)", "1 <= precision <= 38"),
        ("decimal(0,0)", "1 <= precision <= 38"),
        ("decimal(5,6)", "0 <= scale <= precision"),
        ("decimal(5)", "unknown type `decimal(5)`"),
        ("", "unknown type ``"),
    ],
    ids=[
        "unknown",
        "precision-too-big",
        "precision-zero",
        "scale-above-precision",
        "decimal-without-scale",
        "empty",
    ],
)
def test_parse_type_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_type(text)


def test_supported_types_lists_every_name_and_json_is_stored_as_string() -> None:
    for name in ["int8", "uint64", "timestamp", "json", "decimal(p,s)"]:
        assert name in SUPPORTED_TYPES
    assert storage_dtype(JSON) == pl.String
    assert storage_dtype(pl.Int64()) == pl.Int64
    assert pl.String != JSON
    assert [type_name(parse_type(t)) for t in ["decimal(12,2)", "json", "timestamp"]] == [
        "decimal(12,2)",
        "json",
        "timestamp",
    ]


def test_every_spec_type_name_has_a_dtype_and_the_grammar_lives_in_specs() -> None:
    for name in SIMPLE_TYPES:
        assert parse_type_name(name) == TypeName(name)
        assert type_name(parse_type(name)) == name
    assert parse_type_name(" Decimal( 12 , 2 ) ") == TypeName("decimal", 12, 2)
    for bad in ("integer", "decimal(39,2)", "decimal(5,6)"):
        with pytest.raises(ValueError) as spec_error:
            parse_type_name(bad)
        with pytest.raises(ValueError, match=re.escape(str(spec_error.value))):
            parse_type(bad)


def _cast(values: list[str | None], dtype: pl.DataType) -> tuple[list, list[bool]]:
    typed, wrong = cast_strings(pl.Series("v", values, dtype=pl.String), dtype)
    return typed.to_list(), wrong.to_list()


CASES = [
    # (type, inputs, typed outputs, wrong-type mask)
    ("int64", ["12", "-7", "012", None], [12, -7, 12, None], [False, False, False, False]),
    ("int64", ["12.0", "1.5", "1e2", " 12", "+3", "abc", ""], [None] * 7, [True] * 7),
    ("int8", ["127", "128", "-129"], [127, None, None], [False, True, True]),
    (
        "uint64",
        ["18446744073709551615", "18446744073709551616", "-1"],
        [18446744073709551615, None, None],
        [False, True, True],
    ),
    ("float64", ["1.5", "12", "-0.0", "1e3", "1E-2"], [1.5, 12.0, -0.0, 1000.0, 0.01], [False] * 5),
    ("float64", ["NaN", "inf", "1e400", "1.5x", "true"], [None] * 5, [True] * 5),
    ("float32", ["1e39"], [None], [True]),
    (
        "decimal(12,2)",
        ["39.80", "39.8", "39", "-0.5", "1.2e1", "39.800000"],
        [
            Decimal("39.80"),
            Decimal("39.80"),
            Decimal("39.00"),
            Decimal("-0.50"),
            Decimal("12.00"),
            Decimal("39.80"),
        ],
        [False] * 6,
    ),
    ("decimal(12,2)", ["39.805", "1e-3", "12345678901.5", "abc", "1.5.2"], [None] * 5, [True] * 5),
    (
        "bool",
        ["true", "false", "True", "1", "0", "yes"],
        [True, False, None, None, None, None],
        [False, False, True, True, True, True],
    ),
    (
        "date",
        ["2025-03-01", "2024-02-29", "2025-02-30", "2025-3-1", "2025-03-01T00:00:00"],
        [dt.date(2025, 3, 1), dt.date(2024, 2, 29), None, None, None],
        [False, False, True, True, True],
    ),
    (
        "string",
        ["x", "12", "[1,2]", '{"a":1}', "[not json", "{}", "😀 é"],
        ["x", "12", "[1,2]", '{"a":1}', "[not json", "{}", "😀 é"],
        [False, False, True, True, False, True, False],
    ),
    ("json", ['{"a":1}', "12", "x"], ['{"a":1}', "12", "x"], [False, False, False]),
]


@pytest.mark.parametrize(
    ("type_text", "values", "typed", "wrong"),
    CASES,
    ids=[
        "int-ok",
        "int-non-integers",
        "int8-overflow",
        "uint64-limits",
        "float-ok",
        "float-not-numbers",
        "float32-overflow",
        "decimal-ok",
        "decimal-rounding-or-junk",
        "bool",
        "date",
        "string-vs-object",
        "json-anything",
    ],
)
def test_cast_strings(type_text: str, values: list, typed: list, wrong: list[bool]) -> None:
    assert _cast(values, parse_type(type_text)) == (typed, wrong)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-01T10:00:00Z", dt.datetime(2025, 3, 1, 10, tzinfo=UTC)),
        ("2025-03-01T10:00:00+02:00", dt.datetime(2025, 3, 1, 8, tzinfo=UTC)),
        ("2025-03-01T10:00:00-0530", dt.datetime(2025, 3, 1, 15, 30, tzinfo=UTC)),
        ("2025-03-01T10:00:00+02", dt.datetime(2025, 3, 1, 8, tzinfo=UTC)),
        ("2025-03-01 10:00:00", dt.datetime(2025, 3, 1, 10, tzinfo=UTC)),
        ("2025-03-01T10:00", dt.datetime(2025, 3, 1, 10, tzinfo=UTC)),
        ("2025-03-01T10:00:00.123456789z", dt.datetime(2025, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2025-03-01T00:30:00+01:00", dt.datetime(2025, 2, 28, 23, 30, tzinfo=UTC)),
        ("2025-03-01", None),
        ("1740823200", None),
        ("2025-03-01T25:00:00Z", None),
        ("yesterday", None),
    ],
    ids=[
        "zulu",
        "plus-offset",
        "minus-offset-no-colon",
        "hour-offset",
        "naive-space",
        "no-seconds",
        "nanos-truncated",
        "offset-crosses-day",
        "date-only",
        "epoch-number",
        "bad-hour",
        "words",
    ],
)
def test_cast_timestamps(text: str, expected: dt.datetime | None) -> None:
    typed, wrong = _cast([text], parse_type("timestamp"))
    assert typed == [expected]
    assert wrong == [expected is None]


def test_cast_strings_takes_expressions() -> None:
    typed, wrong = cast_strings(pl.col("v"), pl.Int32())
    out = pl.DataFrame({"v": ["1", "x", None]}).select(typed.alias("t"), wrong.alias("w"))
    assert out.to_dict(as_series=False) == {"t": [1, None, None], "w": [False, True, False]}
    assert out.schema["t"] == pl.Int32
