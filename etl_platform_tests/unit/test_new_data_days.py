"""The new-data sensor's pure parts: which days a moved cursor requests, and its cursor."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from etl_platform.automation.new_data import (
    MAX_DAYS_PER_TICK,
    changed_days,
    changes,
    dump_cursor,
    in_the_future,
    next_cursor,
    parse_cursor,
    run_requests,
)
from etl_platform.extract.newest_cursor import Mark, NewestCursor, column_literal, now_literal

D = dt.date
FIRST, TODAY = D(2024, 3, 1), D(2024, 3, 20)


def _at(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2024, 3, day, hour, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("oldest", "newest", "days", "dropped"),
    [
        (_at(10), _at(10, 13), [D(2024, 3, 10)], []),
        (_at(10, 23), _at(11, 0), [D(2024, 3, 10), D(2024, 3, 11)], []),
        (D(2024, 3, 10), D(2024, 3, 12), [D(2024, 3, d) for d in (10, 11, 12)], []),
        (_at(19), _at(25), [D(2024, 3, 19), D(2024, 3, 20)], []),
        (dt.datetime(2024, 2, 20, tzinfo=dt.UTC), _at(1), [FIRST], []),
        (
            _at(2),
            _at(12),
            [D(2024, 3, d) for d in range(6, 13)],
            [D(2024, 3, d) for d in range(2, 6)],
        ),
        (
            dt.datetime(2024, 3, 11, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            _at(11),
            [D(2024, 3, 10), D(2024, 3, 11)],
            [],
        ),
    ],
    ids=[
        "same-day",
        "across-midnight",
        "date-cursor",
        "future-clipped-to-today",
        "before-first-partition",
        "capped-to-the-latest-days",
        "offset-is-utc-day",
    ],
)
def test_changed_days(
    oldest: dt.datetime | dt.date,
    newest: dt.datetime | dt.date,
    days: list[dt.date],
    dropped: list[dt.date],
) -> None:
    assert changed_days(oldest, newest, first=FIRST, today=TODAY) == (days, dropped)
    assert len(days) <= MAX_DAYS_PER_TICK


def test_a_first_look_is_a_baseline_and_a_table_once_empty_requests_its_first_rows() -> None:
    seen = {
        "orders": NewestCursor("orders", _at(10), _at(9)),
        "customers": NewestCursor("customers", _at(8), _at(8)),
        "items": NewestCursor("items", None),
    }
    previous = {"customers": None, "items": Mark(_at(5))}
    found = changes(previous, seen, first=FIRST, today=TODAY)
    assert [(c.table, c.days) for c in found] == [("customers", [D(2024, 3, 8)])]
    cursor = next_cursor(previous, seen, ["orders", "customers", "items"])
    assert cursor == {"orders": Mark(_at(10)), "customers": Mark(_at(8)), "items": Mark(_at(5))}


def test_a_table_not_polled_keeps_its_value_and_a_table_gone_from_config_is_dropped() -> None:
    previous = {"orders": Mark(_at(10)), "gone": Mark(_at(3))}
    assert next_cursor(previous, {}, ["orders"]) == {"orders": Mark(_at(10))}


def test_the_cursor_reads_back_what_it_wrote() -> None:
    seen = {
        "orders": Mark(_at(10)),
        "days": Mark(D(2024, 3, 2), 4),
        "old_days": Mark(D(2024, 3, 2)),
        "empty": None,
    }
    assert parse_cursor(dump_cursor(seen)) == seen
    assert parse_cursor('{"days": "2024-03-02"}') == {"days": Mark(D(2024, 3, 2))}  # as before
    assert parse_cursor(None) is None
    assert parse_cursor("[1]") is None
    assert parse_cursor('{"orders": "2024-03-10T12:00:00"}') is None  # no offset: not ours


@pytest.mark.parametrize(
    ("kind", "value", "literal"),
    [
        ("datetime", _at(10), "2024-03-10 13:00:00.000000"),
        ("timestamp", _at(10), "2024-03-10 12:00:00.000000"),
        ("date", D(2024, 3, 10), "2024-03-10"),
    ],
    ids=["datetime-wall-clock", "timestamp-utc", "date"],
)
def test_the_last_newest_value_is_bound_as_the_column_compares_it(
    kind: str, value: dt.datetime | dt.date, literal: str
) -> None:
    assert column_literal(value, kind, "Europe/Paris") == literal


@pytest.mark.parametrize(
    ("kind", "literal"),
    [
        ("datetime", "2024-03-11 00:30:00.000000"),
        ("timestamp", "2024-03-10 23:30:00.000000"),
        ("date", "2024-03-11"),
    ],
    ids=["datetime-wall-clock", "timestamp-utc", "date-shard-day"],
)
def test_the_poll_is_bounded_by_now_as_the_column_compares_it(kind: str, literal: str) -> None:
    assert now_literal(_at(10, 23) + dt.timedelta(minutes=30), kind, "Europe/Paris") == literal


def test_a_stored_value_in_the_future_is_recognised() -> None:
    now = _at(10)
    assert in_the_future(Mark(dt.datetime(2030, 1, 1, tzinfo=dt.UTC)), now)
    assert in_the_future(Mark(D(2030, 1, 1), 3), now)
    assert not in_the_future(Mark(now + dt.timedelta(minutes=1)), now)
    assert not in_the_future(Mark(D(2024, 3, 11), 3), now)  # a zone ahead of UTC: its today


def test_a_later_row_of_a_date_cursor_day_requests_the_day_again_with_a_new_run_key() -> None:
    """A DATE cursor's newest day with more rows than last time is a change of that day, and
    its run key carries the count, so the second change of the day is a new run."""
    previous = {"days": Mark(D(2024, 3, 10), 2)}
    seen = {"days": NewestCursor("days", D(2024, 3, 10), D(2024, 3, 10), 3)}
    found = changes(previous, seen, first=FIRST, today=TODAY)
    assert [(c.table, c.days) for c in found] == [("days", [D(2024, 3, 10)])]
    (request,) = run_requests("shard_a", found, None)
    assert request.run_key == "shard_a/2024-03-10/days@2024-03-10#3"
    assert next_cursor(previous, seen, ["days"]) == {"days": Mark(D(2024, 3, 10), 3)}


def test_a_monthly_table_is_requested_by_month_apart_from_the_daily_ones() -> None:
    """Changes of a `partitions: monthly` table on two days of March are one run of the month
    (never merged with a daily table's run of the same key, 2024-03-01)."""
    previous = {"salaries": Mark(D(2024, 2, 28), 1), "orders": Mark(_at(1, 8))}
    seen = {
        "salaries": NewestCursor("salaries", D(2024, 3, 2), D(2024, 3, 1), 4),
        "orders": NewestCursor("orders", _at(1, 10), _at(1, 9)),
    }
    found = changes(previous, seen, first=FIRST, today=TODAY)
    requests = run_requests("shard_a", found, None, monthly={"salaries"})
    assert [(r.partition_key, r.run_key) for r in requests] == [
        ("2024-03-01", "shard_a/2024-03-01/orders@2024-03-01T10:00:00.000000+00:00"),
        ("2024-03-01", "shard_a/month/2024-03-01/salaries@2024-03-02#4"),
    ]
    assert [r.asset_selection for r in requests] == [
        [dg.AssetKey(["raw", "shard_a", "orders"])],
        [dg.AssetKey(["raw", "shard_a", "salaries"])],
    ]
