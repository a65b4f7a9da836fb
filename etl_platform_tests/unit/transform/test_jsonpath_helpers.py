"""The polars JSON-path behaviour the transforms rely on (canaries for an upgrade) + helpers."""

from __future__ import annotations

import polars as pl
import pytest

from etl_platform.transform._jsonpath import json_path, quote_json, string_test_path


def _match(documents: list[str | None], path: str) -> list[str | None]:
    return pl.Series(documents, dtype=pl.String).str.json_path_match(path).to_list()


def test_root_path_is_null_exactly_for_invalid_json_and_null() -> None:
    documents = ['{"a":1}', "[1]", '"s"', "12", "null", "garbage", '{"a":1} x', "", None]
    assert _match(documents, "$") == ['{"a":1}', "[1]", "s", "12", None, None, None, None, None]


def test_values_come_back_as_text() -> None:
    documents = [
        '{"a":"x"}',
        '{"a":12}',
        '{"a":1.50}',
        '{"a":true}',
        '{"a":[1, 2]}',
        '{"a":{"b": 1}}',
        '{"a":null}',
        "{}",
        '{"a":18446744073709551615}',
    ]
    assert _match(documents, "$['a']") == [
        "x",
        "12",
        "1.5",
        "true",
        "[1,2]",
        '{"b":1}',
        None,
        None,
        "18446744073709551615",
    ]


def test_string_filter_tells_strings_from_equal_looking_arrays() -> None:
    documents = ['{"a":"[1]"}', '{"a":[1]}', '{"a":12}', '{"a":"12"}', '{"a":""}', '{"a":null}']
    assert [v is not None for v in _match(documents, string_test_path(("a",)))] == [
        True,
        False,
        False,
        True,
        True,
        False,
    ]


@pytest.mark.parametrize(
    "key",
    ["a.b", "a b", "é", "😀", "a'b", 'a"b', "a]b", "$", "*", "0", "", "a[0]"],
    ids=[
        "dot",
        "space",
        "accent",
        "emoji",
        "single-quote",
        "double-quote",
        "bracket",
        "dollar",
        "star",
        "digit",
        "empty",
        "index-like",
    ],
)
def test_json_path_reaches_odd_keys(key: str) -> None:
    import json

    document = json.dumps({key: {"z": "v"}, "other": 1}, ensure_ascii=False)
    assert _match([document], json_path((key, "z"))) == ["v"]
    assert _match([json.dumps({key: "s"})], string_test_path((key,))) != [None]


def test_json_path_refuses_backslash_keys() -> None:
    with pytest.raises(ValueError, match="cannot be addressed"):
        json_path(("a\\b",))


def test_quote_json() -> None:
    out = pl.select(quote_json(pl.lit(pl.Series(['a"b\\', "é😀\n", None])))).to_series()
    assert out.to_list() == ['"a\\"b\\\\"', '"é😀\\n"', None]
