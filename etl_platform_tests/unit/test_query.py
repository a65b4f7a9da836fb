import datetime as dt

import pytest

from etl_platform.extract.query import (
    build_window_query,
    cursor_bounds,
    literal_window_sql,
    render_bound,
)
from etl_platform.extract.types import ColumnInfo, plan_column
from etl_platform.identifiers import IdentifierError

UTC = dt.UTC
D1 = dt.datetime(2024, 3, 10, tzinfo=UTC)
D2 = dt.datetime(2024, 3, 11, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "tz", "expected"),
    [
        ("datetime", "UTC", ("2024-03-10 00:00:00.000000", "2024-03-11 00:00:00.000000")),
        # New York switched to DST on 2024-03-10: the day is 23 hours long in local time.
        (
            "datetime",
            "America/New_York",
            ("2024-03-09 19:00:00.000000", "2024-03-10 20:00:00.000000"),
        ),
        ("datetime", "Asia/Kolkata", ("2024-03-10 05:30:00.000000", "2024-03-11 05:30:00.000000")),
        (
            "timestamp",
            "America/New_York",
            ("2024-03-10 00:00:00.000000", "2024-03-11 00:00:00.000000"),
        ),
        ("date", "UTC", ("2024-03-10", "2024-03-11")),
    ],
    ids=["datetime-utc", "datetime-dst", "datetime-half-hour", "timestamp-ignores-tz", "date"],
)
def test_cursor_bounds(kind: str, tz: str, expected: tuple[str, str]) -> None:
    assert cursor_bounds(D1, D2, cursor_kind=kind, timezone=tz) == expected


def test_cursor_bounds_refuses_naive_and_empty_windows() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        cursor_bounds(D1.replace(tzinfo=None), D2, cursor_kind="datetime", timezone="UTC")
    with pytest.raises(ValueError, match="empty window"):
        cursor_bounds(D2, D1, cursor_kind="datetime", timezone="UTC")
    with pytest.raises(ValueError, match="DATETIME, TIMESTAMP or DATE"):
        cursor_bounds(D1, D2, cursor_kind="int", timezone="UTC")


def test_window_query_binds_values_and_quotes_names() -> None:
    plans = [
        plan_column(ColumnInfo("id", "bigint", "bigint(20) unsigned"), table="orders"),
        plan_column(ColumnInfo("flags", "bit", "bit(8)"), table="orders"),
        plan_column(ColumnInfo("updated_at", "datetime", "datetime(6)"), table="orders"),
    ]
    q = build_window_query("orders", plans, "updated_at", ("a", "b"))
    assert q.sql == (
        "SELECT `id`, CAST(`flags` AS UNSIGNED) AS `flags`, `updated_at` FROM `orders` "
        "WHERE `updated_at` >= %s AND `updated_at` < %s"
    )
    assert q.params == ("a", "b")


@pytest.mark.parametrize("bad", ["orders; DROP TABLE x", "a`b", "1abc", "", "x" * 65, "é"])
def test_window_query_refuses_names_that_are_not_plain(bad: str) -> None:
    plans = [plan_column(ColumnInfo("id", "int", "int(11)"), table="t")]
    with pytest.raises(IdentifierError, match="not a plain name"):
        build_window_query(bad, plans, "updated_at", ("a", "b"))


@pytest.mark.parametrize(
    "kind", ["datetime", "timestamp", "date"], ids=["datetime", "timestamp", "date"]
)
def test_every_bound_cursor_bounds_renders_is_accepted_as_a_literal(kind: str) -> None:
    bounds = cursor_bounds(D1, D2, cursor_kind=kind, timezone="Asia/Kolkata")
    assert [render_bound(b) for b in bounds] == [f"'{b}'" for b in bounds]


@pytest.mark.parametrize(
    "value",
    [
        "2024-03-10' OR 1=1 -- ",
        "2024-03-10 00:00:00",  # no microseconds: not what cursor_bounds renders
        "2024-03-10T00:00:00.000000",
        "2024-03-10 00:00:00.000000\n",
        "2024-13-40",
        "",
        20240310,
        None,
        dt.date(2024, 3, 10),
    ],
)
def test_a_literal_bound_refuses_anything_else(value: object) -> None:
    with pytest.raises(ValueError, match="refusing to render"):
        render_bound(value)


def test_literal_window_sql_quotes_identifiers_and_renders_the_bounds() -> None:
    sql = literal_window_sql(
        "orders", ["`id`", "CAST(`d` AS CHAR) AS `d`"], "updated_at", ("2024-03-10", "2024-03-11")
    )
    assert sql == (
        "SELECT `id`, CAST(`d` AS CHAR) AS `d` FROM `orders` "
        "WHERE `updated_at` >= '2024-03-10' AND `updated_at` < '2024-03-11'"
    )
    with pytest.raises(ValueError, match="two bounds"):
        literal_window_sql("t", ["`id`"], "c", ("2024-03-10",))
    with pytest.raises(IdentifierError):
        literal_window_sql("t", ["`id`"], "c`; DROP", ("2024-03-10", "2024-03-11"))
