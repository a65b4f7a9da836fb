"""The view language end to end against MariaDB, on a small sakila-like database: a chained
lookup (rental -> inventory -> film), each hop as of the end of the rental's day, a typed
looked-up column, computed columns, `join: inner` and `nullable: false`, through extraction,
lookup state and the views, run by Dagster. MariaDB's own JOINs and expressions on the same
rows give the expectation; DuckDB over the lake gives what the platform made."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from etl_platform.definitions import build_definitions
from etl_platform.env import Environment
from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.extract.schema_snapshot import snapshot_schema
from etl_platform.runner import extract_lookup_history, run_range
from etl_platform.specs.loader import load_sources
from etl_platform.specs.source_schema import render_schema
from etl_platform.specs.view_loader import VIEW_COMPONENT_TYPE
from etl_platform_tests.conftest import TEST_MYSQL_URL, run_sql

pytestmark = pytest.mark.integration

D = dt.date
T = dt.datetime
START, FIRST, LAST = D(2024, 2, 28), D(2024, 3, 1), D(2024, 3, 4)
DAYS = [FIRST + dt.timedelta(days=i) for i in range((LAST - FIRST).days + 1)]
SEEN = T(2024, 2, 28, 10, 0)  # before every rental day: extracted with the history

_TABLES = (
    """
    CREATE TABLE film (
      film_id     SMALLINT UNSIGNED NOT NULL PRIMARY KEY,
      title       VARCHAR(128) CHARACTER SET utf8mb4 NOT NULL,
      rental_rate DECIMAL(4,2) NULL,
      last_update DATETIME     NOT NULL,
      KEY idx_film_last_update (last_update)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
    """,
    """
    CREATE TABLE inventory (
      inventory_id MEDIUMINT UNSIGNED NOT NULL PRIMARY KEY,
      film_id      SMALLINT UNSIGNED  NOT NULL,
      store_id     SMALLINT UNSIGNED  NOT NULL,
      last_update  DATETIME           NOT NULL,
      KEY idx_inventory_last_update (last_update)
    ) ENGINE=InnoDB
    """,
    """
    CREATE TABLE rental (
      rental_id    INT UNSIGNED       NOT NULL PRIMARY KEY,
      rental_date  DATETIME           NOT NULL,
      inventory_id MEDIUMINT UNSIGNED NULL,
      customer_id  SMALLINT UNSIGNED  NULL,
      amount       DECIMAL(5,2)       NOT NULL,
      return_date  DATETIME           NULL,
      last_update  DATETIME           NOT NULL,
      KEY idx_rental_last_update (last_update)
    ) ENGINE=InnoDB
    """,
)

OLD_TITLE, NEW_TITLE = "ADAPTATION HOLES", "ADAPTATION HOLES (REMASTERED)"
#: Film 3 is re-released on 03-03 at 09:00, after the history was extracted: the lake holds
#: its version of 02-28 and the one of 03-03, MariaDB only the latter.
FILM_3_UPDATE = T(2024, 3, 3, 9, 0)

#: (film_id, title, rental_rate, last_update); there is no film 99.
FILMS = [
    (1, "ACADEMY DINOSAUR", Decimal("0.99"), SEEN),
    (2, "ACE GOLDFINGER", Decimal("4.99"), SEEN),
    (3, OLD_TITLE, Decimal("2.99"), SEEN),
    (4, "AFFAIR PREJUDICE", None, SEEN),  # no rate: a reject where the rate is required
    (5, "ångel zürich 🎬", Decimal("2.00"), SEEN),
    (6, "LATE ARRIVAL", Decimal("0.99"), T(2024, 3, 2, 15, 0)),  # first seen on 03-02
]

#: (inventory_id, film_id, store_id, last_update); there is no inventory 50.
INVENTORY = [
    (1, 1, 1, SEEN),
    (2, 2, 2, SEEN),
    (3, 3, 1, SEEN),
    (4, 4, 2, SEEN),
    (5, 5, 1, SEEN),
    (6, 99, 1, SEEN),  # its film is missing: a second-hop orphan
    (7, 6, 2, SEEN),  # its film appears on 03-02
    (8, 1, 300, SEEN),  # store 300 does not fit the view's uint8
    (9, 2, 1, T(2024, 3, 3, 8, 0)),  # first seen on 03-03
]

#: (rental_id, rental_date, inventory_id, customer_id, amount, return_date, last_update)
RENTALS = [
    (101, T(2024, 3, 1, 8), 1, 11, Decimal("2.99"), T(2024, 3, 3, 10), T(2024, 3, 1, 8)),
    (102, T(2024, 2, 29, 23, 30), 3, 12, Decimal("4.99"), None, T(2024, 3, 1)),  # old title
    (103, T(2024, 3, 1, 12), 50, 13, Decimal("0.99"), None, T(2024, 3, 1, 12)),  # no inventory
    (104, T(2024, 3, 1, 13), None, 14, Decimal("1.00"), None, T(2024, 3, 1, 13)),  # NULL key
    (105, T(2024, 3, 1, 14), 6, 15, Decimal("2.00"), None, T(2024, 3, 1, 14)),  # no film 99
    (106, T(2024, 3, 1, 15), 7, 16, Decimal("3.50"), None, T(2024, 3, 1, 15)),  # film 6 later
    (107, T(2024, 3, 1, 16), 1, None, Decimal("5.55"), None, T(2024, 3, 1, 16)),  # no customer
    (108, T(2024, 3, 1, 17), 4, 17, Decimal("1.25"), None, T(2024, 3, 1, 23, 59, 59)),  # no rate
    (201, T(2024, 3, 2, 9), 3, 11, Decimal("2.00"), None, T(2024, 3, 2, 9)),  # old title
    (202, T(2024, 3, 2, 18), 7, 18, Decimal("0.99"), None, T(2024, 3, 2, 18)),  # film 6 now
    (203, T(2024, 3, 2, 10), 8, 19, Decimal("3.99"), None, T(2024, 3, 2, 10)),  # store 300
    (204, T(2024, 3, 2, 11), 9, 20, Decimal("4.00"), None, T(2024, 3, 2, 11)),  # inventory 9 later
    (205, T(2024, 3, 2, 12), 5, 21, Decimal("10.00"), T(2024, 3, 4), T(2024, 3, 2, 12)),
    (301, T(2024, 3, 3, 7), 3, 22, Decimal("2.50"), None, T(2024, 3, 3, 7)),  # new title
    (302, T(2024, 3, 3, 8), 9, 23, Decimal("7.77"), None, T(2024, 3, 3, 8)),  # inventory 9 now
    (401, T(2024, 3, 4, 1), 3, 24, Decimal("0.01"), None, T(2024, 3, 4, 1)),  # new title
    (402, T(2024, 3, 4, 2), 2, 25, Decimal("999.99"), None, T(2024, 3, 4, 23, 59, 59)),
]

#: Left joins all along, a typed looked-up column and computed columns.
RENTAL_FILMS = {
    "name": "rental_films",
    "source": "rental",
    "columns": {
        "rental_id": {"from": "rental_id", "type": "uint32", "nullable": False},
        "rental_date": {"from": "rental_date", "type": "timestamp"},
        "inventory_id": {"from": "inventory_id", "type": "uint32"},
        "amount": {"from": "amount", "type": "decimal(5,2)"},
        "return_date": {"from": "return_date", "type": "timestamp"},
        "amount_x2": {"expr": "amount * 2", "type": "decimal(7,2)"},
        "amount_x4": {"expr": "amount_x2 * 2", "type": "decimal(8,2)"},  # reads amount_x2
        "with_tax": {"expr": "amount * 1.075", "type": "decimal(10,5)"},
        "tax_rounded": {"expr": "ROUND(amount * 1.075, 2)", "type": "decimal(8,2)"},
        "third": {"expr": "amount / 3", "type": "decimal(12,6)"},
        "net": {"expr": "amount - COALESCE(rate, 0)", "type": "decimal(7,2)"},
        "price_band": {
            "expr": "CASE WHEN rate >= 4 THEN 'premium' WHEN rate >= 2 THEN 'standard' "
            "ELSE 'budget' END",
            "type": "string",
        },
        "rental_day": {"expr": "DATE(rental_date)", "type": "date"},
        "rental_dow": {"expr": "EXTRACT(DOW FROM rental_date)", "type": "int64"},
        "rental_month": {"expr": "DATE_TRUNC('month', rental_date)", "type": "date"},
        "rented_text": {"expr": "CAST(rental_date AS VARCHAR)", "type": "string"},
        "price_text": {"expr": "'$' || amount", "type": "string"},
        "label": {"expr": "title || ' @ store ' || store", "type": "string"},
        "tag": {"expr": "CONCAT(UPPER(title), ' #', film_id)", "type": "string"},
        "is_returned": {"expr": "return_date IS NOT NULL", "type": "bool"},
    },
    "lookups": [
        {
            "table": "inventory",
            "on": {"inventory_id": "inventory_id"},
            "columns": {"film_id": "film_id", "store_id": {"as": "store", "type": "uint8"}},
        },
        {
            "table": "film",
            "on": {"film_id": "film_id"},  # brought in by the inventory lookup
            "columns": {
                "title": "title",
                "rental_rate": {"as": "rate", "type": "decimal(4,2)"},
            },
        },
    ],
    "unique_key": ["rental_id"],
    "max_reject_ratio": 0.5,
}

#: The same chain with an inner join on the film, and required columns.
RENTAL_TITLES = {
    "name": "rental_titles",
    "source": "rental",
    "columns": {
        "rental_id": {"from": "rental_id", "type": "uint32"},
        "customer_id": {"from": "customer_id", "type": "uint16", "nullable": False},
        "amount": {"from": "amount", "type": "decimal(5,2)"},
    },
    "lookups": [
        {
            "table": "inventory",
            "on": {"inventory_id": "inventory_id"},
            "columns": {"film_id": "film_id"},
        },
        {
            "table": "film",
            "on": {"film_id": "film_id"},
            "join": "inner",
            "columns": {
                "title": "title",
                "rental_rate": {"as": "rate", "type": "decimal(4,2)", "nullable": False},
            },
        },
    ],
    "unique_key": ["rental_id"],
    "max_reject_ratio": 0.5,
}

#: rental_films' columns in their order, each as MariaDB computes it over its own LEFT JOIN
#: chain: CONCAT_WS('', ...) skips NULLs as the view language's CONCAT does (MariaDB's CONCAT
#: would give NULL), and the view's `||` gives NULL like MariaDB's CONCAT.
FILMS_SQL = {
    "rental_id": "r.rental_id",
    "rental_date": "r.rental_date",
    "inventory_id": "r.inventory_id",
    "amount": "r.amount",
    "return_date": "r.return_date",
    "amount_x2": "r.amount * 2",
    "amount_x4": "r.amount * 2 * 2",
    "with_tax": "r.amount * 1.075",
    "tax_rounded": "ROUND(r.amount * 1.075, 2)",
    "third": "r.amount / 3",
    "net": "r.amount - COALESCE(f.rental_rate, 0)",
    "price_band": "CASE WHEN f.rental_rate >= 4 THEN 'premium' "
    "WHEN f.rental_rate >= 2 THEN 'standard' ELSE 'budget' END",
    "rental_day": "DATE(r.rental_date)",
    "rental_dow": "DAYOFWEEK(r.rental_date) - 1",
    "rental_month": "CAST(DATE_FORMAT(r.rental_date, '%Y-%m-01') AS DATE)",
    "rented_text": "CAST(r.rental_date AS CHAR)",
    "price_text": "CONCAT('$', r.amount)",
    "label": "CONCAT(f.title, ' @ store ', i.store_id)",
    "tag": "CONCAT_WS('', UPPER(f.title), ' #', i.film_id)",
    "is_returned": "r.return_date IS NOT NULL",
    "film_id": "i.film_id",
    "store": "i.store_id",
    "title": "f.title",
    "rate": "f.rental_rate",
}
#: The rental's view day (the UTC day of its cursor), and a column rental_films leaves out.
EXTRA_SQL = {"updated_at": "DATE(r.last_update)", "customer_id": "r.customer_id"}
CHAIN_SQL = """
SELECT {columns}
FROM rental r
LEFT JOIN inventory i ON i.inventory_id = r.inventory_id {inventory_as_of}
LEFT JOIN film f ON f.film_id = i.film_id {film_as_of}
"""
AS_OF = "AND {t}.last_update < DATE(r.last_update) + INTERVAL 1 DAY"
#: What the test reads of rental_films: its columns and its day.
VIEWED = [*FILMS_SQL, "updated_at"]


def _chain(db: MySqlEndpoint, *, as_of: bool) -> dict[int, dict]:
    """{rental_id: {column: value}}: MariaDB's LEFT JOIN chain, each hop as of the end of the
    rental's day (`as_of`) or its current rows."""
    named = {**FILMS_SQL, **EXTRA_SQL}
    sql = CHAIN_SQL.format(
        columns=", ".join(named.values()),
        inventory_as_of=AS_OF.format(t="i") if as_of else "",
        film_as_of=AS_OF.format(t="f") if as_of else "",
    )
    rows = [dict(zip(named, r, strict=True)) for r in run_sql(db, sql)]
    for row in rows:
        row["is_returned"] = bool(row["is_returned"])  # MariaDB's booleans are 0 and 1
    return {row["rental_id"]: row for row in rows}


def _view_rows(tmp_path: Path) -> dict[int, dict]:
    """{rental_id: {column: value}} of rental_films, timestamps as naive UTC like MariaDB's."""
    shown = [f"{c}::TIMESTAMP" if c.endswith("_date") else c for c in VIEWED]
    rows = _lake(tmp_path, f"SELECT {', '.join(shown)} FROM rental_films")
    return {r[0]: dict(zip(VIEWED, r, strict=True)) for r in rows}


def _viewed(row: dict) -> dict:
    """MariaDB's row with rental_films' columns only."""
    return {c: row[c] for c in VIEWED}


@pytest.fixture
def sakila(scratch_db: MySqlEndpoint) -> MySqlEndpoint:
    run_sql(scratch_db, *_TABLES)
    conn = scratch_db.connect()
    try:
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO film VALUES (%s, %s, %s, %s)", FILMS)
            cur.executemany("INSERT INTO inventory VALUES (%s, %s, %s, %s)", INVENTORY)
            cur.executemany("INSERT INTO rental VALUES (%s, %s, %s, %s, %s, %s, %s)", RENTALS)
        conn.commit()
    finally:
        conn.close()
    return scratch_db


@pytest.fixture
def defs(sakila: MySqlEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dg.Definitions:
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        f"start: {START}\n"
        "extract: {batch_rows: 100, retry: {max_retries: 0, delay_seconds: 0}}\n"
        f"shards:\n  shard_00: {{url_env: ETL_TEST_SHARD_URL, database: {sakila.database}}}\n"
        "tables:\n"
        "  rental: {primary_key: [rental_id], cursor: last_update}\n"
        "  inventory: {primary_key: [inventory_id], cursor: last_update}\n"
        "  film: {primary_key: [film_id], cursor: last_update}\n"
    )
    monkeypatch.setenv("ETL_TEST_SHARD_URL", TEST_MYSQL_URL)
    (tmp_path / "sources.schema.yaml").write_text(
        render_schema(snapshot_schema(load_sources(sources)))
    )
    for view in (RENTAL_FILMS, RENTAL_TITLES):
        path = tmp_path / "views" / view["name"] / "defs.yaml"
        path.parent.mkdir(parents=True)
        path.write_text(
            yaml.safe_dump({"type": VIEW_COMPONENT_TYPE, "attributes": view}, sort_keys=False)
        )
    monkeypatch.setenv("ETL_PLATFORM_SOURCES", str(sources))
    monkeypatch.setenv("ETL_PLATFORM_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("ETL_PLATFORM_VIEWS_DIR", str(tmp_path / "views"))
    return build_definitions(Environment.TEST)


def _lake(tmp_path: Path, sql: str) -> list[tuple]:
    """`sql` over DuckDB views of the lake's two views and their rejects."""
    with duckdb.connect() as conn:
        conn.execute("SET TimeZone = 'UTC'")
        for name in ("rental_films", "rental_titles"):
            for table in (name, f"{name}__rejects"):
                files = tmp_path / "lake" / "views" / table / "*" / "*.parquet"
                conn.execute(
                    f"CREATE VIEW {table} AS SELECT * FROM "
                    f"read_parquet('{files}', hive_partitioning = true)"
                )
        return conn.execute(sql).fetchall()


def _day_events(instance: dg.DagsterInstance, run_id: str, view: str) -> dict[dt.date, dict]:
    out = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        mat = record.dagster_event.event_specific_data.materialization
        if mat.asset_key == dg.AssetKey(["views", view]):
            out[D.fromisoformat(mat.partition)] = {k: v.value for k, v in mat.metadata.items()}
    return out


def _checks(instance: dg.DagsterInstance, run_id: str) -> dict[tuple[str, str], object]:
    return {
        (e.asset_key.path[-1], e.check_name): e
        for e in (
            r.dagster_event.event_specific_data
            for r in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        )
    }


def test_chained_lookups_typed_and_computed_columns_match_mariadb(
    defs: dg.Definitions, sakila: MySqlEndpoint, tmp_path: Path
) -> None:
    with dg.instance_for_test() as instance:
        # The history of inventory and film (02-28, 02-29) lands while film 3 has its old
        # title; then MariaDB overwrites it, and the rental days are extracted and built.
        history = extract_lookup_history(defs, FIRST, instance=instance)
        assert history is not None and history.success
        before = _chain(sakila, as_of=True)
        run_sql(
            sakila,
            "UPDATE film SET title = %s, rental_rate = 3.99, last_update = %s WHERE film_id = 3",
            params=(NEW_TITLE, FILM_3_UPDATE),
        )
        after = _chain(sakila, as_of=True)
        current = _chain(sakila, as_of=False)
        extracted = run_range(defs, "extract_raw", FIRST, LAST, instance=instance)
        assert extracted.success, [o.error for o in extracted.outcomes if o.error]
        built = run_range(defs, "build_views", FIRST, LAST, instance=instance)
        assert built.success, [o.error for o in built.outcomes if o.error]
        films_days = _day_events(instance, built.run_id, "rental_films")
        titles_days = _day_events(instance, built.run_id, "rental_titles")
        checks = _checks(instance, built.run_id)

    # What each rental must see: MariaDB's join with each hop as of the end of the rental's
    # day, on its rows as they were then. Before film 3's update that is the snapshot taken
    # before it (film 3's old title, which MariaDB no longer has); from its day on, now.
    expected = {
        rid: (before if row["updated_at"] < FILM_3_UPDATE.date() else after)[rid]
        for rid, row in after.items()
    }
    assert {rid: row["title"] for rid, row in expected.items() if row["film_id"] == 3} == {
        102: OLD_TITLE,  # its day is 03-01: the film as it stood then, not MariaDB's row
        201: OLD_TITLE,
        301: NEW_TITLE,  # rented at 07:00 on 03-03: the end of 03-03 sees the 09:00 update
        401: NEW_TITLE,
    }
    assert current[102]["title"] == NEW_TITLE  # what a plain join of today's rows says

    # rental_films: every rental once, all columns equal, except the one whose store does not
    # fit the looked-up column's uint8 (a reject).
    got = _view_rows(tmp_path)
    assert got == {rid: _viewed(row) for rid, row in expected.items() if rid != 203}
    assert [r[0] for r in _lake(tmp_path, "DESCRIBE rental_films")] == [
        *RENTAL_FILMS["columns"],
        "film_id",
        "store",
        "title",
        "rate",
        "_shard",
        "_updated_at",
        "_run_id",
        "updated_at",
    ]
    assert (got[102]["title"], got[102]["rate"]) == (OLD_TITLE, Decimal("2.99"))
    assert (got[401]["title"], got[401]["rate"]) == (NEW_TITLE, Decimal("3.99"))
    # Decimals are exact: scales add up, a division keeps 4 more places, ROUND half away.
    assert (got[402]["amount_x2"], got[402]["with_tax"]) == (
        Decimal("1999.98"),
        Decimal("1074.98925"),
    )
    assert (got[205]["third"], got[105]["third"]) == (Decimal("3.333333"), Decimal("0.666667"))
    assert got[104]["tax_rounded"] == Decimal("1.08")  # 1.075
    assert got[104]["tag"] == " #" and got[104]["label"] is None  # CONCAT skips NULLs, || not
    assert got[205]["tag"] == "ÅNGEL ZÜRICH 🎬 #5"
    assert (got[102]["rental_month"], got[102]["rented_text"]) == (
        D(2024, 2, 1),
        "2024-02-29 23:30:00",
    )
    assert got[205]["price_text"] == "$10.00"

    # Where every related row was last updated before the rental's day, point in time does not
    # matter: the view is MariaDB's plain LEFT JOIN of today's rows. Most rows are such.
    timeless = {rid for rid, row in current.items() if row == after[rid] and rid != 203}
    assert timeless == set(current) - {102, 201, 106, 204, 203}
    assert all(got[rid] == _viewed(current[rid]) for rid in timeless)

    assert _lake(
        tmp_path, 'SELECT _shard, key, "column", raw_value, reason FROM rental_films__rejects'
    ) == [("shard_00", '{"rental_id":203}', "store", "300", "column store: 300 does not fit uint8")]

    # Orphans per day, counted from MariaDB's as-of joins: a rental with an inventory_id that
    # found no inventory row (a NULL key is none), one with a film_id that found no film.
    inventory_orphans = dict.fromkeys(DAYS, 0)
    film_orphans = dict.fromkeys(DAYS, 0)
    for row in expected.values():
        if row["inventory_id"] is not None and row["film_id"] is None:
            inventory_orphans[row["updated_at"]] += 1
        if row["film_id"] is not None and row["title"] is None:
            film_orphans[row["updated_at"]] += 1
    assert inventory_orphans == {D(2024, 3, 1): 1, D(2024, 3, 2): 1, D(2024, 3, 3): 0, LAST: 0}
    assert film_orphans == {D(2024, 3, 1): 2, D(2024, 3, 2): 0, D(2024, 3, 3): 0, LAST: 0}
    orphans = {
        day: {"inventory": inventory_orphans[day], "film": film_orphans[day]} for day in DAYS
    }
    assert {day: md["orphans"] for day, md in films_days.items()} == orphans
    assert {day: md["rejects"] for day, md in films_days.items()} == {
        D(2024, 3, 1): 0,
        D(2024, 3, 2): 1,
        D(2024, 3, 3): 0,
        LAST: 0,
    }

    # rental_titles: the inner join leaves out every rental that found no film as of its day
    # (a NULL film_id included, as in SQL), then the required columns the rows with a NULL.
    reasons: dict[int, str] = {}
    for rid, row in expected.items():
        if row["title"] is None:
            key = json.dumps({"film_id": row["film_id"]}, separators=(",", ":"))
            reasons[rid] = f"no film row for {key}"
        elif row["customer_id"] is None:
            reasons[rid] = "column customer_id is NULL; the view declares it nullable: false"
        elif row["rate"] is None:
            reasons[rid] = "column rate is NULL; the view declares it nullable: false"
    assert reasons == {
        103: 'no film row for {"film_id":null}',  # no inventory 50, so no film_id
        104: 'no film row for {"film_id":null}',  # no inventory_id at all
        105: 'no film row for {"film_id":99}',  # no film 99
        106: 'no film row for {"film_id":6}',  # film 6 appears on 03-02
        107: "column customer_id is NULL; the view declares it nullable: false",
        108: "column rate is NULL; the view declares it nullable: false",
        204: 'no film row for {"film_id":null}',  # inventory 9 appears on 03-03
    }
    rejected = {
        json.loads(key)["rental_id"]: (column, raw_value, reason, day)
        for key, column, raw_value, reason, day in _lake(
            tmp_path,
            'SELECT key, "column", raw_value, reason, updated_at FROM rental_titles__rejects',
        )
    }
    assert {rid: r[2] for rid, r in rejected.items()} == reasons
    assert _lake(tmp_path, "SELECT COUNT(*) FROM rental_titles__rejects") == [(len(reasons),)]
    assert all(r[3] == expected[rid]["updated_at"] for rid, r in rejected.items())
    assert rejected[105][:2] == ("film_id", '{"film_id":99}')
    assert rejected[103][:2] == ("film_id", '{"film_id":null}')
    assert rejected[107][:2] == ("customer_id", None)
    assert rejected[108][:2] == ("rate", None)
    titles = {
        r[0]: r[1:]
        for r in _lake(
            tmp_path,
            "SELECT rental_id, customer_id, amount, film_id, title, rate FROM rental_titles",
        )
    }
    assert titles == {
        rid: (row["customer_id"], row["amount"], row["film_id"], row["title"], row["rate"])
        for rid, row in expected.items()
        if rid not in reasons
    }
    assert titles[102][3] == OLD_TITLE and titles[401][3] == NEW_TITLE

    rows_in = dict.fromkeys(DAYS, 0)
    rejects = dict.fromkeys(DAYS, 0)
    for rid, row in expected.items():
        rows_in[row["updated_at"]] += 1
        rejects[row["updated_at"]] += rid in reasons
    assert {day: md["rejects"] for day, md in titles_days.items()} == rejects
    assert {day: md["rows_per_shard"]["shard_00"] for day, md in titles_days.items()} == {
        day: {
            "in": rows_in[day],
            "out": rows_in[day] - rejects[day],
            "rejected": rejects[day],
            "duplicates": 0,
        }
        for day in DAYS
    }
    assert {day: md["orphans"] for day, md in titles_days.items()} == orphans
    for view in ("rental_films", "rental_titles"):
        for check in ("rows_balance", "reject_ratio", "unique_key_unique", "unique_key_not_null"):
            assert checks[(view, check)].passed, (view, check, checks[(view, check)].metadata)
    assert checks[("rental_titles", "reject_ratio")].metadata["rejected"].value == len(reasons)
    assert checks[("rental_titles", "reject_ratio")].metadata["rows_in"].value == len(RENTALS)
