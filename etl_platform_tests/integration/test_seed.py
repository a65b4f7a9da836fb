"""The demo seeder against the real MariaDB of the tests (conftest's `mysql_server`).

Downstream tests rely on every messy case being present on every shard, so each one is looked
for with SQL here; a re-seed must give byte-identical tables (checksums), so demo runs and
benchmarks are reproducible.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from etl_platform.demo import seed as seed_module
from etl_platform.demo.seed import SeedReport, seed_shards
from etl_platform.extract.connection import MySqlEndpoint

pytestmark = pytest.mark.integration

# One set of databases per xdist worker, so parallel runs do not drop each other's.
PREFIX = f"etl_test_seed_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_"
SHARDS = 2
ORDERS = 500
DAYS = 10
END = dt.date(2024, 2, 29)  # a leap day, for good measure
FIRST_MICROSECOND = "2024-02-20 00:00:00.000000"
LAST_MICROSECOND = "2024-02-29 23:59:59.999999"
TABLES = ("customers", "products", "orders", "order_events")

#: name -> (SQL returning one number, the least it may be) on every shard.
MESSY_CASES: dict[str, tuple[str, int]] = {
    "customer profile NULL": ("SELECT COUNT(*) FROM customers WHERE profile IS NULL", 1),
    "customer profile nested JSON": (
        "SELECT COUNT(*) FROM customers WHERE JSON_VALID(profile)"
        " AND JSON_TYPE(JSON_EXTRACT(profile, '$.marketing.email')) = 'BOOLEAN'"
        " AND JSON_EXTRACT(profile, '$.address.city') IS NOT NULL",
        1,
    ),
    "customer profile malformed": (
        "SELECT COUNT(*) FROM customers WHERE profile IS NOT NULL AND NOT JSON_VALID(profile)",
        2,
    ),
    "customer profile truncated": (
        """SELECT COUNT(*) FROM customers
           WHERE BINARY profile = '{"locale": "fr_FR", "marketing": {'""",
        1,
    ),
    "customer profile 'not json'": (
        "SELECT COUNT(*) FROM customers WHERE BINARY profile = 'not json'",
        1,
    ),
    "customer score as string": (
        "SELECT COUNT(*) FROM customers"
        " WHERE JSON_TYPE(JSON_EXTRACT(profile, '$.score')) = 'STRING'",
        1,
    ),
    "customer score as number": (
        "SELECT COUNT(*) FROM customers"
        " WHERE JSON_TYPE(JSON_EXTRACT(profile, '$.score')) IN ('DOUBLE', 'INTEGER')",
        1,
    ),
    "customer profile unicode": (
        "SELECT COUNT(*) FROM customers"
        " WHERE BINARY JSON_VALUE(profile, '$.address.city') IN ('Zürich', '東京', 'القاهرة')",
        1,
    ),
    "customer profile emoji": (
        "SELECT COUNT(*) FROM customers WHERE HEX(profile) REGEXP '^(..)*F09F'",
        1,
    ),
    "customer name with emoji": (
        "SELECT COUNT(*) FROM customers WHERE BINARY full_name = 'Zoë Ñúñez 🚀'",
        1,
    ),
    "customer name Japanese": (
        "SELECT COUNT(*) FROM customers WHERE BINARY full_name = '山田 太郎'",
        1,
    ),
    "customer name Arabic": (
        "SELECT COUNT(*) FROM customers WHERE BINARY full_name = 'محمد الأحمد'",
        1,
    ),
    "customer bio > 100 KB": ("SELECT COUNT(*) FROM customers WHERE LENGTH(bio) > 102400", 1),
    "customer legacy_signup zero date": (
        "SELECT COUNT(*) FROM customers WHERE CAST(legacy_signup AS CHAR) = '0000-00-00 00:00:00'",
        1,
    ),
    "customer legacy_signup NULL": (
        "SELECT COUNT(*) FROM customers WHERE legacy_signup IS NULL",
        1,
    ),
    "customer legacy_signup real": (
        "SELECT COUNT(*) FROM customers WHERE YEAR(legacy_signup) > 0",
        1,
    ),
    "customer inactive": ("SELECT COUNT(*) FROM customers WHERE is_active = 0", 1),
    "customer active": ("SELECT COUNT(*) FROM customers WHERE is_active = 1", 1),
    "customer id above 2**63": (
        "SELECT COUNT(*) FROM customers WHERE id > 9223372036854775807",
        1,
    ),
    "product tags empty": ("SELECT COUNT(*) FROM products WHERE tags = ''", 1),
    "product tags combined": ("SELECT COUNT(*) FROM products WHERE tags LIKE '%,%'", 1),
    "product launched NULL": ("SELECT COUNT(*) FROM products WHERE launched IS NULL", 1),
    "product launched year": ("SELECT COUNT(*) FROM products WHERE launched > 1990", 1),
    "product thumbnail 0x00": (
        "SELECT COUNT(*) FROM products WHERE LOCATE(X'00', thumbnail) > 0",
        1,
    ),
    "product thumbnail 0xFF": (
        "SELECT COUNT(*) FROM products WHERE LOCATE(X'FF', thumbnail) > 0",
        1,
    ),
    "product attributes JSON": (
        "SELECT COUNT(*) FROM products WHERE JSON_VALID(attributes)",
        1,
    ),
    "product price with cents": ("SELECT COUNT(*) FROM products WHERE price <> FLOOR(price)", 1),
    "order orphan": (
        "SELECT COUNT(*) FROM orders o"
        " WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = o.customer_id)",
        1,
    ),
    "order payload NULL": ("SELECT COUNT(*) FROM orders WHERE payload IS NULL", 1),
    "order payload malformed": (
        "SELECT COUNT(*) FROM orders WHERE payload IS NOT NULL AND NOT JSON_VALID(payload)",
        2,
    ),
    "order payload without shipping.address": (
        "SELECT COUNT(*) FROM orders WHERE JSON_VALID(payload)"
        " AND JSON_CONTAINS_PATH(payload, 'one', '$.shipping')"
        " AND NOT JSON_CONTAINS_PATH(payload, 'one', '$.shipping.address')",
        1,
    ),
    "order shipped to Zürich": (
        "SELECT COUNT(*) FROM orders"
        " WHERE BINARY JSON_VALUE(payload, '$.shipping.address.city') = 'Zürich'",
        1,
    ),
    "order grand_total as string": (
        "SELECT COUNT(*) FROM orders"
        " WHERE JSON_TYPE(JSON_EXTRACT(payload, '$.totals.grand_total')) = 'STRING'",
        1,
    ),
    "order grand_total as number": (
        "SELECT COUNT(*) FROM orders WHERE"
        " JSON_TYPE(JSON_EXTRACT(payload, '$.totals.grand_total')) IN ('DOUBLE', 'INTEGER')",
        1,
    ),
    "order 5 items": ("SELECT COUNT(*) FROM orders WHERE JSON_LENGTH(payload, '$.items') = 5", 1),
    "order notes missing": (
        "SELECT COUNT(*) FROM orders"
        " WHERE JSON_VALID(payload) AND NOT JSON_CONTAINS_PATH(payload, 'one', '$.notes')",
        1,
    ),
    "order notes unicode": (
        "SELECT COUNT(*) FROM orders"
        " WHERE HEX(JSON_VALUE(payload, '$.notes')) REGEXP '^(..)*[C-F]'",
        1,
    ),
    "order coupon null": (
        "SELECT COUNT(*) FROM orders WHERE JSON_TYPE(JSON_EXTRACT(payload, '$.coupon')) = 'NULL'",
        1,
    ),
    "order coupon string": (
        "SELECT COUNT(*) FROM orders WHERE JSON_TYPE(JSON_EXTRACT(payload, '$.coupon')) = 'STRING'",
        1,
    ),
    "order updated many times": ("SELECT COUNT(*) FROM orders WHERE version > 1", ORDERS // 20),
    "order microseconds": ("SELECT COUNT(*) FROM orders WHERE MICROSECOND(updated_at) > 0", 1),
    "order updated_at at midnight, days": (
        "SELECT COUNT(DISTINCT DATE(updated_at)) FROM orders"
        " WHERE CAST(updated_at AS CHAR) LIKE '% 00:00:00.000000'",
        2,
    ),
    "order updated_at at 23:59:59.999999, days": (
        "SELECT COUNT(DISTINCT DATE(updated_at)) FROM orders"
        " WHERE CAST(updated_at AS CHAR) LIKE '% 23:59:59.999999'",
        2,
    ),
    "orders sharing one updated_at (not on a day boundary)": (
        "SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM orders"
        " WHERE MICROSECOND(updated_at) NOT IN (0, 999999) GROUP BY updated_at) AS g",
        3,
    ),
    "order with a customer above 2**63": (
        "SELECT COUNT(*) FROM orders WHERE customer_id > 9223372036854775807",
        1,
    ),
    "event types": ("SELECT COUNT(DISTINCT event_type) FROM order_events", 6),
    "event data JSON": ("SELECT COUNT(*) FROM order_events WHERE JSON_VALID(event_data)", 1),
    "event replayed later": (
        "SELECT COUNT(*) FROM order_events a JOIN order_events b"
        " ON b.order_id = a.order_id AND b.event_type = a.event_type"
        " AND b.occurred_at = a.occurred_at AND BINARY b.event_data <=> BINARY a.event_data"
        " AND b.id > a.id AND b.updated_at > a.updated_at",
        1,
    ),
}

#: name -> SQL counting rows that break a rule; must be 0 on every shard.
VIOLATIONS: dict[str, str] = {
    "total differs from payload grand_total": (
        "SELECT COUNT(*) FROM orders WHERE JSON_VALID(payload) AND total <> CAST("
        "JSON_UNQUOTE(JSON_EXTRACT(payload, '$.totals.grand_total')) AS DECIMAL(12, 2))"
    ),
    "payload items not 1..5": (
        "SELECT COUNT(*) FROM orders"
        " WHERE JSON_VALID(payload) AND JSON_LENGTH(payload, '$.items') NOT BETWEEN 1 AND 5"
    ),
    "version > 1 not updated after creation": (
        "SELECT COUNT(*) FROM orders WHERE version > 1 AND updated_at <= created_at"
    ),
    "order updated before created": "SELECT COUNT(*) FROM orders WHERE updated_at < created_at",
    "more than 5% orphan orders": (
        "SELECT COUNT(*) > 0.05 * (SELECT COUNT(*) FROM orders) FROM orders o"
        " WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = o.customer_id)"
    ),
    "replay not updated after its original": (
        "SELECT COUNT(*) FROM order_events a JOIN order_events b"
        " ON b.order_id = a.order_id AND b.event_type = a.event_type"
        " AND b.occurred_at = a.occurred_at AND BINARY b.event_data <=> BINARY a.event_data"
        " AND b.id > a.id AND b.updated_at <= a.updated_at"
    ),
    "event before its order": (
        "SELECT COUNT(*) FROM order_events e JOIN orders o ON o.id = e.order_id"
        " WHERE e.occurred_at < o.created_at"
    ),
    "order without events": (
        "SELECT COUNT(*) FROM orders o"
        " WHERE NOT EXISTS (SELECT 1 FROM order_events e WHERE e.order_id = o.id)"
    ),
}

#: (table, column, extra WHERE) whose values must all lie inside the seeded days.
TIMESTAMP_COLUMNS = (
    ("customers", "created_at", "TRUE"),
    ("customers", "updated_at", "TRUE"),
    ("customers", "legacy_signup", "YEAR(legacy_signup) > 0"),
    ("products", "updated_at", "TRUE"),
    ("orders", "created_at", "TRUE"),
    ("orders", "updated_at", "TRUE"),
    ("order_events", "occurred_at", "TRUE"),
    ("order_events", "updated_at", "TRUE"),
)


def _drop_databases(server: MySqlEndpoint) -> None:
    connection = server.connect()
    try:
        with connection.cursor() as cursor:
            for index in range(SHARDS):
                cursor.execute(f"DROP DATABASE IF EXISTS `{PREFIX}{index:02d}`")
    finally:
        connection.close()


def _seed(server: MySqlEndpoint, processes: int = 2) -> SeedReport:
    return seed_shards(
        server,
        shards=SHARDS,
        orders_per_shard=ORDERS,
        days=DAYS,
        end=END,
        db_prefix=PREFIX,
        processes=processes,
    )


@pytest.fixture(scope="module")
def report(mysql_server: MySqlEndpoint) -> Iterator[SeedReport]:
    try:
        yield _seed(mysql_server)
    finally:
        _drop_databases(mysql_server)


@pytest.fixture(scope="module")
def connection(
    mysql_server: MySqlEndpoint, report: SeedReport
) -> Iterator[pymysql.connections.Connection]:
    connection = mysql_server.connect()
    with connection.cursor() as cursor:
        cursor.execute("SET SESSION time_zone = '+00:00'")  # TIMESTAMP columns read as UTC
    yield connection
    connection.close()


def _scalar(connection: pymysql.connections.Connection, database: str, sql: str) -> Any:
    connection.select_db(database)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
    assert row is not None
    return row[0]


def _checksums(connection: pymysql.connections.Connection, database: str) -> dict[str, int]:
    connection.select_db(database)
    with connection.cursor() as cursor:
        cursor.execute(f"CHECKSUM TABLE {', '.join(TABLES)}")
        return {name: checksum for name, checksum in cursor.fetchall()}


@pytest.fixture(params=range(SHARDS), ids=lambda index: f"shard{index:02d}")
def shard(request: pytest.FixtureRequest, report: SeedReport) -> str:
    return report.databases[request.param]


def test_report_names_the_databases(report: SeedReport) -> None:
    assert report.databases == tuple(f"{PREFIX}{i:02d}" for i in range(SHARDS))
    assert set(report.rows) == set(TABLES)
    assert report.seconds > 0


def test_row_counts_match_report(
    report: SeedReport, connection: pymysql.connections.Connection
) -> None:
    for table in TABLES:
        counted = sum(
            _scalar(connection, db, f"SELECT COUNT(*) FROM {table}") for db in report.databases
        )
        assert counted == report.rows[table], table
    assert report.rows["orders"] == SHARDS * ORDERS
    assert report.rows["customers"] == SHARDS * ORDERS // 4
    assert report.rows["products"] == SHARDS * 500
    assert 2.5 * SHARDS * ORDERS < report.rows["order_events"] < 3.5 * SHARDS * ORDERS


def test_max_unsigned_id_on_exactly_one_shard(
    report: SeedReport, connection: pymysql.connections.Connection
) -> None:
    sql = "SELECT COUNT(*) FROM customers WHERE id = 18446744073709551615"
    assert [_scalar(connection, db, sql) for db in report.databases] == [1, 0]


@pytest.mark.parametrize("case", MESSY_CASES)
def test_messy_case_present(
    case: str, shard: str, connection: pymysql.connections.Connection
) -> None:
    sql, least = MESSY_CASES[case]
    assert (_scalar(connection, shard, sql) or 0) >= least


@pytest.mark.parametrize("rule", VIOLATIONS)
def test_rule_holds(rule: str, shard: str, connection: pymysql.connections.Connection) -> None:
    assert _scalar(connection, shard, VIOLATIONS[rule]) == 0


@pytest.mark.parametrize(("table", "column", "where"), TIMESTAMP_COLUMNS)
def test_timestamps_within_days(
    table: str, column: str, where: str, shard: str, connection: pymysql.connections.Connection
) -> None:
    outside = (
        f"SELECT COUNT(*) FROM {table} WHERE {where}"
        f" AND ({column} < '{FIRST_MICROSECOND}' OR {column} > '{LAST_MICROSECOND}')"
    )
    assert _scalar(connection, shard, outside) == 0


def test_orders_reach_both_ends_of_the_range(
    shard: str, connection: pymysql.connections.Connection
) -> None:
    bounds = "SELECT CONCAT(MIN(updated_at), ' / ', MAX(updated_at)) FROM orders"
    assert _scalar(connection, shard, bounds) == f"{FIRST_MICROSECOND} / {LAST_MICROSECOND}"


def test_bad_prefix_rejected_before_connecting() -> None:
    nowhere = MySqlEndpoint(host="127.0.0.1", port=1)
    with pytest.raises(ValueError, match="identifier"):
        seed_shards(nowhere, db_prefix="shop`; DROP DATABASE mysql; -- ")
    with pytest.raises(ValueError, match="shards"):
        seed_shards(nowhere, shards=0)


def test_reseed_is_identical_with_insert_fallback(
    mysql_server: MySqlEndpoint,
    report: SeedReport,
    connection: pymysql.connections.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Same seed, same tables; also when the server refuses LOAD DATA LOCAL (INSERT path)."""
    before = {db: _checksums(connection, db) for db in report.databases}
    assert len({c for sums in before.values() for c in sums.values()}) == SHARDS * len(TABLES)
    monkeypatch.setattr(seed_module, "_local_infile_allowed", lambda cursor: False)
    again = _seed(mysql_server, processes=1)  # in this process, so the monkeypatch applies
    assert again.rows == report.rows
    assert {db: _checksums(connection, db) for db in report.databases} == before
