"""Which version of a key a CDC day shows: the highest `_log_pos` wins, null lowest, a replay
counts once; deletes hide the key, moves only without history."""

from __future__ import annotations

import polars as pl
import pytest

from etl_platform.transform.changes import (
    CHANGE_COLUMNS,
    DELETE,
    INSERT,
    MOVE,
    OP,
    POS,
    UPDATE,
    latest_per_key,
    visible,
)


def _frame(rows: list[tuple[int, str | None, str | None, str]]) -> pl.DataFrame:
    """(id, _op, _log_pos, value) rows."""
    return pl.DataFrame(
        rows, schema={"id": pl.Int64, OP: pl.String, POS: pl.String, "v": pl.String}, orient="row"
    )


def _seen(frame: pl.DataFrame, *, history: bool = True) -> list[tuple]:
    out = visible(latest_per_key(frame, ["id"]), history=history)
    return sorted(out.select("id", "v").iter_rows())


def test_the_change_columns_are_those_of_the_contract() -> None:
    assert CHANGE_COLUMNS == ("_op", "_log_pos", "_commit_ts")
    assert (INSERT, UPDATE, DELETE, MOVE) == ("insert", "update", "delete", "move")


def test_the_highest_position_wins_and_a_batch_row_loses_to_any_change() -> None:
    frame = _frame(
        [
            (1, None, None, "batch"),
            (1, UPDATE, "0000000001-000000000200-000000", "second"),
            (1, UPDATE, "0000000001-000000000100-000000", "first"),
            (2, None, None, "untouched"),
        ]
    )
    assert _seen(frame) == [(1, "second"), (2, "untouched")]


def test_positions_order_across_binlog_files_and_rows_of_a_transaction() -> None:
    frame = _frame(
        [
            (1, UPDATE, "0000000002-000000000004-000000", "next file"),
            (1, UPDATE, "0000000001-000000999999-000000", "old file"),
            (2, UPDATE, "0000000001-000000000100-000001", "second row"),
            (2, UPDATE, "0000000001-000000000100-000000", "first row"),
        ]
    )
    assert _seen(frame) == [(1, "next file"), (2, "second row")]


def test_a_replayed_change_is_kept_once() -> None:
    pos = "0000000001-000000000100-000000"
    frame = _frame([(1, INSERT, pos, "a"), (1, INSERT, pos, "a"), (2, INSERT, pos, "b")])
    latest = latest_per_key(frame, ["id"])
    assert latest.height == 2
    assert sorted(latest.select("id", "v").iter_rows()) == [(1, "a"), (2, "b")]


def test_batch_rows_of_a_key_without_changes_are_all_kept_in_order() -> None:
    frame = _frame([(1, None, None, "x"), (2, None, None, "y"), (1, None, None, "z")])
    assert latest_per_key(frame, ["id"])["v"].to_list() == ["x", "y", "z"]


def test_a_frame_without_positions_is_returned_as_it_is() -> None:
    frame = pl.DataFrame({"id": [1, 1], "v": ["a", "b"]})
    assert latest_per_key(frame, ["id"]).equals(frame)
    assert visible(frame, history=False).equals(frame)


def test_a_winning_delete_removes_the_key() -> None:
    frame = _frame([(1, None, None, "batch"), (1, DELETE, "0000000001-000000000100-000000", "x")])
    assert _seen(frame) == [] and _seen(frame, history=False) == []


def test_delete_then_reinsert_shows_the_new_row() -> None:
    frame = _frame(
        [
            (1, None, None, "batch"),
            (1, DELETE, "0000000001-000000000100-000000", "batch"),
            (1, INSERT, "0000000001-000000000200-000000", "again"),
        ]
    )
    assert _seen(frame) == [(1, "again")]


@pytest.mark.parametrize(
    ("history", "old_day", "new_day"),
    [(True, [(1, "v1")], [(1, "v2")]), (False, [], [(1, "v2")])],
    ids=["history", "latest-day-only"],
)
def test_a_move_keeps_the_old_days_version_only_with_history(
    history: bool, old_day: list, new_day: list
) -> None:
    pos = "0000000001-000000000100-000000"
    day1 = _frame([(1, None, None, "v1"), (1, MOVE, pos, "v1")])
    day2 = _frame([(1, UPDATE, pos, "v2")])
    assert _seen(day1, history=history) == old_day
    assert _seen(day2, history=history) == new_day


@pytest.mark.parametrize("history", [True, False], ids=["history", "latest-day-only"])
def test_move_then_move_back(history: bool) -> None:
    """D1 -> D2 -> D1: D1 shows the row again; D2 keeps what stood there only with history."""
    away, back = "0000000001-000000000100-000000", "0000000001-000000000200-000000"
    day1 = _frame([(1, None, None, "v1"), (1, MOVE, away, "v1"), (1, UPDATE, back, "v3")])
    day2 = _frame([(1, UPDATE, away, "v2"), (1, MOVE, back, "v2")])
    assert _seen(day1, history=history) == [(1, "v3")]
    assert _seen(day2, history=history) == ([(1, "v2")] if history else [])


def test_a_null_op_is_a_batch_row() -> None:
    frame = _frame([(1, None, None, "a"), (2, None, "0000000001-000000000100-000000", "b")])
    assert _seen(frame, history=False) == [(1, "a"), (2, "b")]


def test_compound_keys() -> None:
    frame = pl.DataFrame(
        {
            "a": [1, 1, 1],
            "b": ["x", "y", "x"],
            OP: [UPDATE, UPDATE, DELETE],
            POS: ["p1", "p1", "p2"],
        }
    )
    out = visible(latest_per_key(frame, ["a", "b"]), history=True)
    assert out.select("a", "b").rows() == [(1, "y")]
