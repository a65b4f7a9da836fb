"""read_paths / key_paths: one DuckDB parse per document, with MariaDB's idea of valid JSON."""

from __future__ import annotations

import os

import polars as pl
import pytest

from etl_platform.transform.json_read import key_paths, pointer, read_paths


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1,}',
        "[1,]",
        '{"a": NaN}',
        '{"a": -Infinity}',
        '{"a": [1, inf]}',
        '{"a": nAn}',
        "NaN",
        " -Infinity",
        '{"a":\n\t+Infinity}',
        "[\r\n nan ]",
        '{"a": [1,\n ]}',
        '\t{"a": inf}',
    ],
)
def test_what_only_a_lenient_parser_accepts_is_invalid(text: str) -> None:
    out = read_paths(pl.Series([text]), [("a",)])
    assert out.row(0, named=True) == {
        "status": "invalid",
        "type0": None,
        "text0": None,
        "json0": None,
        "broken0": False,
    }


def test_strings_that_merely_look_lenient_stay_valid() -> None:
    texts = pl.Series(['{"a": "x, }", "b": "NaN"}', '{"a": ", ]", "b": ":inf"}'])
    out = read_paths(texts, [("a",), ("b",)])
    assert out["status"].to_list() == ["object", "object"]
    assert out["text1"].to_list() == ["NaN", ":inf"]


def test_status_types_and_texts() -> None:
    texts = pl.Series(
        [
            '{"a": {"b": "x\\"y"}, "n": 39.8, "big": 123456789012345678901234, "o": {"k": [1, 2]}}',
            "null",
            " [1] ",
            None,
            '"text"',
            "{broken",
        ]
    )
    out = read_paths(texts, [("a", "b"), ("n",), ("big",), ("o",)])
    assert out["status"].to_list() == ["object", "null", "other", None, "other", "invalid"]
    first = out.row(0, named=True)
    assert (first["type0"], first["text0"], first["json0"]) == ("VARCHAR", 'x"y', '"x\\"y"')
    assert (first["type1"], first["text1"]) == ("DOUBLE", "39.8")
    assert first["text2"] == "123456789012345678901234"  # big numbers keep every digit
    assert (first["type3"], first["json3"]) == ("OBJECT", '{"k":[1,2]}')


def test_missing_null_and_broken_parents() -> None:
    texts = pl.Series(
        ['{"a": null}', '{"a": {}}', '{"a": 5}', '{"a": [{"b": 1}]}', '{"a": {"b": null}}']
    )
    out = read_paths(texts, [("a", "b")])
    assert out["text0"].to_list() == [None] * 5
    assert out["broken0"].to_list() == [False, False, True, True, False]


def test_first_of_duplicate_keys_counts() -> None:
    out = read_paths(pl.Series(['{"a": 1, "a": 2}']), [("a",)])
    assert out["text0"].to_list() == ["1"]


def test_any_key_is_reachable() -> None:
    doc = '{"a/b": 1, "c~d": 2, "it\'s \\"q\\"": 3, "0": 4, "\\\\": 5}'
    paths = [("a/b",), ("c~d",), ('it\'s "q"',), ("0",), ("\\",)]
    out = read_paths(pl.Series([doc]), paths)
    assert [out[f"text{j}"][0] for j in range(len(paths))] == ["1", "2", "3", "4", "5"]
    assert pointer(("a/b", "c~d")) == "/a~1b/c~0d"


def test_key_paths_counts_rows_and_skips_known_subtrees() -> None:
    texts = pl.Series(
        ['{"a": {"b": {"c": 1}}, "x": 1}', '{"a": {"b": 2, "b": 3}}', "[1]", "bad", None]
    )
    found = key_paths(texts, max_depth=3)
    assert dict(zip(map(tuple, found["path"].to_list()), found["rows"], strict=True)) == {
        ("a",): 2,
        ("a", "b"): 2,
        ("a", "b", "c"): 1,
        ("x",): 1,
    }
    skipped = key_paths(texts, max_depth=3, skip=[("a", "b")])
    assert [tuple(p) for p in skipped["path"].to_list()] == [("a",), ("a", "b"), ("x",)]


def test_value_kinds_and_string_texts_read_without_a_second_parse() -> None:
    """Kinds come from a value's first character (numbers excepted), string texts from
    between the quotes unless an escape needs decoding."""
    doc = (
        '{"e": "", "u": "\\u00e9t\\u00e9", "nl": "a\\nb", "q": "say \\"hi\\"", "s": "plain",'
        ' "neg": -3, "pos": 7, "huge": 18446744073709551616, "f": 1e2, "t": true, "no": false,'
        ' "arr": [1, "x"], "obj": {"k": null}, "nul": null, "u64": 18446744073709551615,'
        ' "i64": -9223372036854775808, "low": -9223372036854775809, "z": -0, "emoji": "😀"}'
    )
    keys = ["e", "u", "nl", "q", "s", "neg", "pos", "huge", "f", "t", "no", "arr", "obj", "nul"]
    keys += ["u64", "i64", "low", "z", "emoji"]
    out = read_paths(pl.Series([doc]), [(k,) for k in keys]).row(0, named=True)
    got = {k: (out[f"type{j}"], out[f"text{j}"]) for j, k in enumerate(keys)}
    assert got == {
        "e": ("VARCHAR", ""),
        "u": ("VARCHAR", "été"),
        "nl": ("VARCHAR", "a\nb"),
        "q": ("VARCHAR", 'say "hi"'),
        "s": ("VARCHAR", "plain"),
        "neg": ("BIGINT", "-3"),
        "pos": ("UBIGINT", "7"),
        "huge": ("DOUBLE", "18446744073709551616"),
        "f": ("DOUBLE", "100.0"),
        "t": ("BOOLEAN", "true"),
        "no": ("BOOLEAN", "false"),
        "arr": ("ARRAY", '[1,"x"]'),
        "obj": ("OBJECT", '{"k":null}'),
        "nul": (None, None),
        "u64": ("UBIGINT", "18446744073709551615"),
        "i64": ("BIGINT", "-9223372036854775808"),
        "low": ("DOUBLE", "-9223372036854775809"),
        "z": ("UBIGINT", "0"),  # yyjson writes -0 back as 0
        "emoji": ("VARCHAR", "😀"),
    }
    assert out["json1"] == '"été"' and out["json12"] == '{"k":null}'


def test_deeply_nested_documents_are_judged_strictly_too() -> None:
    """The strict second look reads any depth: text that only looks lenient stays valid."""
    depth = 200
    looks_lenient = '{"a": ' + "[" * depth + '"x, ], inf"' + "]" * depth + "}"
    lenient = '{"a": ' + "[" * depth + "1," + "]" * depth + "}"
    out = read_paths(pl.Series([looks_lenient, lenient]), [("a",)])
    assert out["status"].to_list() == ["object", "invalid"]


def test_duckdb_shares_the_cores_among_day_threads() -> None:
    from etl_platform.transform import json_read

    cores = os.cpu_count() or 1
    try:
        json_read.share_cores(2)
        threads = json_read._connection().sql("SELECT current_setting('threads')").fetchall()
        assert threads == [(max(1, cores // 2),)]
        json_read.share_cores(1)
        threads = json_read._connection().sql("SELECT current_setting('threads')").fetchall()
        assert threads == [(cores,)]
    finally:
        json_read.share_cores(1)


@pytest.mark.parametrize("shape", ["braced", "unbraced"])
def test_malformed_documents_among_many_fail_alone(shape: str) -> None:
    """Documents that look like whole objects are parsed once, a malformed one becoming NULL
    (DuckDB then redoes its vector row by row): every other row of the vector, and of the
    vectors around it, reads as it would on its own."""
    bad = {
        "braced": ['{"a": [1, 2}', '{"a": 1} {"a": 2}', '{"a": "x}', "{}}", '{"a": 1,, "b": 2}'],
        "unbraced": ['{"a": 1', "not json", '{"a": {"b": 1}', "{"],
    }[shape]
    texts, expected = [], []
    for i in range(5_000):  # a few of DuckDB's 2,048-row vectors
        if i % 997 == 13:
            texts.append(bad[i % len(bad)])
            expected.append(("invalid", None))
        else:
            texts.append(f'{{"a": {i}, "b": {{"c": "v{i}"}}}}')
            expected.append(("object", str(i)))
    out = read_paths(pl.Series(texts), [("a",), ("b", "c")])
    assert list(zip(out["status"], out["text0"], strict=True)) == expected
    assert out["text1"].to_list() == [
        None if s == "invalid" else f"v{i}" for i, (s, _) in enumerate(expected)
    ]


def test_documents_with_whitespace_around_them_are_read_too() -> None:
    """The single-parse shape test wants `{` first and `}` last; others take the full path."""
    texts = pl.Series([' {"a": 1}', '{"a": 2}\n', '\t{"a": 3} ', '{"a": 4,}\n'])
    out = read_paths(texts, [("a",)])
    assert out["status"].to_list() == ["object", "object", "object", "invalid"]
    assert out["text0"].to_list() == ["1", "2", "3", None]


def test_types_only_for_the_paths_that_ask() -> None:
    texts = pl.Series(['{"a": 1.5, "b": "x", "c": [1]}', '{"a": -2}'])
    out = read_paths(texts, [("a",), ("b",), ("c",)], types=[True, False, False])
    assert "type0" in out.columns and "type1" not in out.columns and "type2" not in out.columns
    assert out["type0"].to_list() == ["DOUBLE", "BIGINT"]
    # The texts and JSON texts are the same either way.
    full = read_paths(texts, [("a",), ("b",), ("c",)])
    assert out.drop("type0").equals(full.drop("type0", "type1", "type2"))
    with pytest.raises(ValueError, match="2 flags for 3 paths"):
        read_paths(texts, [("a",), ("b",), ("c",)], types=[True, False])


def test_large_documents_go_in_small_batches_and_keep_their_rows() -> None:
    """Batches hold about `_BATCH_BYTES` of text (DuckDB's scan holds far more per batch than
    its text); with many of them, on every core, each row still gets its own values."""
    from etl_platform.transform import json_read

    filler = "x" * 2_000
    texts = pl.Series(
        [f'{{"a": {i}, "pad": "{filler}", "b": {{"c": "v{i}"}}}}' for i in range(6_000)]
    )
    table = json_read._source_table(texts)
    sizes = [batch.num_rows for batch in table.to_batches()]
    per_row = texts.str.len_bytes().mean()
    assert sum(sizes) == 6_000
    assert max(sizes) == json_read._BATCH_BYTES // int(per_row)  # ~260 rows of ~2 KB
    assert len(sizes) > 20
    json_read.share_cores(1)  # DuckDB on every core
    out = read_paths(texts, [("a",), ("b", "c")])
    assert out["text0"].to_list() == [str(i) for i in range(6_000)]
    assert out["text1"].to_list() == [f"v{i}" for i in range(6_000)]


@pytest.mark.parametrize(
    "texts",
    [
        ["{}"] * 10_000,  # tiny documents: whole DuckDB vectors
        [None] * 3,  # no text at all: no division by zero
        [],
    ],
    ids=["tiny", "all-null", "empty"],
)
def test_batch_rows_are_bounded(texts: list[str | None]) -> None:
    from etl_platform.transform import json_read

    table = json_read._source_table(pl.Series(texts, dtype=pl.String))
    assert table.num_rows == len(texts)
    assert all(batch.num_rows <= 2_048 for batch in table.to_batches())
