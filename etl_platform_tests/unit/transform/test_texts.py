"""Texts copied out of a large source's buffers keep their values, nulls, types and order."""

import polars as pl

from etl_platform.transform.texts import copied_texts, with_copied_texts
from etl_platform_tests.conftest import text_bytes_held


def test_a_few_gathered_texts_no_longer_hold_their_source() -> None:
    source = pl.Series("t", [f"{i:0>100}" for i in range(10_000)])
    few = source.gather([3, 5000])
    assert text_bytes_held(few) >= 1_000_000  # views into the source's buffers
    copied = copied_texts(few)
    assert copied.to_list() == few.to_list() and copied.name == "t"
    assert text_bytes_held(copied) == 200


def test_nulls_and_empty_series_are_kept() -> None:
    assert copied_texts(pl.Series("t", ["a" * 20, None], dtype=pl.String)).to_list() == [
        "a" * 20,
        None,
    ]
    empty = copied_texts(pl.Series("t", [], dtype=pl.String))
    assert empty.dtype == pl.String and empty.len() == 0


def test_only_string_columns_are_copied_in_their_places() -> None:
    frame = pl.DataFrame(
        {"n": [1, 2], "s": ["x" * 30, None], "b": [True, False], "u": ["y" * 40, "z"]}
    )
    out = with_copied_texts(frame)
    assert out.columns == frame.columns and out.schema == frame.schema
    assert out.equals(frame)
    numbers = pl.DataFrame({"n": [1, 2]})
    assert with_copied_texts(numbers).equals(numbers)
    assert with_copied_texts(frame.clear()).schema == frame.schema
