"""The demo's `daily_orders` report view (grain order_day, currency, status across shards; its
current rows; its layout by order_day), built over the seeded demo shards and checked against
MariaDB's own GROUP BY on the same rows.

The module works on a copy of the session's seeded shards' `orders` tables (its own two
databases, dropped afterwards): the late-change test updates two orders, and the seeded
shards are shared by the whole session. The copy is the seeded rows, so the first three tests
read the demo data as seeded. The late change leaves the lake in step with the copy (it is
extracted and built again), so the tests hold in any order.

Each seeded order is written once, so the view holds one version of it, on the day of its
`updated_at`: the current rows are the orders as MariaDB has them now."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal

import dagster as dg
import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from etl_platform.asset_keys import (
    by_column_asset_key,
    current_asset_key,
    report_asset_key,
    view_asset_key,
)
from etl_platform.components.report import CHECK
from etl_platform.definitions import build_definitions
from etl_platform.env import DEFAULTS_DIR, Environment
from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.extract.schema_snapshot import snapshot_schema
from etl_platform.load.current_rows import read_current
from etl_platform.load.report_file import read_report
from etl_platform.runner import RangeRun, run_range
from etl_platform.specs.loader import load_sources
from etl_platform.specs.source_schema import render_schema
from etl_platform_tests.conftest import SEED_DAYS, SEED_END, TEST_MYSQL_URL, run_sql

pytestmark = pytest.mark.integration

VIEW = "daily_orders"
FIRST = SEED_END - dt.timedelta(days=SEED_DAYS - 1)
#: The built days' bounds, as MariaDB compares them: [FIRST, SEED_END + 1 day).
BOUNDS = (str(FIRST), str(SEED_END + dt.timedelta(days=1)))
COPY_PREFIX = f"etl_test_daily_orders_{os.getpid()}_"
SHARDS = {"shard_00": f"{COPY_PREFIX}00", "shard_01": f"{COPY_PREFIX}01"}
MEASURES = ("orders", "revenue", "customers", "average_total", "largest_total")
#: avg(decimal(12,2)) is decimal(38,6): the exact sum / count, rounded half away from zero.
AVG_SCALE = Decimal("0.000001")
IN_DAYS = "updated_at >= %s AND updated_at < %s"


def _endpoint(shard: str) -> MySqlEndpoint:
    return MySqlEndpoint.from_url(TEST_MYSQL_URL, database=SHARDS[shard])


@pytest.fixture(scope="module")
def built(
    seeded_shards: list[str], mysql_server: MySqlEndpoint, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict]:
    """Copy the seeded shards' orders, extract the seeded days and build the demo's
    daily_orders view (its defs.yaml as shipped, alone in the views folder) with its current
    rows, report and layout, once for the module."""
    for seeded, copy in zip(seeded_shards, SHARDS.values(), strict=True):
        run_sql(
            mysql_server,
            f"DROP DATABASE IF EXISTS `{copy}`",
            f"CREATE DATABASE `{copy}`",
            f"CREATE TABLE `{copy}`.orders LIKE `{seeded}`.orders",
            f"INSERT INTO `{copy}`.orders SELECT * FROM `{seeded}`.orders",
        )
    tmp = tmp_path_factory.mktemp("daily_orders")
    demo_sources = (DEFAULTS_DIR / "sources.yaml").read_text()
    sources = tmp / "sources.yaml"
    sources.write_text(
        demo_sources.split("shards:")[0].replace(
            "start: ${ETL_PLATFORM_DEMO_START:-2025-01-01}", f"start: {FIRST}"
        )
        + "shards:\n"
        + "".join(
            f"  {s}: {{url_env: ETL_TEST_SHARD_URL, database: {db}}}\n" for s, db in SHARDS.items()
        )
        + "tables:\n"
        + "".join(
            line + "\n"
            for line in demo_sources.split("tables:")[1].splitlines()
            if line.strip().startswith("orders:")
        )
    )
    shutil.copytree(DEFAULTS_DIR / "views" / VIEW, tmp / "views" / VIEW)
    mp = pytest.MonkeyPatch()
    mp.setenv("ETL_PLATFORM_SOURCES", str(sources))
    mp.setenv("ETL_PLATFORM_LAKE", str(tmp / "lake"))
    mp.setenv("ETL_PLATFORM_DUCKDB", str(tmp / "lake.duckdb"))
    mp.setenv("ETL_TEST_SHARD_URL", TEST_MYSQL_URL)
    mp.setenv("ETL_PLATFORM_VIEWS_DIR", str(tmp / "views"))
    mp.setenv("ETL_PLATFORM_THREADS", "2")
    for name in ("ETL_PLATFORM_S3_BUCKET", "ETL_PLATFORM_REDSHIFT_DSN"):
        mp.delenv(name, raising=False)
    try:
        (tmp / "sources.schema.yaml").write_text(
            render_schema(snapshot_schema(load_sources(sources)))
        )
        defs = build_definitions(Environment.TEST)
        with dg.instance_for_test() as instance:
            extracted = run_range(defs, "extract_raw", FIRST, SEED_END, instance=instance)
            assert extracted.success, [o.error for o in extracted.outcomes if o.error]
            run = run_range(defs, "build_views", FIRST, SEED_END, instance=instance)
            assert run.success, [o.error for o in run.outcomes if o.error]
            yield {
                "defs": defs,
                "instance": instance,
                "run": run,
                "lake": tmp / "lake",
                "duckdb": tmp / "lake.duckdb",
            }
    finally:
        mp.undo()
        for copy in SHARDS.values():
            run_sql(mysql_server, f"DROP DATABASE IF EXISTS `{copy}`")


# -- MariaDB's side ------------------------------------------------------------------------


def _mariadb_report() -> dict[tuple, dict]:
    """{(order_day, currency, status): measures} by MariaDB: a GROUP BY per shard, combined
    here (counts and sums added, the average the exact sum / count rounded half up to scale
    6, the largest of the largest), and the distinct customers counted over the union of the
    shards: a customer id on two shards is one customer, as the report counts it."""
    groups: dict[tuple, dict] = {}
    for shard in SHARDS:
        rows = run_sql(
            _endpoint(shard),
            "SELECT DATE(created_at), currency, CAST(status AS CHAR), COUNT(*), SUM(total), "
            f"MAX(total) FROM orders WHERE {IN_DAYS} GROUP BY 1, 2, 3",
            params=BOUNDS,
        )
        for day, currency, status, n, total, largest in rows:
            group = groups.setdefault(
                (day, currency, status), {"orders": 0, "revenue": Decimal(0), "largest": []}
            )
            group["orders"] += n
            group["revenue"] += total
            group["largest"].append(largest)
    customers = _customers_over_union()
    assert set(customers) == set(groups)
    return {
        key: {
            "orders": g["orders"],
            "revenue": g["revenue"],
            "customers": customers[key],
            "average_total": (g["revenue"] / g["orders"]).quantize(AVG_SCALE, ROUND_HALF_UP),
            "largest_total": max(g["largest"]),
        }
        for key, g in groups.items()
    }


def _union(columns: str) -> str:
    return " UNION ALL ".join(
        f"SELECT {columns} FROM `{db}`.orders WHERE {IN_DAYS}" for db in SHARDS.values()
    )


def _customers_over_union() -> dict[tuple, int]:
    rows = run_sql(
        _endpoint("shard_00"),
        "SELECT DATE(created_at), currency, CAST(status AS CHAR), COUNT(DISTINCT customer_id) "
        f"FROM ({_union('created_at, currency, status, customer_id')}) o GROUP BY 1, 2, 3",
        params=BOUNDS * len(SHARDS),
    )
    return {(day, currency, status): n for day, currency, status, n in rows}


def _mariadb_over_union() -> dict[tuple, dict]:
    """The same measures as one MariaDB GROUP BY over the union of the shards (its own AVG of
    a DECIMAL(12,2): scale 6)."""
    rows = run_sql(
        _endpoint("shard_00"),
        "SELECT DATE(created_at), currency, CAST(status AS CHAR), COUNT(*), SUM(total), "
        "COUNT(DISTINCT customer_id), AVG(total), MAX(total) "
        f"FROM ({_union('created_at, currency, status, customer_id, total')}) o "
        "GROUP BY 1, 2, 3",
        params=BOUNDS * len(SHARDS),
    )
    return {tuple(r[:3]): dict(zip(MEASURES, r[3:], strict=True)) for r in rows}


def _orders_now() -> dict[tuple[str, int], dict]:
    """{(shard, order id): row} of the orders in the built days, as MariaDB has them."""
    out = {}
    for shard in SHARDS:
        for order_id, customer_id, status, currency, total, created_at, day in run_sql(
            _endpoint(shard),
            "SELECT id, customer_id, CAST(status AS CHAR), currency, total, created_at, "
            f"DATE(created_at) FROM orders WHERE {IN_DAYS}",
            params=BOUNDS,
        ):
            out[(shard, order_id)] = {
                "order_id": order_id,
                "customer_id": customer_id,
                "status": status,
                "currency": currency,
                "total": total,
                "created_at": created_at,
                "order_day": day,
            }
    return out


# -- the lake's side -----------------------------------------------------------------------


def _report(built: dict) -> dict[tuple, dict]:
    report = read_report(built["lake"], VIEW)
    assert report is not None
    assert report.columns == ["order_day", "currency", "status", *MEASURES]
    assert report.schema["revenue"] == pl.Decimal(38, 2)
    assert report.schema["average_total"] == pl.Decimal(38, 6)
    assert report.schema["largest_total"] == pl.Decimal(12, 2)
    out: dict[tuple, dict] = {}
    for row in report.to_dicts():
        key = (row["order_day"], row["currency"], row["status"])
        assert key not in out, key  # one row per grain value, over every shard
        out[key] = {m: row[m] for m in MEASURES}
    return out


def _checks(instance: dg.DagsterInstance, run_id: str) -> dict[tuple[str, str], object]:
    """{(asset key, check name): evaluation} of the run."""
    out = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = record.dagster_event.event_specific_data
        out[(evaluation.asset_key.to_user_string(), evaluation.check_name)] = evaluation
    return out


def _layout(built: dict) -> pl.DataFrame:
    """Every row of the by-order-day layout with its folder's day (`_folder`)."""
    files = built["lake"] / "views" / f"{VIEW}__by_order_day" / "order_day=*" / "*.parquet"
    with duckdb.connect() as conn:
        rows = conn.execute(
            "SELECT _shard, order_id, CAST(order_day AS DATE) AS _folder, filename "
            f"FROM read_parquet('{files}', hive_partitioning = true, filename = true)"
        ).fetchall()
    return pl.DataFrame(rows, schema=["_shard", "order_id", "_folder", "filename"], orient="row")


def _by_order_day(built: dict, day: dt.date) -> dict[tuple[str, int], dict]:
    """The DuckDB view `daily_orders__by_order_day` filtered on one day, naive UTC stamps."""
    with duckdb.connect(str(built["duckdb"]), read_only=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        rows = conn.execute(
            "SELECT _shard, order_id, customer_id, status, currency, total, "
            "created_at::TIMESTAMP, order_day "
            f"FROM {VIEW}__by_order_day WHERE order_day = ?",
            [day],
        ).fetchall()
    out = {}
    for shard, *row in rows:
        columns = ("order_id", "customer_id", "status", "currency", "total", "created_at")
        value = dict(zip((*columns, "order_day"), row, strict=True))
        assert (shard, value["order_id"]) not in out
        out[(shard, value["order_id"])] = value
    return out


def _build(built: dict, day: dt.date) -> RangeRun:
    instance = built["instance"]
    for job in ("extract_raw", "build_views"):
        run = run_range(built["defs"], job, day, day, instance=instance)
        assert run.success, [o.error for o in run.outcomes if o.error]
    return run


# -- the tests -----------------------------------------------------------------------------


def test_the_report_is_mariadbs_group_by_over_all_shards(built: dict) -> None:
    expected = _mariadb_report()
    assert len(expected) > 10  # not vacuous: many days x currencies x statuses
    assert _report(built) == expected
    # MariaDB's own GROUP BY over the union of the shards says the same (its AVG of a
    # DECIMAL(12,2) is scale 6, the exact average rounded half up).
    assert _mariadb_over_union() == expected
    # Customer ids repeat across shards: counting per shard and adding would differ.
    per_shard: dict[tuple, int] = {}
    for shard in SHARDS:
        for day, currency, status, n in run_sql(
            _endpoint(shard),
            "SELECT DATE(created_at), currency, CAST(status AS CHAR), COUNT(DISTINCT customer_id) "
            f"FROM orders WHERE {IN_DAYS} GROUP BY 1, 2, 3",
            params=BOUNDS,
        ):
            per_shard[(day, currency, status)] = per_shard.get((day, currency, status), 0) + n
    assert any(per_shard[k] > g["customers"] for k, g in expected.items())
    # Every order of the built days, once.
    assert sum(g["orders"] for g in expected.values()) == len(_orders_now()) == 800


def test_the_report_check_passed_in_the_build(built: dict) -> None:
    run = built["run"]
    # The build materialized the view, its current rows, the report and the layout.
    assert {
        view_asset_key(VIEW),
        current_asset_key(VIEW),
        report_asset_key(VIEW),
        by_column_asset_key(VIEW, "order_day"),
    } <= run.materialized
    checks = _checks(built["instance"], run.run_id)
    check = checks[(report_asset_key(VIEW).to_user_string(), CHECK)]
    assert check.passed, check.metadata
    assert check.metadata["groups_differing"].value == 0
    assert check.metadata["groups_missing_from_report"].value == 0
    assert check.metadata["groups_only_in_report"].value == 0
    # Every group of the report the build wrote was compared (the late-change test may have
    # written another report since: this is the build's).
    written = _materialization(built, report_asset_key(VIEW), run.run_id)
    assert check.metadata["groups_compared"].value == written["dagster/row_count"].value > 10


def test_the_layout_puts_each_current_row_in_its_order_day(built: dict) -> None:
    orders = _orders_now()
    current = read_current(built["lake"], VIEW, ["_shard", "order_id"])
    assert current is not None
    assert set(zip(current["_shard"], current["order_id"], strict=True)) == set(orders)
    layout = _layout(built)
    keys = list(zip(layout["_shard"], layout["order_id"], strict=True))
    assert len(keys) == len(set(keys)) == len(orders)  # each current row in exactly one folder
    folders = dict(zip(keys, layout["_folder"], strict=True))
    assert folders == {k: o["order_day"] for k, o in orders.items()}
    for row in layout.iter_rows(named=True):  # the folder is the one it was read from
        assert f"order_day={row['_folder']}" in row["filename"]
    # The folder's date is the key, not repeated in the files (as Hive and Athena want).
    for file in set(layout["filename"]):
        assert "order_day" not in pq.read_schema(file).names, file
    assert len(set(folders.values())) == SEED_DAYS

    # The DuckDB view filtered on a day: MariaDB's orders placed that day, column for column.
    day = FIRST + dt.timedelta(days=SEED_DAYS // 2)
    expected = {k: o for k, o in orders.items() if o["order_day"] == day}
    assert len(expected) > 20
    assert _by_order_day(built, day) == expected


def _materialization(built: dict, key: dg.AssetKey, run_id: str) -> dict:
    [metadata] = [
        r.asset_materialization.metadata
        for r in built["instance"].fetch_materializations(key, limit=100).records
        if r.run_id == run_id
    ]
    return metadata


def test_late_changes_move_orders_between_groups_once(built: dict) -> None:
    """On the last built day two orders placed and last updated on early days change: one is
    delivered for another total (same order day, another status), the other's order day is
    corrected (another day, same status). That day extracted and built again, the report takes
    each out of its old group and into its new one, once, and stays MariaDB's GROUP BY; the
    layout moves the second to its new day's folder and rewrites the days touched."""
    before = _report(built)
    early = str(FIRST + dt.timedelta(days=2))
    late = f"{SEED_END} 12:00:00"

    # A: the first order of shard_01 of an early day not delivered yet whose new group
    # (delivered, same day and currency) has orders already.
    new_status = "delivered"
    a_shard = "shard_01"
    candidates = run_sql(
        _endpoint(a_shard),
        "SELECT id, CAST(status AS CHAR), total, currency, DATE(created_at) FROM orders "
        "WHERE updated_at < %s AND status <> %s ORDER BY id",
        params=(early, new_status),
    )
    a_id, a_status, a_total, a_currency, a_day = next(
        c for c in candidates if (c[4], c[3], new_status) in before
    )
    a_new_total = a_total + Decimal("123.45")
    # B: the first order of shard_00 of an early day whose group on the seeded middle day has
    # orders already; its created_at is corrected to that day.
    b_shard, new_day = "shard_00", FIRST + dt.timedelta(days=SEED_DAYS // 2)
    candidates = run_sql(
        _endpoint(b_shard),
        "SELECT id, CAST(status AS CHAR), total, currency, DATE(created_at) FROM orders "
        "WHERE updated_at < %s AND DATE(created_at) <> %s ORDER BY id",
        params=(early, str(new_day)),
    )
    b_id, b_status, b_total, b_currency, b_day = next(
        c for c in candidates if (new_day, c[3], c[1]) in before
    )
    run_sql(
        _endpoint(a_shard),
        "UPDATE orders SET status = %s, total = %s, updated_at = %s WHERE id = %s",
        params=(new_status, a_new_total, late, a_id),
    )
    run_sql(
        _endpoint(b_shard),
        "UPDATE orders SET created_at = %s, updated_at = %s WHERE id = %s",
        params=(f"{new_day} 08:00:00", late, b_id),
    )
    run = _build(built, SEED_END)
    assert {
        current_asset_key(VIEW),
        report_asset_key(VIEW),
        by_column_asset_key(VIEW, "order_day"),
    } <= run.materialized
    check = _checks(built["instance"], run.run_id)[(report_asset_key(VIEW).to_user_string(), CHECK)]
    assert check.passed, check.metadata

    after = _report(built)
    moves = {  # group: (orders, revenue) it gained
        (a_day, a_currency, a_status): (-1, -a_total),
        (a_day, a_currency, new_status): (1, a_new_total),
        (b_day, b_currency, b_status): (-1, -b_total),
        (new_day, b_currency, b_status): (1, b_total),
    }
    assert len(moves) == 4
    for group, (orders, revenue) in moves.items():
        assert after[group]["orders"] == before[group]["orders"] + orders, group
        assert after[group]["revenue"] == before[group]["revenue"] + revenue, group
    assert after[(a_day, a_currency, new_status)]["largest_total"] >= a_new_total
    # Every other group is as it was, and the whole report is MariaDB's GROUP BY.
    assert {k: v for k, v in after.items() if k not in moves} == {
        k: v for k, v in before.items() if k not in moves
    }
    assert after == _mariadb_report()

    # The view keeps both versions of A, one on each day; the current rows hold the new one.
    detail = pl.read_parquet(
        built["lake"] / "views" / VIEW / "*" / "*.parquet", hive_partitioning=True
    ).filter((pl.col("_shard") == a_shard) & (pl.col("order_id") == a_id))
    assert sorted(detail["status"].to_list()) == sorted([a_status, new_status])
    current = read_current(built["lake"], VIEW)
    assert current is not None
    current = current.filter((pl.col("_shard") == a_shard) & (pl.col("order_id") == a_id))
    assert current.select("status", "total").rows() == [(new_status, a_new_total)]

    # The layout: A in its unchanged folder with its new values; B gone from its old day's
    # folder and in its new day's; only those days rewritten.
    assert _by_order_day(built, a_day)[(a_shard, a_id)]["status"] == new_status
    assert _by_order_day(built, a_day)[(a_shard, a_id)]["total"] == a_new_total
    assert (b_shard, b_id) not in _by_order_day(built, b_day)
    assert _by_order_day(built, new_day)[(b_shard, b_id)]["created_at"] == dt.datetime.combine(
        new_day, dt.time(8)
    )
    # A day rewritten is the old and the new order day of each key whose version changed: the
    # rows of the view day built again (a new run id: A and B among them) and B's old day.
    current = read_current(built["lake"], VIEW, ["order_day", "_day"])
    assert current is not None
    touched = set(current.filter(pl.col("_day") == SEED_END)["order_day"]) | {b_day}
    assert {a_day, b_day, new_day} <= touched
    layout = _materialization(built, by_column_asset_key(VIEW, "order_day"), run.run_id)
    assert sorted(layout["days_rewritten"].value) == sorted(str(d) for d in touched)
    assert layout["days_removed"].value == []
    assert layout["rebuilt"].value is False
