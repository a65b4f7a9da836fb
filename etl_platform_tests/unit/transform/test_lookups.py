"""latest_per_key and apply_lookup: denormalising related rows without multiplying rows."""

from __future__ import annotations

import polars as pl
import pytest

from etl_platform.transform.lookups import apply_lookup, latest_per_key

BIG = 2**63 + 11  # above Int64's range: only UInt64 holds it


def test_latest_per_key_drops_null_keys_and_breaks_ties_by_values() -> None:
    df = pl.DataFrame(
        {"id": [1, 1, 2, 2, None], "ts": [1, 2, 5, 5, 9], "email": ["old", "new", "a", "b", "x"]}
    )
    for seed in range(3):
        shuffled = df.sample(fraction=1.0, shuffle=True, seed=seed)
        assert latest_per_key(shuffled, key=["id"], cursor="ts").rows() == [
            (1, 2, "new"),
            (2, 5, "b"),
        ]


def test_left_join_keeps_rows_order_and_counts_orphans() -> None:
    orders = pl.DataFrame({"order": [10, 11, 12, 13, 14], "customer_id": [2, 1, None, 9, 2]})
    customers = pl.DataFrame(
        {
            "id": [1, 2, 2],
            "email": ["a@x", "b-old@x", "b@x"],
            "tier": ["gold", "x", "silver"],
            "updated_at": [1, 1, 2],
        }
    )
    out, orphans = apply_lookup(
        orders,
        customers,
        on={"customer_id": "id"},
        columns={"email": "customer_email", "tier": "customer_tier"},
        related_cursor="updated_at",
    )
    assert out.columns == ["order", "customer_id", "customer_email", "customer_tier"]
    assert out.rows() == [
        (10, 2, "b@x", "silver"),
        (11, 1, "a@x", "gold"),
        (12, None, None, None),
        (13, 9, None, None),
        (14, 2, "b@x", "silver"),
    ]
    assert orphans == 1


@pytest.mark.parametrize(
    ("left", "right", "found"),
    [
        (pl.UInt64, pl.UInt64, ["big", "small", None]),
        (pl.UInt64, pl.Int64, [None, "small", None]),
        (pl.Int64, pl.UInt64, [None, "small", None]),
        (pl.Int32, pl.UInt64, [None, "small", None]),
        (pl.UInt32, pl.Int16, [None, "small", None]),
    ],
    ids=[
        "u64-u64-above-2^63",
        "u64-view-i64-related",
        "i64-view-u64-related",
        "i32-view-u64-related",
        "u32-view-i16-related",
    ],
)
def test_integer_keys_of_other_width_or_sign_match_by_value(left, right, found) -> None:
    view_keys = [BIG, 7, 8] if left == pl.UInt64 else [None, 7, 8]
    related_keys = [BIG, 7] if right == pl.UInt64 else [None, 7]
    view = pl.DataFrame({"k": pl.Series(view_keys, dtype=left)})
    related = pl.DataFrame(
        {"id": pl.Series(related_keys, dtype=right), "name": ["big", "small"], "ts": [1, 1]}
    )
    out, orphans = apply_lookup(
        view, related, on={"k": "id"}, columns={"name": "n"}, related_cursor="ts"
    )
    assert out.schema["k"] == left
    assert out["n"].to_list() == found
    assert orphans == sum(
        1 for k, f in zip(view_keys, found, strict=True) if k is not None and f is None
    )


def test_u64_above_2_63_joins_to_itself_among_many() -> None:
    keys = [BIG, BIG + 1, 2**64 - 1, 0, 1]
    view = pl.DataFrame({"k": pl.Series(keys[::-1], dtype=pl.UInt64)})
    related = pl.DataFrame(
        {"id": pl.Series(keys, dtype=pl.UInt64), "v": ["a", "b", "c", "d", "e"], "ts": [0] * 5}
    )
    out, orphans = apply_lookup(
        view, related, on={"k": "id"}, columns={"v": "v"}, related_cursor="ts"
    )
    assert out.rows() == [(1, "e"), (0, "d"), (2**64 - 1, "c"), (BIG + 1, "b"), (BIG, "a")]
    assert orphans == 0


def test_compound_join_keys_partial_null_is_not_an_orphan() -> None:
    view = pl.DataFrame({"a": [1, 1, None, 2], "b": ["x", "y", "x", None]})
    related = pl.DataFrame({"ra": [1], "rb": ["x"], "val": [3.5], "ts": [0]})
    out, orphans = apply_lookup(
        view, related, on={"a": "ra", "b": "rb"}, columns={"val": "val"}, related_cursor="ts"
    )
    assert out["val"].to_list() == [3.5, None, None, None]
    assert orphans == 1


def test_empty_related_makes_every_keyed_row_an_orphan() -> None:
    view = pl.DataFrame({"k": [1, 2, None]})
    related = pl.DataFrame(schema={"id": pl.Int64, "name": pl.String, "ts": pl.Int64})
    out, orphans = apply_lookup(
        view, related, on={"k": "id"}, columns={"name": "n"}, related_cursor="ts"
    )
    assert out.rows() == [(1, None), (2, None), (None, None)]
    assert orphans == 2


@pytest.mark.parametrize(
    ("on", "columns", "message"),
    [
        ({"k": "id"}, {"name": "k"}, "clash"),
        ({"nope": "id"}, {"name": "n"}, "nope"),
        ({"k": "nope"}, {"name": "n"}, "nope"),
        ({"k": "name"}, {"id": "n"}, "cannot be compared"),
        ({}, {"name": "n"}, "at least one"),
    ],
    ids=["output-clash", "unknown-view-key", "unknown-related-key", "string-vs-int", "no-keys"],
)
def test_refuses_bad_lookups(on: dict, columns: dict, message: str) -> None:
    view = pl.DataFrame({"k": [1]})
    related = pl.DataFrame({"id": [1], "name": ["x"], "ts": [0]})
    with pytest.raises(ValueError, match=message):
        apply_lookup(view, related, on=on, columns=columns, related_cursor="ts")
