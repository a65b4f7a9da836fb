"""flatten_json: one text column per key path found in the data."""

from __future__ import annotations

import hashlib
import json

import polars as pl
import pytest

from etl_platform.transform.flatten import flatten_json


def _flat(documents: list[str | None], max_depth: int = 2, **columns: list) -> tuple[dict, list]:
    df = pl.DataFrame({"id": list(range(len(documents))), "p": documents, **columns})
    out, added = flatten_json(df, "p", prefix="p_", max_depth=max_depth)
    assert out.columns == [*df.columns, *added]
    assert out.select(df.columns).equals(df)
    return out.select(added).to_dict(as_series=False), added


def test_nested_objects_to_max_depth() -> None:
    docs = [
        '{"id":1,"address":{"city":"Paris","geo":{"lat":48.8}},"tags":["a","b"],"ok":true}',
        '{"id":2.50,"address":{"city":null,"zip":"75001"},"tags":[],"ok":false}',
    ]
    values, added = _flat(docs, max_depth=2)
    assert added == ["p_address_city", "p_address_geo", "p_address_zip", "p_id", "p_ok", "p_tags"]
    assert values == {
        "p_address_city": ["Paris", None],
        "p_address_geo": ['{"lat":48.8}', None],
        "p_address_zip": [None, "75001"],
        "p_id": ["1", "2.5"],
        "p_ok": ["true", "false"],
        "p_tags": ['["a","b"]', "[]"],
    }


def test_max_depth_one_keeps_objects_as_json_text() -> None:
    values, _ = _flat(['{"a":{"b":{"c":1}},"d":"x"}'], max_depth=1)
    assert values == {"p_a": ['{"b":{"c":1}}'], "p_d": ["x"]}


def test_deeper_max_depth() -> None:
    values, _ = _flat(['{"a":{"b":{"c":{"d":1}}}}'], max_depth=3)
    assert values == {"p_a_b_c": ['{"d":1}']}


@pytest.mark.parametrize(
    ("documents", "expected"),
    [
        (['{"a":{"b":1}}', '{"a":5}'], {"p_a": ['{"b":1}', "5"]}),
        (['{"a":{"b":1}}', '{"a":"{\\"b\\":2}"}'], {"p_a": ['{"b":1}', '{"b":2}']}),
        (['{"a":{"b":1}}', '{"a":[{"b":2}]}'], {"p_a": ['{"b":1}', '[{"b":2}]']}),
        (['{"a":{"b":1}}', '{"a":null}', "{}"], {"p_a_b": ["1", None, None]}),
        (['{"a":{}}', '{"a":{}}'], {"p_a": ["{}", "{}"]}),
        (['{"a":{}}', '{"a":{"b":"x"}}'], {"p_a_b": [None, "x"]}),
        (['{"a":null}'], {"p_a": [None]}),
    ],
    ids=[
        "object-vs-number",
        "object-vs-string",
        "object-vs-array",
        "object-vs-null",
        "only-empty-objects",
        "empty-and-full-objects",
        "only-null",
    ],
)
def test_rows_that_disagree_on_structure(documents: list[str], expected: dict) -> None:
    values, _ = _flat(documents)
    assert values == expected


@pytest.mark.parametrize(
    "bad",
    [None, "null", "garbage", '{"a":', "[1,2]", '"{\\"a\\":1}"', "12", ""],
    ids=[
        "sql-null",
        "json-null",
        "garbage",
        "truncated",
        "top-level-array",
        "double-encoded",
        "number",
        "empty-string",
    ],
)
def test_unusable_rows_give_nulls_and_keep_row_count(bad: str | None) -> None:
    values, added = _flat(['{"a":"x"}', bad, '{"a":"y"}'])
    assert added == ["p_a"]
    assert values == {"p_a": ["x", None, "y"]}


def test_no_objects_adds_nothing() -> None:
    df = pl.DataFrame({"p": [None, "bad", "[1]"]})
    out, added = flatten_json(df, "p", prefix="p_", max_depth=2)
    assert added == []
    assert out.equals(df)


def test_braces_and_quotes_inside_strings_do_not_confuse_paths() -> None:
    docs = [
        '{"a":"}{\\"x\\":[","b":{"c":"]\\\\"}}',
        '{ "b" : { "c" : "ok" } , "d" : [ { "e" : 1 } ] }',
    ]
    values, _ = _flat(docs)
    assert values == {"p_a": ['}{"x":[', None], "p_b_c": ["]\\", "ok"], "p_d": [None, '[{"e":1}]']}


def _hash(path: list[str]) -> str:
    return hashlib.sha1(json.dumps(path).encode()).hexdigest()[:8]


def test_odd_keys_are_sanitised_with_a_stable_hash_suffix() -> None:
    values, added = _flat(['{"é":{"clé 1":"v"},"😀":1,"a-b":2,"":3}'])
    assert _hash([""]) == hashlib.sha1(b'[""]').hexdigest()[:8]
    expected = {
        f"p___cl__1_{_hash(['é', 'clé 1'])}": ["v"],
        f"p___{_hash(['😀'])}": ["1"],
        f"p_a_b_{_hash(['a-b'])}": ["2"],
        f"p__{_hash([''])}": ["3"],
    }
    assert added == sorted(expected)
    assert values == expected


def test_collisions_get_the_hash_suffix_deterministically() -> None:
    docs = ['{"a":{"b_c":1},"a_b":{"c":2},"X":3,"x":4,"taken":5}']
    for order in (docs, [docs[0]]):
        values, added = _flat(order, p_taken=["already here"])
        assert added == sorted(
            [
                "p_X",
                "p_a_b_c",
                f"p_a_b_c_{_hash(['a_b', 'c'])}",
                f"p_taken_{_hash(['taken'])}",
                f"p_x_{_hash(['x'])}",
            ]
        )
        assert values["p_a_b_c"] == ["1"]
        assert values[f"p_a_b_c_{_hash(['a_b', 'c'])}"] == ["2"]
        assert values["p_X"] == ["3"]
        assert values[f"p_x_{_hash(['x'])}"] == ["4"]


def test_keys_a_json_path_cannot_address_are_read_all_the_same() -> None:
    backslash, quotes = "a\\b", "q\"'"
    docs = [json.dumps({backslash: {"c": 1.5}, quotes: True}), '{"a\\\\b":null}', '{"z":1}']
    values, _ = _flat(docs)
    assert values == {
        "p_a_b_c_" + _hash([backslash, "c"]): ["1.5", None, None],
        "p_q___" + _hash([quotes]): ["true", None, None],
        "p_z": [None, None, "1"],
    }


def test_escaped_keys_are_decoded() -> None:
    values, _ = _flat(['{"caf\\u00e9":1}', '{"café":2}'])
    assert values == {f"p_caf__{_hash(['café'])}": ["1", "2"]}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prefix": "p_", "max_depth": 0}, "max_depth must be >= 1"),
        ({"prefix": "p-", "max_depth": 1}, "prefix 'p-' must be"),
    ],
    ids=["max-depth-zero", "bad-prefix"],
)
def test_refuses_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        flatten_json(pl.DataFrame({"p": ["{}"]}), "p", **kwargs)


def test_refuses_unknown_column() -> None:
    with pytest.raises(ValueError, match="JSON column `nope`"):
        flatten_json(pl.DataFrame({"p": ["{}"]}), "nope", prefix="", max_depth=1)


def test_data_keys_that_would_explode_the_schema_are_refused() -> None:
    df = pl.DataFrame({"p": [json.dumps({f"user_{i}": i for i in range(5)})]})
    with pytest.raises(ValueError, match=r"5 key paths at max_depth 1 exceed max_columns 4"):
        flatten_json(df, "p", prefix="", max_depth=1, max_columns=4)
    assert flatten_json(df, "p", prefix="", max_depth=1, max_columns=5)[1] == [
        f"user_{i}" for i in range(5)
    ]
