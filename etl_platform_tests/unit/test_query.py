import dataclasses
import datetime as dt

import pytest

from etl_platform.extract.query import (
    build_window_query,
    cursor_bounds,
    literal_page_sql,
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


def test_a_page_forces_the_primary_order_and_renders_only_integers() -> None:
    bounds = ("2024-03-10", "2024-03-11")
    first = literal_page_sql(
        "orders", ["`id`"], "updated_at", bounds, key="id", after=None, limit=5
    )
    assert first == (
        "SELECT `id` FROM `orders` FORCE INDEX (PRIMARY) "
        "WHERE `updated_at` >= '2024-03-10' AND `updated_at` < '2024-03-11' "
        "ORDER BY `id` LIMIT 5"
    )
    big = 2**64 - 1  # BIGINT UNSIGNED keys above 2^63 are plain integers too
    later = literal_page_sql("orders", ["`id`"], "updated_at", bounds, key="id", after=big, limit=5)
    assert later.endswith(f"AND `id` > {big} ORDER BY `id` LIMIT 5")
    for after, limit in [("1 OR 1=1", 5), (1.5, 5), (True, 5), (1, "5"), (None, None)]:
        with pytest.raises(ValueError, match="not an integer"):
            literal_page_sql("t", ["`id`"], "c", bounds, key="id", after=after, limit=limit)
    with pytest.raises(IdentifierError):
        literal_page_sql("t", ["`id`"], "c", bounds, key="id`; DROP", after=1, limit=5)


def _plan(key_type: str, *, nullable: bool = False, primary_index=("id",), key=("id",)):
    from etl_platform.extract.introspect import TablePlan

    columns = [
        ColumnInfo("id", key_type, key_type, nullable=nullable),
        ColumnInfo("updated_at", "datetime", "datetime(6)", datetime_precision=6),
    ]
    return TablePlan(
        table="t",
        plans=tuple(plan_column(c, table="t") for c in columns),
        cursor="updated_at",
        cursor_index="idx",
        primary_key=tuple(key),
        primary_index=tuple(primary_index),
    )


@pytest.mark.parametrize(
    ("plan", "access", "paged"),
    [
        (_plan("bigint"), "ALL", True),
        (_plan("int"), "ALL", True),
        (_plan("bigint"), "range", False),  # the cursor's index serves it: no key pages
        (_plan("bigint"), None, False),  # not explained
        (_plan("bigint", nullable=True), "ALL", False),
        (_plan("bigint", primary_index=()), "ALL", False),  # no PRIMARY on the server
        (_plan("bigint", primary_index=("id", "updated_at")), "ALL", False),  # composite PRIMARY
        (_plan("bigint", key=("id", "updated_at")), "ALL", False),
        (_plan("varchar"), "ALL", False),
    ],
)
def test_connectorx_pages_only_a_table_scan_by_a_single_integer_primary_key(
    plan, access: str | None, paged: bool
) -> None:
    from etl_platform.extract.connectorx_reader import page_key

    query = build_window_query("t", plan.plans, "updated_at", ("2024-03-10", "2024-03-11"))
    query = dataclasses.replace(query, access=access)
    assert (page_key(plan, query) is not None) == paged


def test_connectorx_sessions_carry_read_timeout_as_the_servers_statement_limit() -> None:
    from etl_platform.extract.connectorx_reader import session

    def on(version: str):
        return dataclasses.replace(_plan("bigint"), server_version=version)

    utc = "SET SESSION time_zone = '+00:00'"
    mariadb = on("10.11.19-MariaDB-0+deb12u1")
    assert session(mariadb, None) == [utc]
    assert session(mariadb, 3600) == [utc, "SET SESSION max_statement_time = 3600.000"]
    assert session(mariadb, 0.0004)[1:] == ["SET SESSION max_statement_time = 0.001"]  # not 0
    # MariaDB's handshake may prefix 5.5.5- for old clients: its own version counts.
    assert session(on("5.5.5-10.11.19-MariaDB-log"), 1)[1:] == [
        "SET SESSION max_statement_time = 1.000"
    ]
    assert session(on("8.0.36"), 2.5)[1:] == ["SET SESSION max_execution_time = 2500"]
    assert session(on("5.7.8-log"), 1)[1:] == ["SET SESSION max_execution_time = 1000"]
    # Servers without the variable, or unknown: no limit rather than a failing SET.
    for version in ("5.6.51", "5.7.7-log", "10.0.38-MariaDB", "", "unknown"):
        assert session(on(version), 10) == [utc], version
    for bad in (0, -1, float("nan"), float("inf"), "1; DROP TABLE t"):
        with pytest.raises(ValueError):
            session(mariadb, bad)
