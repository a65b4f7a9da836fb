"""dedupe_latest: the latest version per (shard, key), independent of input order."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from etl_platform.transform.dedupe import dedupe_latest

T = [dt.datetime(2025, 3, 1, h, tzinfo=dt.UTC) for h in range(5)]

ROWS = pl.DataFrame(
    {
        "_shard": ["s0", "s0", "s0", "s1", "s1", "s0", "s1"],
        "id": [1, 1, 1, 1, 2, 2, 3],
        "updated_at": [T[0], T[2], T[1], T[0], T[3], T[3], T[1]],
        "status": ["new", "paid", "sent", "new", "x", "y", "z"],
    }
)


def test_latest_version_per_shard_and_key() -> None:
    out, removed = dedupe_latest(ROWS, key=["id"], cursor="updated_at")
    assert out.rows() == [
        ("s0", 1, T[2], "paid"),
        ("s0", 2, T[3], "y"),
        ("s1", 1, T[0], "new"),
        ("s1", 2, T[3], "x"),
        ("s1", 3, T[1], "z"),
    ]
    assert removed == {"s0": 2, "s1": 0}


TIES = pl.DataFrame(
    {
        "_shard": ["s0"] * 6,
        "id": [1, 1, 1, 2, 2, 2],
        "updated_at": [T[1], T[1], T[0], T[2], T[2], T[2]],
        "status": ["b", "c", "z", "x", None, "x"],
        "n": [1, 1, 9, 5, 7, 4],
        "tags": [["a"], ["a"], [], ["q"], None, ["q", "r"]],
    }
)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4], ids=[f"shuffle-{s}" for s in range(5)])
def test_ties_are_broken_by_values_whatever_the_order(seed: int) -> None:
    shuffled = TIES.sample(fraction=1.0, shuffle=True, seed=seed)
    out, removed = dedupe_latest(shuffled, key=["id"], cursor="updated_at")
    assert out.rows() == [
        ("s0", 1, T[1], "c", 1, ["a"]),
        ("s0", 2, T[2], "x", 5, ["q"]),
    ]
    assert removed == {"s0": 4}


def test_null_cursor_loses_and_all_null_cursors_still_pick_one() -> None:
    df = pl.DataFrame(
        {
            "_shard": ["s"] * 4,
            "id": [1, 1, 2, 2],
            "v": [None, 3, None, None],
            "x": ["a", "b", "c", "d"],
        }
    )
    out, removed = dedupe_latest(df, key=["id"], cursor="v")
    assert out.rows() == [("s", 1, 3, "b"), ("s", 2, None, "d")]
    assert removed == {"s": 2}


def test_rows_with_a_null_key_are_kept_after_the_others() -> None:
    df = pl.DataFrame(
        {
            "_shard": ["s", "s", "s", "s"],
            "id": [None, 1, None, 1],
            "v": [2, 1, 1, 2],
            "x": ["q", "a", "p", "b"],
        }
    )
    out, removed = dedupe_latest(df, key=["id"], cursor="v")
    assert out.rows() == [("s", 1, 2, "b"), ("s", None, 1, "p"), ("s", None, 2, "q")]
    assert removed == {"s": 1}


def test_compound_key_and_other_partition_column() -> None:
    df = pl.DataFrame(
        {"db": ["a", "a", "a"], "k1": [1, 1, 1], "k2": ["x", "x", "y"], "v": [1, 2, 1]}
    )
    out, removed = dedupe_latest(df, key=["k1", "k2"], cursor="v", partition="db")
    assert out.rows() == [("a", 1, "x", 2), ("a", 1, "y", 1)]
    assert removed == {"a": 1}


def test_empty_frame() -> None:
    out, removed = dedupe_latest(ROWS.clear(), key=["id"], cursor="updated_at")
    assert out.height == 0
    assert out.schema == ROWS.schema
    assert removed == {}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"key": ["nope"], "cursor": "updated_at"}, "nope"),
        ({"key": ["id"], "cursor": "updated_at", "partition": "shard"}, "shard"),
        ({"key": [], "cursor": "updated_at"}, "at least one"),
    ],
    ids=["unknown-key", "unknown-partition", "empty-key"],
)
def test_refuses_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dedupe_latest(ROWS, **kwargs)
