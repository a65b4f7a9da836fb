"""extract_json_fields: typed columns from JSON text, one reject per unusable row."""

from __future__ import annotations

import re
from decimal import Decimal

import polars as pl
import pytest

from etl_platform.transform.dtypes import JSON, parse_type
from etl_platform.transform.json_fields import REJECTS_SCHEMA, JsonField, extract_json_fields
from etl_platform_tests.conftest import text_bytes_held

FIELDS = [
    JsonField("total", "payload", ("totals", "grand_total"), parse_type("decimal(12,2)")),
    JsonField("city", "payload", ("shipping", "address", "city"), parse_type("string")),
    JsonField("vip", "payload", ("customer", "vip"), parse_type("bool")),
    JsonField("meta", "payload", ("meta",), JSON),
]
NULLS = {"total": None, "city": None, "vip": None, "meta": None}


def _one(payload: str | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    df = pl.DataFrame({"_shard": ["shard_00"], "id": [5], "payload": [payload]})
    return extract_json_fields(df, FIELDS, key_columns=["id"])


@pytest.mark.parametrize(
    ("payload", "outputs"),
    [
        (
            '{"totals":{"grand_total":"39.80"},"shipping":{"address":{"city":"Paris"}},'
            '"customer":{"vip":true},"meta":{"a":[1,2]}}',
            {"total": Decimal("39.80"), "city": "Paris", "vip": True, "meta": '{"a":[1,2]}'},
        ),
        ('{"totals":{"grand_total":39.8}}', NULLS | {"total": Decimal("39.80")}),
        ('{"totals":{"grand_total":40}}', NULLS | {"total": Decimal("40.00")}),
        (None, NULLS),
        ("null", NULLS),
        ("  null ", NULLS),
        ("{}", NULLS),
        ('{"totals":null,"shipping":{"address":{}},"customer":{"vip":null}}', NULLS),
        ('{"shipping":{"address":{"city":"東京 😀"}}}', NULLS | {"city": "東京 😀"}),
        ('{"shipping":{"address":{"city":"[1]"}}}', NULLS | {"city": "[1]"}),
        ('{"shipping":{"address":{"city":12}}}', NULLS | {"city": "12"}),
        ('{"customer":{"vip":"false"}}', NULLS | {"vip": False}),
        ('{"meta":"text"}', NULLS | {"meta": '"text"'}),
        ('{"meta":"say \\"hi\\""}', NULLS | {"meta": '"say \\"hi\\""'}),
        ('{"meta":12.5}', NULLS | {"meta": "12.5"}),
        ('{"meta":[{"x":"é"}]}', NULLS | {"meta": '[{"x":"é"}]'}),
        ('{\n  "totals": {\n    "grand_total": 1.5\n  }\n}\n', NULLS | {"total": Decimal("1.50")}),
    ],
    ids=[
        "all-fields",
        "decimal-as-number",
        "decimal-from-integer",
        "sql-null",
        "json-null",
        "json-null-padded",
        "empty-object",
        "nulls-and-missing-keys",
        "unicode-emoji-value",
        "string-that-looks-like-array",
        "number-for-string",
        "bool-as-string",
        "json-string-is-quoted",
        "json-string-with-quotes",
        "json-number",
        "json-array",
        "pretty-printed",
    ],
)
def test_kept_rows(payload: str | None, outputs: dict) -> None:
    kept, rejects = _one(payload)
    assert rejects.height == 0, rejects.to_dicts()
    assert kept.drop("_shard", "id", "payload").to_dicts() == [outputs]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ('{"totals": ', "invalid JSON"),
        ("", "invalid JSON"),
        ("{'a': 1}", "invalid JSON"),
        ('{"a":1} trailing', "invalid JSON"),
        ('{"totals": {"grand_total": 1,}}', "invalid JSON"),
        ('{"totals": {"grand_total": NaN}}', "invalid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('"{\\"totals\\":1}"', "not a JSON object"),
        ("42", "not a JSON object"),
        ('{"totals":{"grand_total":"abc"}}', 'path totals.grand_total: "abc" is not decimal(12,2)'),
        (
            '{"totals":{"grand_total":39.805}}',
            'path totals.grand_total: "39.805" is not decimal(12,2)',
        ),
        (
            '{"shipping":{"address":{"city":{"name":"Paris"}}}}',
            'path shipping.address.city: "{\\"name\\":\\"Paris\\"}" is not string',
        ),
        (
            '{"shipping":{"address":{"city":["Paris"]}}}',
            'path shipping.address.city: "[\\"Paris\\"]" is not string',
        ),
        ('{"customer":{"vip":1}}', 'path customer.vip: "1" is not bool'),
        ('{"shipping":"Paris"}', 'path shipping.address.city: shipping is "Paris", not an object'),
        ('{"shipping":"{x"}', "path shipping.address.city: a parent is not an object"),
        (
            '{"shipping":{"address":[1]}}',
            'path shipping.address.city: shipping.address is "[1]", not an object',
        ),
        (
            '{"totals":{"grand_total":"x"},"customer":{"vip":"yes"}}',
            'path totals.grand_total: "x" is not decimal(12,2); '
            'path customer.vip: "yes" is not bool',
        ),
    ],
    ids=[
        "truncated",
        "empty-string",
        "single-quotes",
        "trailing-garbage",
        "trailing-comma",
        "nan",
        "top-level-array",
        "double-encoded-string",
        "top-level-number",
        "decimal-junk",
        "decimal-rounding",
        "object-where-scalar-expected",
        "array-where-scalar-expected",
        "bool-as-number",
        "parent-is-scalar",
        "parent-is-a-string-like-an-object",
        "parent-is-array",
        "all-problems-listed",
    ],
)
def test_rejected_rows(payload: str, reason: str) -> None:
    kept, rejects = _one(payload)
    assert kept.height == 0
    assert rejects.to_dicts() == [
        {
            "_shard": "shard_00",
            "key": '{"id":5}',
            "column": "payload",
            "raw_value": payload,
            "reason": reason,
        }
    ]


def test_output_schema_order_and_rejects_schema() -> None:
    df = pl.DataFrame({"id": [1, 2, 3], "payload": ['{"meta":1}', "bad", None]})
    kept, rejects = extract_json_fields(df, FIELDS, key_columns=["id"])
    assert kept.schema == pl.Schema(
        {
            "id": pl.Int64,
            "payload": pl.String,
            "total": pl.Decimal(12, 2),
            "city": pl.String,
            "vip": pl.Boolean,
            "meta": pl.String,
        }
    )
    assert kept["id"].to_list() == [1, 3]
    assert rejects.schema == REJECTS_SCHEMA
    assert rejects.to_dicts() == [
        {
            "_shard": None,
            "key": '{"id":2}',
            "column": "payload",
            "raw_value": "bad",
            "reason": "invalid JSON",
        }
    ]


def test_rejects_schema_when_nothing_is_rejected_or_no_fields() -> None:
    df = pl.DataFrame({"id": [1], "payload": ["{}"]})
    assert extract_json_fields(df, FIELDS, key_columns=["id"])[1].schema == REJECTS_SCHEMA
    kept, rejects = extract_json_fields(df, [], key_columns=["id"])
    assert kept.equals(df)
    assert rejects.schema == REJECTS_SCHEMA
    assert rejects.height == 0


def test_two_json_columns_name_the_first_problem_and_compound_keys() -> None:
    df = pl.DataFrame(
        {
            "_shard": ["s1"],
            "id": [7],
            "line": ["é"],
            "payload": ['{"a":"x"}'],
            "extra": ["[not json"],
        }
    )
    fields = [
        JsonField("a", "payload", ("a",), pl.Int64()),
        JsonField("b", "extra", ("b",), pl.String()),
    ]
    kept, rejects = extract_json_fields(df, fields, key_columns=["id", "line"])
    assert kept.height == 0
    assert rejects.to_dicts() == [
        {
            "_shard": "s1",
            "key": '{"id":7,"line":"é"}',
            "column": "payload",
            "raw_value": '{"a":"x"}',
            "reason": 'path a: "x" is not int64; invalid JSON',
        }
    ]


def test_unicode_keys_and_big_integers() -> None:
    df = pl.DataFrame(
        {"id": [1], "payload": ['{"😀":{"clé":18446744073709551615},"n":-9223372036854775808}']}
    )
    fields = [
        JsonField("big", "payload", ("😀", "clé"), pl.UInt64()),
        JsonField("small", "payload", ("n",), pl.Int64()),
    ]
    kept, rejects = extract_json_fields(df, fields, key_columns=["id"])
    assert rejects.height == 0
    assert kept.select("big", "small").row(0) == (18446744073709551615, -9223372036854775808)


def test_long_values_are_cut_in_reasons() -> None:
    payload = '{"customer":{"vip":"' + "x" * 200 + '"}}'
    _, rejects = _one(payload)
    assert rejects["reason"].item() == 'path customer.vip: "' + "x" * 80 + '..." is not bool'


@pytest.mark.parametrize(
    ("fields", "key_columns", "message"),
    [
        ([JsonField("id", "payload", ("a",), pl.Int64())], ["id"], "already exist"),
        ([JsonField("x", "payload", ("a",), pl.Int64())] * 2, ["id"], "declared twice"),
        ([JsonField("x", "nope", ("a",), pl.Int64())], ["id"], "JSON column(s) ['nope']"),
        ([], ["missing"], "key column(s) ['missing']"),
    ],
    ids=["output-exists", "output-twice", "unknown-json-column", "unknown-key-column"],
)
def test_refuses_bad_declarations(fields: list, key_columns: list[str], message: str) -> None:
    df = pl.DataFrame({"id": [1], "payload": ["{}"]})
    with pytest.raises(ValueError, match=re.escape(message)):
        extract_json_fields(df, fields, key_columns=key_columns)


@pytest.mark.parametrize(
    ("path", "message"),
    [((), "JSON path is empty"), (("a\\b",), "cannot address")],
    ids=["empty-path", "backslash-key"],
)
def test_json_field_refuses_bad_paths(path: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        JsonField("x", "payload", path, pl.Int64())


def test_json_column_must_hold_text() -> None:
    df = pl.DataFrame({"id": [1], "payload": [1]})
    with pytest.raises(ValueError, match="JSON column `payload` must hold text"):
        extract_json_fields(df, FIELDS, key_columns=["id"])


def test_rejects_hold_their_own_texts_not_the_slices() -> None:
    """A day keeps its rejects until it is written: a rejected row must not keep its slice's
    JSON column alive (2% of rows rejected kept all of the day's JSON text)."""
    n = 5_000
    note = pl.col("id").cast(pl.String).str.pad_start(900, "x")
    df = pl.DataFrame({"id": range(n)}).with_columns(
        payload=pl.when(pl.col("id") % 50 == 0)
        .then(pl.concat_str(pl.lit('{"note": "'), note))  # cut short: invalid JSON
        .otherwise(pl.concat_str(pl.lit('{"note": "'), note, pl.lit('"}')))
    )
    fields = [JsonField("note", "payload", ("note",), parse_type("string"))]
    _, rejects = extract_json_fields(df, fields, key_columns=["id"])
    assert rejects.schema == REJECTS_SCHEMA
    assert rejects.height == n // 50
    assert rejects["_shard"].null_count() == rejects.height  # no `_shard` column: nulls kept
    raw = rejects["raw_value"]
    assert raw.str.len_bytes().min() > 900  # too long to be stored inside the views
    assert raw.to_list() == df.filter(pl.col("id") % 50 == 0)["payload"].to_list()
    assert text_bytes_held(raw) <= raw.str.len_bytes().sum()
    assert text_bytes_held(df["payload"]) > 4_000_000  # the source did share big buffers
