"""A later shard fitted to the schema an earlier one wrote must be what one concat makes."""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from etl_platform.transform.conform import conform

SCHEMA = pl.Schema({"id": pl.Int64, "city": pl.String, "n": pl.Float64})


def test_missing_columns_come_back_null_in_the_schemas_order() -> None:
    later = pl.DataFrame({"n": [1.5], "id": [7]})
    fitted = conform(later, SCHEMA)
    assert fitted is not None
    assert fitted.schema == SCHEMA
    assert fitted.rows() == [(7, None, 1.5)]


def test_an_all_null_column_takes_the_schemas_type() -> None:
    later = pl.DataFrame({"id": [1], "city": [None], "n": [None]})
    assert later.schema["city"] == pl.Null
    fitted = conform(later, SCHEMA)
    assert fitted is not None and fitted.schema == SCHEMA


def test_a_new_column_or_another_type_means_the_schema_must_widen() -> None:
    assert conform(pl.DataFrame({"id": [1], "zip": ["x"]}), SCHEMA) is None
    assert conform(pl.DataFrame({"id": [1.5]}), SCHEMA) is None
    # A column the schema has as Null must widen too: the file's type cannot hold values.
    assert conform(pl.DataFrame({"a": ["x"]}), pl.Schema({"a": pl.Null})) is None


DTYPES = {
    "int": (pl.Int64, st.integers(-5, 5)),
    "float": (pl.Float64, st.floats(-5, 5, allow_nan=False)),
    "str": (pl.String, st.text(max_size=3)),
    "null": (pl.Null, st.none()),
    "decimal": (pl.Decimal(12, 2), st.decimals(-100, 100, places=2)),
    "utc": (
        pl.Datetime("us", "UTC"),
        st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2030, 1, 1), timezones=st.just(dt.UTC)),
    ),
    "list": (pl.List(pl.Int64), st.lists(st.integers(-3, 3), max_size=2)),
}


@st.composite
def frames(draw: st.DrawFn) -> pl.DataFrame:
    names = draw(st.lists(st.sampled_from("abcd"), unique=True, max_size=4))
    height = draw(st.integers(0, 3))
    data = {}
    for name in names:
        dtype, values = DTYPES[draw(st.sampled_from(sorted(DTYPES)))]
        column = draw(st.lists(values | st.none(), min_size=height, max_size=height))
        data[name] = pl.Series(name, column, dtype=dtype)
    return pl.DataFrame(data, height=height) if data else pl.DataFrame()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=frames(), later=frames())
def test_fitted_rows_are_what_one_diagonal_concat_gives(
    first: pl.DataFrame, later: pl.DataFrame
) -> None:
    fitted = conform(later, first.schema)
    if fitted is None:
        return
    whole = pl.concat([first, later], how="diagonal_relaxed")
    assert_frame_equal(pl.concat([first, fitted], how="vertical"), whole)
