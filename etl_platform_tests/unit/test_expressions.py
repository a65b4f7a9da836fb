"""Computed view columns: the expression language, checked in `specs.expressions` and compiled
to polars in `transform.expressions`, evaluated on small frames (and, for the arithmetic, CASE
and date functions, against DuckDB running the same SQL)."""

from __future__ import annotations

import ast
import datetime as dt
import math
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

import etl_platform.specs.expressions as spec_expressions
from etl_platform.specs.expressions import (
    ALLOWED_NODES,
    ExpressionError,
    expression_problems,
    parse_expression,
    referenced_columns,
)
from etl_platform.transform.expression_values import like_regex
from etl_platform.transform.expressions import COMPILED_NODES, compile_expression

UTC = dt.UTC


def _ts(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


FRAME = pl.DataFrame(
    {
        "a": pl.Series([1, None, -7, 4], dtype=pl.Int8),
        "b": pl.Series([0, 2, 3, None], dtype=pl.Int8),
        "price": pl.Series(
            [Decimal("1.10"), Decimal("2.25"), None, Decimal("-3.35")], dtype=pl.Decimal(12, 2)
        ),
        "qty": pl.Series([3, 0, 1, 3], dtype=pl.Int32),
        "x": pl.Series([1.5, None, -2.5, 0.0], dtype=pl.Float64),
        "t": pl.Series([True, None, False, True]),
        "f": pl.Series([False, None, None, True]),
        "s": ["Apple pie", None, "banana_split", "100%"],
        "ts": pl.Series(
            [
                _ts(2024, 5, 17, 13, 45, 30, 123456),
                None,
                _ts(2023, 12, 31, 23, 59, 59),
                _ts(2024, 2, 29),
            ],
            dtype=pl.Datetime("us", "UTC"),
        ),
        "d": pl.Series([dt.date(2024, 1, 1), None, dt.date(2023, 1, 1), dt.date(2025, 3, 9)]),
    }
)
COLUMNS = list(FRAME.columns)


def evaluate(text: str, frame: pl.DataFrame = FRAME) -> list[object]:
    """The values of `text` over `frame`, one per row."""
    expr = compile_expression(text, frame.schema)
    return frame.select(expr.alias("r")).to_series().to_list()


def dtype_of(text: str, frame: pl.DataFrame = FRAME) -> pl.DataType:
    return frame.select(compile_expression(text, frame.schema).alias("r")).schema["r"]


def refusal(text: str, known: list[str] = COLUMNS) -> ExpressionError:
    """The error compiling `text` raises."""
    with pytest.raises(ExpressionError) as caught:
        compile_expression(text, FRAME.schema)
    return caught.value


# --- reading and refusing --------------------------------------------------------------------


def test_referenced_columns_in_text_order_each_once() -> None:
    text = "c + DATE_TRUNC('month', x) + \"My Col\" * c - EXTRACT(YEAR FROM d)"
    assert referenced_columns(text) == ["c", "x", "My Col", "d"]


def test_keywords_and_functions_ignore_case_but_columns_do_not() -> None:
    assert evaluate("case when a > 0 then coalesce(a, 0) else Abs(a) END") == [1, None, 7, 4]
    problems = expression_problems("Price * 2", COLUMNS)
    assert problems == ["at position 1: unknown column 'Price' (did you mean 'price'?)"]


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("x + (SELECT 1)", 5, "subqueries are not allowed"),
        ("a IN (SELECT a FROM t)", 6, "subqueries are not allowed"),
        ("SELECT 1", 1, "SELECT is not allowed"),
        ("a; DROP TABLE x", 2, "`;` is not allowed"),
        ("a + SUM(b) OVER (PARTITION BY c)", 12, "window functions (OVER) are not allowed"),
        ("*", 1, "`*` is not allowed"),
        ("COUNT(*)", 1, "aggregate function COUNT is not allowed"),
        ("a * NOW()", 5, "function NOW is not allowed; allowed functions: ABS, CAST, COALESCE"),
        ("FOO(a)", 1, "function FOO is not allowed"),
        ("a = ?", 5, "parameters are not allowed"),
        ("a = @limit", 5, "parameters are not allowed"),
        ("a := 1", 3, "assignments (:=) are not allowed"),
        ("a AS total", 3, "aliases are not allowed"),
        ("t.a + 1", 1, "qualified column names are not allowed"),
        ("d + INTERVAL 1 DAY", 5, "`INTERVAL '1' DAY` is not allowed"),
        ("LENGTH(s, 'utf8')", 1, "this form of LENGTH is not supported"),
        ("a IS 5", 3, "IS takes NULL, TRUE or FALSE"),
        ("a IN ()", 3, "IN needs a list of values"),
        ("DATE_TRUNC('mnth', ts)", 1, "DATE_TRUNC's unit must be one of 'day', 'week'"),
        ("EXTRACT(EPOCH FROM ts)", 1, "EXTRACT takes one of YEAR, QUARTER"),
        ("s LIKE b", 3, "the LIKE pattern must be a quoted string"),
        ("s LIKE 'a' ESCAPE '!!'", 12, "ESCAPE takes one character"),
        ("ROUND(x, -1)", 1, "ROUND's digits must be a whole number from 0 to 38"),
        ("SUBSTRING(s, 0, 2)", 1, "SUBSTRING's start must be a whole number >= 1"),
        ("CAST(a AS json)", 1, "CAST to JSON is not allowed; types: int8..int64"),
        ("CAST(a AS DECIMAL)", 1, "give DECIMAL a precision and scale"),
        ("CAST(a AS DECIMAL(40,2))", 1, "decimal needs 1 <= precision <= 38"),
        ("d < DATE '2024-02-30'", 5, "'2024-02-30' is not a date (YYYY-MM-DD)"),
        ("1 +\n  (a", 8, "syntax error near 'a': Expecting )"),
        ("a AND", 3, "syntax error near 'AND': AND is missing an argument"),
        ("s = 'abc", 5, "the quote ' is not closed"),
    ],
)
def test_refused_constructs_name_their_position(text: str, position: int, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse_expression(text)
    assert caught.value.position == position
    assert str(caught.value).startswith(f"at position {position}: ")
    assert message in str(caught.value)
    assert expression_problems(text, COLUMNS)[0] == str(caught.value)


def test_empty_text_is_refused() -> None:
    assert expression_problems("  ", COLUMNS) == ["the expression is empty"]


def test_every_problem_is_listed_in_text_order() -> None:
    problems = expression_problems("totl + NOW() + FOO(qyt) + pirce", ["total", "qty", "price"])
    assert problems == [
        "at position 1: unknown column 'totl' (did you mean 'total'?)",
        "at position 8: function NOW is not allowed; allowed functions: "
        + ", ".join(spec_expressions.ALLOWED_FUNCTIONS),
        "at position 16: function FOO is not allowed; allowed functions: "
        + ", ".join(spec_expressions.ALLOWED_FUNCTIONS),
        "at position 27: unknown column 'pirce' (did you mean 'price'?)",
    ]


def test_unknown_column_without_a_close_name_has_no_hint() -> None:
    assert expression_problems("zzz + 1", ["price"]) == ["at position 1: unknown column 'zzz'"]
    assert expression_problems("price * 2", ["price"]) == []


def test_compile_refuses_a_column_missing_from_the_frame() -> None:
    error = refusal("qty * prce")
    assert str(error) == "at position 7: unknown column 'prce' (did you mean 'price'?)"


def test_every_allowed_node_type_has_a_compiler() -> None:
    assert set(COMPILED_NODES) == ALLOWED_NODES


def test_the_spec_module_imports_no_dataframe_library() -> None:
    tree = ast.parse(Path(spec_expressions.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {m.split(".")[0] for m in imported} & {"polars", "pandas", "pyarrow", "duckdb"}


# --- arithmetic ------------------------------------------------------------------------------


def test_arithmetic_propagates_null_and_does_not_wrap_small_integers() -> None:
    assert evaluate("a + b") == [1, None, -4, None]
    assert evaluate("a * 100 + a") == [101, None, -707, 404]  # int8 operands, int64 result
    assert evaluate("-a") == [-1, None, 7, -4]
    assert evaluate("a - NULL") == [None] * 4
    assert dtype_of("a * b") == pl.Int64


def test_integer_overflow_is_null_not_wrapped() -> None:
    frame = pl.DataFrame({"n": pl.Series([2**62, 3], dtype=pl.Int64)})
    assert evaluate("n * 4", frame) == [None, 12]
    assert evaluate("n + n + n", frame) == [None, 9]


def test_division_is_true_division_and_null_for_a_zero_divisor() -> None:
    assert evaluate("a / b") == [None, None, pytest.approx(-7 / 3), None]
    assert evaluate("x / 0") == [None, None, None, None]
    assert evaluate("x / 0.0") == [None, None, None, None]
    assert evaluate("price / (qty - qty)") == [None, None, None, None]
    assert dtype_of("a / b") == pl.Float64


def test_decimal_division_keeps_four_more_places() -> None:
    assert evaluate("price / qty") == [Decimal("0.366667"), None, None, Decimal("-1.116667")]
    assert dtype_of("price / 3") == pl.Decimal(38, 6)
    assert dtype_of("price / x") == pl.Float64


def test_modulo_has_the_dividends_sign_and_is_null_for_zero() -> None:
    assert evaluate("a % b") == [None, None, -1, None]
    assert evaluate("-a % 3") == [-1, None, 1, -1]
    assert evaluate("x % 2") == [1.5, None, -0.5, 0.0]
    assert evaluate("price % 1") == [Decimal("0.10"), Decimal("0.25"), None, Decimal("-0.35")]


def test_decimal_arithmetic_is_exact() -> None:
    assert evaluate("price * 1.5") == [Decimal("1.650"), Decimal("3.375"), None, Decimal("-5.025")]
    assert evaluate("0.1 + 0.2 = 0.3") == [True]
    frame = pl.DataFrame(
        {
            "price": pl.Series(
                [Decimal("0.10"), Decimal("19.99"), Decimal("0.07")] * 1000, dtype=pl.Decimal(12, 2)
            ),
            "qty": pl.Series([3, 7, 11] * 1000, dtype=pl.Int64),
        }
    )
    expr = compile_expression("price * qty", frame.schema)
    total = frame.select(expr.sum()).item()
    assert total == Decimal("141000.00")
    assert frame.select(compile_expression("price * price", frame.schema)).to_series()[
        1
    ] == Decimal("399.6001")


def test_a_product_needing_more_than_38_places_is_refused() -> None:
    frame = pl.DataFrame({"p": pl.Series([Decimal("0.5")], dtype=pl.Decimal(38, 20))})
    with pytest.raises(ExpressionError, match="at position 3: the product needs 40 decimal places"):
        compile_expression("p * p", frame.schema)


def test_literals_are_integer_decimal_float_text() -> None:
    assert dtype_of("1.50") == pl.Decimal(38, 2)
    assert dtype_of("1e3") == pl.Float64
    assert dtype_of("'it''s'") == pl.String
    assert evaluate("'it''s'") == ["it's"]
    assert evaluate("12345678901234567890123") == [Decimal("12345678901234567890123")]


# --- logic and comparisons -------------------------------------------------------------------


def test_and_or_not_follow_three_valued_logic() -> None:
    truth = pl.DataFrame(
        {
            "p": [True, True, True, False, False, False, None, None, None],
            "q": [True, False, None, True, False, None, True, False, None],
        }
    )
    assert evaluate("p AND q", truth) == [True, False, None, False, False, False, None, False, None]
    assert evaluate("p OR q", truth) == [True, True, True, True, False, None, True, None, None]
    assert evaluate("NOT p", truth) == [False] * 3 + [True] * 3 + [None] * 3


def test_comparisons_with_null_are_null_except_the_null_safe_ones() -> None:
    assert evaluate("a = b") == [False, None, False, None]
    assert evaluate("a <> b") == [True, None, True, None]
    assert evaluate("a != 1") == [False, None, True, True]
    assert evaluate("a IS NULL") == [False, True, False, False]
    assert evaluate("b IS NOT NULL") == [True, True, True, False]
    assert evaluate("a IS DISTINCT FROM b") == [True, True, True, True]
    assert evaluate("a IS NOT DISTINCT FROM NULL") == [False, True, False, False]
    assert evaluate("t IS TRUE") == [True, False, False, True]
    assert evaluate("t IS NOT FALSE") == [True, True, False, True]


def test_in_and_between() -> None:
    assert evaluate("a IN (1, 4)") == [True, None, False, True]
    assert evaluate("a IN (1, NULL)") == [True, None, None, None]
    assert evaluate("a NOT IN (1, NULL)") == [False, None, None, None]
    assert evaluate("s IN ('100%', 'x')") == [False, None, False, True]
    assert evaluate("a BETWEEN 0 AND 3") == [True, None, False, False]
    assert evaluate("a NOT BETWEEN 0 AND 3") == [False, None, True, True]


def test_like_matches_percent_and_underscore_and_nothing_else_is_special() -> None:
    assert evaluate("s LIKE 'A%'") == [True, None, False, False]
    assert evaluate("s LIKE 'a%'") == [False, None, False, False]
    assert evaluate("s ILIKE 'a%'") == [True, None, False, False]
    assert evaluate("s LIKE '%\\_%'") == [False, None, False, False]  # backslash is literal
    assert evaluate("s LIKE '%!_%' ESCAPE '!'") == [False, None, True, False]
    assert evaluate("s LIKE '100!%' ESCAPE '!'") == [False, None, False, True]
    assert evaluate("s NOT LIKE '_pple pie'") == [False, None, True, True]
    dots = pl.DataFrame({"s": ["a.c", "abc", "a(c)", "line\nbreak"]})
    assert evaluate("s LIKE 'a.c'", dots) == [True, False, False, False]
    assert evaluate("s LIKE 'a(c)'", dots) == [False, False, True, False]
    assert evaluate("s LIKE 'line%'", dots) == [False, False, False, True]
    assert like_regex("a.b%_") == "(?s)^a\\x{2E}b.*.$"


def test_comparing_dates_and_timestamps_with_literals() -> None:
    assert evaluate("ts >= '2024-01-01'") == [True, None, False, True]
    assert evaluate("ts > TIMESTAMP '2024-01-01 01:00:00+02:00'") == [True, None, True, True]
    assert evaluate("ts > TIMESTAMP '2024-01-01 01:00:00'") == [True, None, False, True]
    assert evaluate("d = '2023-01-01'") == [False, None, True, False]
    assert evaluate("d < DATE '2024-06-01'") == [True, None, True, False]
    assert evaluate("DATE(ts) > d") == [True, None, True, False]
    assert evaluate("ts > d") == [True, None, True, False]


# --- CASE and NULL functions -----------------------------------------------------------------


def test_case_falls_through_to_null_without_else() -> None:
    assert evaluate("CASE WHEN a > 0 THEN 'pos' WHEN a < 0 THEN 'neg' END") == [
        "pos",
        None,
        "neg",
        "pos",
    ]
    assert evaluate("CASE WHEN a > 1 THEN 'big' ELSE 'small' END") == [
        "small",
        "small",
        "small",
        "big",
    ]
    assert evaluate("CASE WHEN NULL THEN 1 ELSE 2 END") == [2]


def test_simple_case_and_if() -> None:
    assert evaluate("CASE a WHEN 1 THEN 'one' WHEN 4 THEN 'four' ELSE 'other' END") == [
        "one",
        "other",
        "other",
        "four",
    ]
    assert evaluate("CASE a WHEN NULL THEN 'null' END") == [None] * 4
    assert evaluate("IF(t, price, 0)") == [
        Decimal("1.10"),
        Decimal("0.00"),
        Decimal("0.00"),
        Decimal("-3.35"),
    ]


def test_branches_of_mixed_numbers_share_one_type() -> None:
    assert dtype_of("CASE WHEN t THEN a ELSE price END") == pl.Decimal(38, 2)
    assert dtype_of("CASE WHEN t THEN a ELSE x END") == pl.Float64
    assert dtype_of("COALESCE(a, qty)") == pl.Int64
    assert dtype_of("COALESCE(d, ts)") == pl.Datetime("us", "UTC")


def test_coalesce_nullif_greatest_least() -> None:
    assert evaluate("COALESCE(a, b, 0)") == [1, 2, -7, 4]
    assert evaluate("IFNULL(b, -1)") == [0, 2, 3, -1]
    assert evaluate("NULLIF(a, 1)") == [None, None, -7, 4]
    assert evaluate("GREATEST(a, b)") == [1, 2, 3, 4]
    assert evaluate("LEAST(a, b, 2)") == [0, 2, -7, 2]


# --- text ------------------------------------------------------------------------------------


def test_concat_skips_null_and_pipes_propagate_it() -> None:
    assert evaluate("CONCAT(s, '-', a)") == ["Apple pie-1", "-", "banana_split--7", "100%-4"]
    assert evaluate("s || '-' || a") == ["Apple pie-1", None, "banana_split--7", "100%-4"]
    assert evaluate("CONCAT(price, ' ', d, ' ', ts, ' ', t)")[0] == (
        "1.10 2024-01-01 2024-05-17 13:45:30.123456 true"
    )


def test_string_functions() -> None:
    assert evaluate("LOWER(s)") == ["apple pie", None, "banana_split", "100%"]
    assert evaluate("UPPER(s)") == ["APPLE PIE", None, "BANANA_SPLIT", "100%"]
    assert evaluate("LENGTH('héllo')") == [5]
    assert evaluate("SUBSTRING(s, 2, 3)") == ["ppl", None, "ana", "00%"]
    assert evaluate("SUBSTR(s, 7)") == ["pie", None, "_split", ""]
    assert evaluate("TRIM('  x  ') || '|' || LTRIM('  x ') || '|' || RTRIM(' x  ')") == ["x|x | x"]
    assert evaluate("TRIM(BOTH '-' FROM '--x--')") == ["x"]
    assert evaluate("TRIM('\tx')") == ["\tx"]  # spaces only, as SQL


# --- numbers ---------------------------------------------------------------------------------


def test_round_is_half_away_from_zero() -> None:
    assert evaluate("ROUND(price, 1)") == [Decimal("1.1"), Decimal("2.3"), None, Decimal("-3.4")]
    assert dtype_of("ROUND(price, 1)") == pl.Decimal(38, 1)
    assert evaluate("ROUND(x)") == [2.0, None, -3.0, 0.0]
    assert evaluate("ROUND(a, 2)") == [1, None, -7, 4]
    assert evaluate("ABS(a)") == [1, None, 7, 4]
    assert evaluate("ABS(price)") == [Decimal("1.10"), Decimal("2.25"), None, Decimal("3.35")]


# --- dates -----------------------------------------------------------------------------------


def test_date_of_a_utc_timestamp() -> None:
    assert evaluate("DATE(ts)") == [
        dt.date(2024, 5, 17),
        None,
        dt.date(2023, 12, 31),
        dt.date(2024, 2, 29),
    ]
    assert evaluate("DATE('2024-03-01 23:30:00+00:00')") == [dt.date(2024, 3, 1)]
    assert evaluate("DATE('2024-03-01')") == [dt.date(2024, 3, 1)]


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("second", _ts(2024, 5, 17, 13, 45, 30)),
        ("minute", _ts(2024, 5, 17, 13, 45)),
        ("hour", _ts(2024, 5, 17, 13)),
        ("day", _ts(2024, 5, 17)),
        ("week", _ts(2024, 5, 13)),
        ("month", _ts(2024, 5, 1)),
        ("quarter", _ts(2024, 4, 1)),
        ("year", _ts(2024, 1, 1)),
    ],
)
def test_date_trunc_keeps_the_timestamp_type(unit: str, expected: dt.datetime) -> None:
    assert evaluate(f"DATE_TRUNC('{unit}', ts)")[:2] == [expected, None]
    assert dtype_of(f"DATE_TRUNC('{unit}', ts)") == pl.Datetime("us", "UTC")


def test_date_trunc_of_a_date_is_a_date() -> None:
    assert evaluate("DATE_TRUNC('week', d)") == [
        dt.date(2024, 1, 1),
        None,
        dt.date(2022, 12, 26),
        dt.date(2025, 3, 3),
    ]
    assert evaluate("DATE_TRUNC('quarter', d)")[3] == dt.date(2025, 1, 1)
    assert "needs a timestamp, got a date" in str(refusal("DATE_TRUNC('hour', d)"))


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("YEAR", [2024, None, 2023, 2024]),
        ("QUARTER", [2, None, 4, 1]),
        ("MONTH", [5, None, 12, 2]),
        ("WEEK", [20, None, 52, 9]),
        ("DAY", [17, None, 31, 29]),
        ("HOUR", [13, None, 23, 0]),
        ("MINUTE", [45, None, 59, 0]),
        ("SECOND", [30, None, 59, 0]),
        ("DOW", [5, None, 0, 4]),
        ("DOY", [138, None, 365, 60]),
    ],
)
def test_extract_from_a_utc_timestamp(field: str, expected: list[int | None]) -> None:
    assert evaluate(f"EXTRACT({field} FROM ts)") == expected
    assert dtype_of(f"EXTRACT({field} FROM ts)") == pl.Int64


def test_year_month_day_functions() -> None:
    assert evaluate("YEAR(d) * 10000 + MONTH(d) * 100 + DAY(d)") == [
        20240101,
        None,
        20230101,
        20250309,
    ]


# --- CAST ------------------------------------------------------------------------------------


def test_cast_to_integers_rounds_and_nulls_what_does_not_fit() -> None:
    assert evaluate("CAST(x AS INT)") == [2, None, -3, 0]
    assert evaluate("CAST(price AS BIGINT)") == [1, 2, None, -3]
    assert evaluate("CAST(a * 100 AS int8)") == [100, None, None, None]
    assert evaluate("CAST(s AS INT)") == [None] * 4
    assert evaluate("CAST('12' AS uint16)") == [12]
    assert evaluate("CAST(t AS INT)") == [1, None, 0, 1]
    assert dtype_of("CAST(x AS TINYINT)") == pl.Int8
    assert dtype_of("CAST(x AS INT UNSIGNED)") == pl.UInt32


def test_cast_to_floats_decimals_and_bool() -> None:
    assert evaluate("CAST(price AS DOUBLE)") == [1.1, 2.25, None, -3.35]
    assert dtype_of("CAST(a AS FLOAT)") == pl.Float32
    assert evaluate("CAST(price AS DECIMAL(12,1))") == [
        Decimal("1.1"),
        Decimal("2.3"),
        None,
        Decimal("-3.4"),
    ]
    assert evaluate("CAST(x AS decimal(5,0))") == [Decimal("2"), None, Decimal("-3"), Decimal("0")]
    assert evaluate("CAST('1.25' AS NUMERIC(4,2))") == [Decimal("1.25")]
    assert evaluate("CAST(b AS BOOLEAN)") == [False, True, True, None]
    assert evaluate("CAST('true' AS bool)") == [True]


def test_cast_to_text() -> None:
    assert evaluate("CAST(price AS VARCHAR)") == ["1.10", "2.25", None, "-3.35"]
    assert evaluate("CAST(d AS TEXT)")[0] == "2024-01-01"
    assert evaluate("CAST(ts AS string)")[:3] == [
        "2024-05-17 13:45:30.123456",
        None,
        "2023-12-31 23:59:59",
    ]
    assert evaluate("CAST(t AS string)") == ["true", None, "false", "true"]


def test_cast_to_dates_and_timestamps() -> None:
    assert evaluate("CAST(ts AS DATE)")[2] == dt.date(2023, 12, 31)
    assert evaluate("CAST(d AS TIMESTAMP)")[0] == _ts(2024, 1, 1)
    assert evaluate("CAST('2024-01-02T03:04:05+01:00' AS timestamp)") == [_ts(2024, 1, 2, 2, 4, 5)]
    assert evaluate("TRY_CAST(s AS DATE)") == [None] * 4
    assert evaluate("DATE '2024-02-29'") == [dt.date(2024, 2, 29)]
    assert evaluate("TIMESTAMP '2024-02-29 10:00:00'") == [_ts(2024, 2, 29, 10)]
    assert "cannot CAST date (column 'd') to int32" in str(refusal("CAST(d AS INT)"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a::int8 + 1", [2, None, -6, 5]),
        ("MOD(a, 3)", [1, None, -1, 1]),
        ("NVL(b, 9)", [0, 2, 3, 9]),
        ("LCASE(s) = UCASE(s)", [False, None, False, True]),
        ("CAST(price AS DECIMAL(10))", [Decimal("1"), Decimal("2"), None, Decimal("-3")]),
        ("TRIM(LEADING '0' FROM '007')", ["7"]),
        ("IF(a > 1, 'big')", [None, None, None, "big"]),
        ("SUBSTRING(s FROM 2 FOR 3)", ["ppl", None, "ana", "00%"]),
        ("CAST(2.5 AS INT) + CAST(-2.5 AS INT)", [0]),
        ("GREATEST(NULL, b)", [0, 2, 3, None]),
        ("a IN (b, qty)", [False, None, False, None]),
        ("7 / 2", [3.5]),
        ("10.00 / 3", [Decimal("3.333333")]),
        ("CHAR_LENGTH(s) /* characters */ -- not bytes", [9, None, 12, 4]),
    ],
)
def test_the_documented_spellings(text: str, expected: list[object]) -> None:
    assert evaluate(text) == expected


# --- type errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("s + 1", "at position 3: + needs numbers, got string (column 's')"),
        ("LOWER(a)", "at position 1: LOWER needs text, got int8 (column 'a')"),
        ("a AND t", "at position 3: AND needs a condition (TRUE/FALSE), got int8 (column 'a')"),
        (
            "CASE WHEN t THEN 'x' ELSE 1 END",
            "at position 1: CASE mixes string, int32: CAST the values to one type",
        ),
        (
            "CASE WHEN a THEN 1 END",
            "at position 6: WHEN needs a condition (TRUE/FALSE), got int8 (column 'a')",
        ),
        ("ts = 5", "at position 4: = cannot compare timestamp (column 'ts') with int32"),
        ("ts > '2024-13-01'", "at position 6: '2024-13-01' is not a timestamp"),
        (
            "EXTRACT(HOUR FROM d)",
            "at position 1: EXTRACT(HOUR FROM ...) needs a timestamp, got a date",
        ),
        ("(a + 1) * (1 - s)", "at position 14: - needs numbers, got string (column 's')"),
    ],
)
def test_wrong_operand_types_are_refused_with_their_position(text: str, message: str) -> None:
    assert str(refusal(text)).startswith(message)


# --- DuckDB as the oracle --------------------------------------------------------------------

ORACLE_FRAME = pl.DataFrame(
    {
        "a": pl.Series([1, None, -7, 4, 9], dtype=pl.Int32),
        "b": pl.Series([2, 2, 3, None, -4], dtype=pl.Int32),
        "price": pl.Series(
            [Decimal("1.10"), Decimal("2.25"), None, Decimal("-3.35"), Decimal("0.05")],
            dtype=pl.Decimal(12, 2),
        ),
        "qty": pl.Series([3, 0, 1, 3, None], dtype=pl.Int64),
        "s": ["Apple pie", None, "banana_split", "100%", "  Mixed Case "],
        "ts": pl.Series(
            [
                _ts(2024, 5, 17, 13, 45, 30, 123456),
                None,
                _ts(2023, 12, 31, 23, 59, 59),
                _ts(2024, 2, 29),
                _ts(2021, 1, 3, 0, 0, 1),
            ],
            dtype=pl.Datetime("us", "UTC"),
        ),
    }
)


@pytest.mark.parametrize(
    "text",
    [
        "a + b * 2 - 1",
        "-a % 3",
        "a % b",
        "a / b",
        "price * qty",
        "price * 1.5 + 0.005",
        "price - a",
        "ROUND(price, 1)",
        "ABS(price) + ABS(a)",
        "a > 0 AND b > 0",
        "a > 0 OR b > 0",
        "NOT (a > b)",
        "a IN (1, 9, NULL)",
        "a NOT IN (1, 4)",
        "a BETWEEN -7 AND 4",
        "a IS DISTINCT FROM b",
        "CASE WHEN a > 2 THEN 'big' WHEN a > 0 THEN 'small' END",
        "CASE a WHEN 1 THEN price WHEN 4 THEN price * 2 ELSE 0 END",
        "CASE WHEN qty = 0 THEN NULL ELSE price * qty END",
        "COALESCE(a, b, 0) + 1",
        "NULLIF(b, 2)",
        "GREATEST(a, b)",
        "LEAST(a, b, 0)",
        "CONCAT(s, '/', a)",
        "s || '/' || a",
        "UPPER(TRIM(s))",
        "LENGTH(s)",
        "SUBSTRING(s, 2, 4)",
        "s LIKE '%a%'",
        "s ILIKE 'apple%'",
        "DATE_TRUNC('day', ts)",
        "DATE_TRUNC('week', ts)",
        "DATE_TRUNC('month', ts)",
        "DATE_TRUNC('quarter', ts)",
        "DATE_TRUNC('year', ts)",
        "DATE_TRUNC('hour', ts)",
        "EXTRACT(YEAR FROM ts) * 100 + EXTRACT(MONTH FROM ts)",
        "EXTRACT(QUARTER FROM ts)",
        "EXTRACT(DOW FROM ts)",
        "EXTRACT(DOY FROM ts)",
        "EXTRACT(WEEK FROM ts)",
        "EXTRACT(HOUR FROM ts) * 60 + EXTRACT(MINUTE FROM ts)",
        "EXTRACT(SECOND FROM ts)",
        "DATE(ts)",
        "ts >= TIMESTAMP '2024-01-01 00:00:00'",
        "CAST(price AS INT)",
        "CAST(a AS VARCHAR)",
    ],
)
def test_agrees_with_duckdb(text: str) -> None:
    ours = evaluate(text, ORACLE_FRAME)
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("frame", ORACLE_FRAME.to_arrow())
    theirs = [row[0] for row in connection.execute(f"SELECT {text} FROM frame").fetchall()]
    assert len(ours) == len(theirs)
    for mine, expected in zip(ours, theirs, strict=True):
        assert _same(mine, expected), f"{text}: {ours} != {theirs}"


def _same(mine: object, expected: object) -> bool:
    """Equal values; numbers to 1e-9 (DuckDB divides in floats), DuckDB's naive DATE(ts) results
    as dates."""
    if isinstance(mine, int | float | Decimal) and isinstance(expected, int | float | Decimal):
        return math.isclose(float(mine), float(expected), rel_tol=1e-9, abs_tol=1e-9)
    if (
        isinstance(mine, dt.date)
        and not isinstance(mine, dt.datetime)
        and isinstance(expected, dt.datetime)
    ):
        return mine == expected.date()
    return mine == expected
