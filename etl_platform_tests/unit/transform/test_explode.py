"""explode_json_array: one row per array element, bad parents/elements as rejects."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest

from etl_platform.transform.dtypes import JSON, parse_type
from etl_platform.transform.explode import ElementField, explode_json_array
from etl_platform.transform.json_fields import REJECTS_SCHEMA

ELEMENTS = [
    ElementField("sku", ("sku",), parse_type("string")),
    ElementField("qty", ("qty",), parse_type("int32")),
    ElementField("price", ("price", "amount"), parse_type("decimal(10,2)")),
]


def _explode(*payloads: str | None, fields=ELEMENTS, path=("items",)):
    df = pl.DataFrame(
        {"_shard": "shard_01", "id": list(range(1, len(payloads) + 1)), "payload": list(payloads)}
    )
    return explode_json_array(df, "payload", path, fields, key_columns=["id"])


def test_one_row_per_element_with_parent_columns() -> None:
    first = '{"items":[{"sku":"A","qty":1,"price":{"amount":"9.90"}},{"sku":"B, [x]}","qty":"2"}]}'
    second = '{"items":[{"sku":"東京😀","qty":3,"price":{"amount":1.5},"extra":[1,{"y":"]"}]}]}'
    rows, rejects = _explode(first, second)
    assert rejects.height == 0
    assert rows.schema == pl.Schema(
        {
            "_shard": pl.String,
            "id": pl.Int64,
            "payload": pl.String,
            "_item_index": pl.Int32,
            "sku": pl.String,
            "qty": pl.Int32,
            "price": pl.Decimal(10, 2),
        }
    )
    assert rows.drop("payload").rows() == [
        ("shard_01", 1, 0, "A", 1, Decimal("9.90")),
        ("shard_01", 1, 1, "B, [x]}", 2, None),
        ("shard_01", 2, 0, "東京😀", 3, Decimal("1.50")),
    ]
    assert rows["payload"].to_list() == [first, first, second]


@pytest.mark.parametrize(
    "payload",
    ['{"items":[]}', '{"items":null}', "{}", None, "null", '{"items" : [ ] }'],
    ids=["empty-array", "json-null-array", "missing-key", "sql-null", "json-null", "spaced-empty"],
)
def test_no_rows_and_no_rejects(payload: str | None) -> None:
    rows, rejects = _explode(payload)
    assert rows.height == 0
    assert rows.columns == ["_shard", "id", "payload", "_item_index", "sku", "qty", "price"]
    assert rows.schema["_item_index"] == pl.Int32
    assert rejects.height == 0
    assert rejects.schema == REJECTS_SCHEMA


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ('{"items":{"sku":"A"}}', 'path items: "{\\"sku\\":\\"A\\"}" is not an array'),
        ('{"items":5}', 'path items: "5" is not an array'),
        (
            '{"items":"[{\\"sku\\":\\"A\\"}]"}',
            'path items: "[{\\"sku\\":\\"A\\"}]" is not an array',
        ),
        ('{"items":[', "invalid JSON"),
        ('[{"sku":"A"}]', "not a JSON object"),
    ],
    ids=["object", "number", "double-encoded-array-string", "invalid-json", "top-level-array"],
)
def test_rejected_parents(payload: str, reason: str) -> None:
    rows, rejects = _explode(payload)
    assert rows.height == 0
    assert rejects.to_dicts() == [
        {
            "_shard": "shard_01",
            "key": '{"id":1}',
            "column": "payload",
            "raw_value": payload,
            "reason": reason,
        }
    ]


def test_bad_elements_are_rejected_alone() -> None:
    payload = (
        '{"items":[{"sku":"A","qty":1}, 7, null, ["x"], "s", {"sku":"B","qty":"two"},'
        ' {"sku":{"n":1}}, {"sku":"C","price":{"amount":1.234}}, {"sku":"D"}]}'
    )
    rows, rejects = _explode(payload)
    assert rows.select("_item_index", "sku", "qty").rows() == [(0, "A", 1), (8, "D", None)]
    assert rejects.select("key", "raw_value", "reason").rows() == [
        ('{"id":1,"_item_index":1}', "7", "items[1]: not a JSON object"),
        ('{"id":1,"_item_index":2}', "null", "items[2]: not a JSON object"),
        ('{"id":1,"_item_index":3}', '["x"]', "items[3]: not a JSON object"),
        ('{"id":1,"_item_index":4}', '"s"', "items[4]: not a JSON object"),
        (
            '{"id":1,"_item_index":5}',
            '{"sku":"B","qty":"two"}',
            'items[5]: path qty: "two" is not int32',
        ),
        (
            '{"id":1,"_item_index":6}',
            '{"sku":{"n":1}}',
            'items[6]: path sku: "{\\"n\\":1}" is not string',
        ),
        (
            '{"id":1,"_item_index":7}',
            '{"sku":"C","price":{"amount":1.234}}',
            'items[7]: path price.amount: "1.234" is not decimal(10,2)',
        ),
    ]
    assert set(rejects["column"]) == {"payload"}
    assert set(rejects["_shard"]) == {"shard_01"}


def test_nested_array_path_and_broken_parent() -> None:
    fields = [ElementField("a", ("a",), pl.Int64()), ElementField("raw", ("b",), JSON)]
    rows, rejects = _explode(
        '{"order":{"items":[{"a":1,"b":"x"},{"a":2,"b":[1]}]}}',
        '{"order":5}',
        '{"order":{"items":{}}}',
        fields=fields,
        path=("order", "items"),
    )
    assert rows.select("id", "_item_index", "a", "raw").rows() == [
        (1, 0, 1, '"x"'),
        (1, 1, 2, "[1]"),
    ]
    assert rejects.select("key", "reason").rows() == [
        ('{"id":2}', 'path order.items: order is "5", not an object'),
        ('{"id":3}', 'path order.items: "{}" is not an array'),
    ]


def test_no_element_fields_still_checks_elements() -> None:
    rows, rejects = _explode('{"items":[{"x":1},2]}', fields=[])
    assert rows.select("_item_index").to_series().to_list() == [0]
    assert rejects["reason"].to_list() == ["items[1]: not a JSON object"]


@pytest.mark.parametrize(
    ("fields", "path", "message"),
    [
        ([ElementField("id", ("a",), pl.Int64())], ("items",), "clash"),
        ([ElementField("_item_index", ("a",), pl.Int64())], ("items",), "clash"),
        ([], (), "bad array path"),
    ],
    ids=["output-exists", "index-name", "empty-path"],
)
def test_refuses_bad_declarations(fields: list, path: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _explode("{}", fields=fields, path=path)
