"""Properties that must hold for any input: nothing lost, nothing invented."""

from __future__ import annotations

import json

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl_platform.transform.dedupe import dedupe_latest
from etl_platform.transform.dtypes import JSON, parse_type
from etl_platform.transform.flatten import flatten_json
from etl_platform.transform.json_fields import JsonField, extract_json_fields

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYS = st.sampled_from(["a", "b", "c", "é", "😀", "a.b", "x y", "q\"'", "back\\slash", ""])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=12,
)
DOCUMENTS = st.one_of(
    st.dictionaries(KEYS, VALUES, max_size=5).map(lambda d: json.dumps(d, ensure_ascii=False)),
    VALUES.map(json.dumps),
    st.text(max_size=20),
    st.sampled_from(['{"a":', "{'a': 1}", "null", "", '{"a":{"b":1}} x']),
    st.none(),
)

ROWS = st.lists(
    st.tuples(
        st.sampled_from(["s0", "s1", None]),
        st.one_of(st.none(), st.integers(0, 3)),
        st.one_of(st.none(), st.integers(0, 2)),
        st.one_of(st.none(), st.sampled_from(["x", "y"])),
    ),
    max_size=30,
)


@SETTINGS
@given(rows=ROWS, seed=st.integers(0, 1000))
def test_dedupe_keeps_one_latest_input_row_per_group(rows: list[tuple], seed: int) -> None:
    df = pl.DataFrame(
        rows,
        schema={"_shard": pl.String, "id": pl.Int64, "v": pl.Int64, "x": pl.String},
        orient="row",
    )
    out, removed = dedupe_latest(df, key=["id"], cursor="v")
    keyed = df.filter(pl.col("id").is_not_null())
    out_keyed = out.filter(pl.col("id").is_not_null())

    groups = {(r[0], r[1]) for r in keyed.rows()}
    assert sorted(map(str, [(r[0], r[1]) for r in out_keyed.rows()])) == sorted(map(str, groups))
    input_rows = df.rows()
    for row in out.rows():
        assert row in input_rows
    for shard, key, cursor, _ in out_keyed.rows():
        cursors = [r[2] for r in keyed.rows() if (r[0], r[1]) == (shard, key) and r[2] is not None]
        assert cursor == (max(cursors) if cursors else None)
    assert sorted(map(str, out.filter(pl.col("id").is_null()).rows())) == sorted(
        map(str, df.filter(pl.col("id").is_null()).rows())
    )
    assert sum(removed.values()) == df.height - out.height

    shuffled = df.sample(fraction=1.0, shuffle=True, seed=seed)
    assert dedupe_latest(shuffled, key=["id"], cursor="v")[0].equals(out)


@SETTINGS
@given(documents=st.lists(DOCUMENTS, max_size=12), max_depth=st.integers(1, 3))
def test_flatten_keeps_rows_and_original_columns(documents: list, max_depth: int) -> None:
    df = pl.DataFrame(
        {"id": list(range(len(documents))), "doc": documents}, schema_overrides={"doc": pl.String}
    )
    out, added = flatten_json(df, "doc", prefix="f_", max_depth=max_depth)
    assert out.height == df.height
    assert out.select(df.columns).equals(df)
    assert out.columns == [*df.columns, *added]
    assert added == sorted(added)
    assert len({name.lower() for name in out.columns}) == out.width
    assert all(out.schema[name] == pl.String for name in added)


FIELDS = [
    JsonField("n", "doc", ("a",), parse_type("int64")),
    JsonField("d", "doc", ("b", "c"), parse_type("decimal(10,2)")),
    JsonField("s", "doc", ("é",), parse_type("string")),
    JsonField("j", "doc", ("😀",), JSON),
    JsonField("t", "doc", ("a",), parse_type("timestamp")),
]


@SETTINGS
@given(documents=st.lists(DOCUMENTS, max_size=12))
def test_extract_every_row_is_kept_or_rejected_once(documents: list) -> None:
    df = pl.DataFrame(
        {"id": list(range(len(documents))), "doc": documents}, schema_overrides={"doc": pl.String}
    )
    kept, rejects = extract_json_fields(df, FIELDS, key_columns=["id"])
    assert kept.height + rejects.height == df.height
    rejected_ids = [json.loads(k)["id"] for k in rejects["key"]]
    assert sorted(kept["id"].to_list() + rejected_ids) == df["id"].to_list()
    assert rejects["reason"].str.len_chars().min() or rejects.height == 0


EXACT_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.text(max_size=8)
)
EXACT_VALUES = st.recursive(
    EXACT_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=8,
)


def _as_text(value: object) -> str | None:
    """What flatten promises for a top-level value (floats left out: their text may differ)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@SETTINGS
@given(
    objects=st.lists(st.dictionaries(st.sampled_from(["a", "b", "c"]), EXACT_VALUES), max_size=8)
)
def test_flatten_depth_one_matches_a_python_model(objects: list[dict]) -> None:
    df = pl.DataFrame(
        {"doc": [json.dumps(o, ensure_ascii=False) for o in objects]}, schema={"doc": pl.String}
    )
    out, added = flatten_json(df, "doc", prefix="f_", max_depth=1)
    present = sorted({k for o in objects for k in o})
    assert added == [f"f_{k}" for k in present]
    for key in present:
        assert out[f"f_{key}"].to_list() == [_as_text(o.get(key)) for o in objects]
