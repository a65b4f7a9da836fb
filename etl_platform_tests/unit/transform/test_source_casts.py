"""Source columns cast to a view's declared types: a cast that would change a value is a reject
with the column and the raw value, never a silent rounding, cut or null."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

from etl_platform.specs.views import ViewSpec
from etl_platform.transform.dtypes import cast_failure, cast_source, parse_type
from etl_platform.transform.view_shape import shape_shard

T0 = dt.datetime(2024, 3, 10, tzinfo=dt.UTC)


def _cast(values: pl.Series, type_text: str) -> tuple[list, list[bool], list[str | None]]:
    """(typed values, wrong mask, reasons where wrong) of one source column."""
    dtype = parse_type(type_text)
    typed, wrong = cast_source(pl.col("v"), values.dtype, dtype)
    frame = pl.select(values.alias("v")).with_columns(typed.alias("t"), wrong.alias("w"))
    reasons = frame.select(
        pl.when(pl.col("w")).then(cast_failure(pl.col("v"), values.dtype, dtype))
    ).to_series()
    return frame["t"].to_list(), frame["w"].to_list(), reasons.to_list()


def _decimals(*texts: str | None, dtype: pl.Decimal) -> pl.Series:
    return pl.Series([None if t is None else Decimal(t) for t in texts], dtype=dtype)


def test_decimal_scale_loss_is_a_reject_and_an_exact_value_is_kept() -> None:
    values = _decimals("1.2345", "1.2300", "-0.0050", None, dtype=pl.Decimal(14, 4))
    typed, wrong, reasons = _cast(values, "decimal(12,2)")
    assert wrong == [True, False, True, False]
    assert typed[1] == Decimal("1.23") and typed[3] is None
    assert reasons[0] == "1.2345 does not fit decimal(12,2) without rounding"
    assert reasons[2] == "-0.0050 does not fit decimal(12,2) without rounding"


def test_decimal_overflow_is_a_reject() -> None:
    values = _decimals("12345678901.5", "9999999999.99", dtype=pl.Decimal(16, 2))
    typed, wrong, reasons = _cast(values, "decimal(12,2)")
    assert wrong == [True, False]
    assert typed[1] == Decimal("9999999999.99")
    assert reasons[0] == "12345678901.50 does not fit decimal(12,2)"


@pytest.mark.parametrize(
    ("values", "type_text", "reason"),
    [
        (pl.Series([300], dtype=pl.Int64), "uint8", "300 does not fit uint8"),
        (pl.Series([-1], dtype=pl.Int32), "uint64", "-1 does not fit uint64"),
        (
            pl.Series([2**63 + 1], dtype=pl.UInt64),
            "int64",
            "9223372036854775809 does not fit int64",
        ),
        (pl.Series([123], dtype=pl.Int64), "decimal(4,2)", "123 does not fit decimal(4,2)"),
    ],
    ids=["int-to-uint8", "negative-to-unsigned", "uint64-to-int64", "int-to-decimal"],
)
def test_integer_overflow_is_a_reject(values: pl.Series, type_text: str, reason: str) -> None:
    _, wrong, reasons = _cast(values, type_text)
    assert wrong == [True] and reasons == [reason]


def test_a_float_with_a_fraction_is_not_cut_to_an_integer() -> None:
    values = pl.Series([1.5, 2.0, -0.0, float("nan"), float("inf"), 1e20, None])
    typed, wrong, reasons = _cast(values, "int32")
    assert wrong == [True, False, False, True, True, True, False]
    assert typed[1:3] == [2, 0]
    assert reasons[0] == "1.5 does not fit int32 without rounding"
    assert reasons[3:6] == [
        "NaN does not fit int32",
        "inf does not fit int32",
        "1e+20 does not fit int32",
    ]


def test_a_float_into_a_decimal_keeps_what_the_scale_holds() -> None:
    values = pl.Series([0.29, 0.1, 123.45, 1.005, 1e-300])
    typed, wrong, reasons = _cast(values, "decimal(12,2)")
    assert wrong == [False, False, False, True, True]
    assert typed[:3] == [Decimal("0.29"), Decimal("0.10"), Decimal("123.45")]
    assert reasons[3] == "1.005 does not fit decimal(12,2) without rounding"


def test_a_float_target_rounds_to_the_nearest_float_but_never_overflows() -> None:
    values = pl.Series([0.1, 1e300, float("inf"), float("nan")], dtype=pl.Float64)
    typed, wrong, reasons = _cast(values, "float32")
    assert wrong == [False, True, False, False]
    assert typed[0] == pytest.approx(0.1)
    assert reasons[1] == "1e+300 does not fit float32"


@pytest.mark.parametrize(
    ("text", "type_text", "typed", "reason"),
    [
        ("1.2399", "decimal(12,2)", None, '"1.2399" does not fit decimal(12,2) without rounding'),
        ("39.80", "decimal(12,2)", Decimal("39.80"), None),
        ("1e3", "decimal(12,2)", Decimal("1000.00"), None),
        ("123456789012", "decimal(12,2)", None, '"123456789012" does not fit decimal(12,2)'),
        ("abc", "decimal(12,2)", None, '"abc" is not a number'),
        ("", "int64", None, '"" is not a number'),
        ("12", "int64", 12, None),
        ("12.5", "int64", None, '"12.5" is not an integer'),
        ("99999999999999999999", "int64", None, '"99999999999999999999" does not fit int64'),
        ("2.5", "float64", 2.5, None),
        ("1e400", "float64", None, '"1e400" does not fit float64'),
        ("x1", "float32", None, '"x1" is not a number'),
    ],
)
def test_text_becomes_a_number_only_when_it_is_exactly_one(
    text: str, type_text: str, typed: object, reason: str | None
) -> None:
    got, wrong, reasons = _cast(pl.Series([text]), type_text)
    assert got == [typed]
    assert wrong == [reason is not None]
    assert reasons == [reason]


def test_the_same_type_or_a_widening_passes_untouched() -> None:
    ints = pl.Series([1, None, -(2**31)], dtype=pl.Int32)
    assert _cast(ints, "int64")[1] == [False, False, False]
    assert _cast(ints, "int32")[0] == ints.to_list()
    money = _decimals("1.23", dtype=pl.Decimal(12, 2))
    assert _cast(money, "decimal(14,4)") == ([Decimal("1.2300")], [False], [None])


def test_a_rejected_row_names_the_source_column_and_raw_value_and_the_rows_balance() -> None:
    raw = pl.DataFrame(
        {
            "id": pl.Series([1, 2, 3, 4], dtype=pl.UInt64),
            "amount": _decimals("1.2345", "1.23", "2", "3.999", dtype=pl.Decimal(14, 4)),
            "code": ["1.2399", "1.24", "abc", "5"],
            "updated_at": [T0] * 4,
        }
    )
    spec = ViewSpec.model_validate(
        {
            "name": "v",
            "source": "orders",
            "columns": {
                "order_id": {"from": "id", "type": "uint64"},
                "amount": {"from": "amount", "type": "decimal(12,2)"},
                "code": {"from": "code", "type": "decimal(12,2)"},
            },
            "unique_key": ["order_id"],
        }
    )
    shaped = shape_shard(
        spec,
        raw,
        shard="s0",
        primary_key=["id"],
        cursor="updated_at",
        related={},
        related_cursors={},
        run_id="r1",
    )
    assert shaped.rows.select("order_id", "amount", "code").rows() == [
        (2, Decimal("1.23"), Decimal("1.24"))
    ]
    assert shaped.rejects.rows() == [
        (
            "s0",
            '{"id":1}',
            "amount",
            "1.2345",
            "column amount: 1.2345 does not fit decimal(12,2) without rounding; "
            'column code: "1.2399" does not fit decimal(12,2) without rounding',
        ),
        ("s0", '{"id":3}', "code", "abc", 'column code: "abc" is not a number'),
        (
            "s0",
            '{"id":4}',
            "amount",
            "3.9990",
            "column amount: 3.9990 does not fit decimal(12,2) without rounding",
        ),
    ]
    assert shaped.stats.rejected == 3 and shaped.stats.balanced(exploded=False)
