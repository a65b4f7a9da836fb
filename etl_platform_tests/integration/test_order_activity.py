"""The demo's `order_activity` view (a chained lookup event -> order -> customer, a typed
looked-up column, computed columns), built over the seeded demo shards and checked against
MariaDB's own JOIN and expressions on the same rows.

Each event is looked up as of the end of its day (the UTC day of its `updated_at`): the order
and customer as the lake held them then. The lake holds one version of each order and
customer, the one MariaDB has (the shards are seeded once, then extracted), so as of day D an
order or customer last updated after D is not there yet: its columns are NULL. MariaDB's JOIN
with `updated_at < D + 1 day` on each hop says the same, row for row."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator

import dagster as dg
import duckdb
import pytest

from etl_platform.definitions import build_definitions
from etl_platform.env import DEFAULTS_DIR, Environment
from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.runner import extract_lookup_history, run_range
from etl_platform_tests.conftest import SEED_DAYS, SEED_END, SEED_PREFIX, TEST_MYSQL_URL, run_sql

pytestmark = pytest.mark.integration

FIRST = SEED_END - dt.timedelta(days=SEED_DAYS - 1)
DAYS = [FIRST + dt.timedelta(days=i) for i in range(SEED_DAYS)]
#: Two days of lookup history before the seeded ones (empty: the seed starts on FIRST).
START = FIRST - dt.timedelta(days=2)
SHARDS = {"shard_00": f"{SEED_PREFIX}00", "shard_01": f"{SEED_PREFIX}01"}

#: The view's columns, each as MariaDB computes it: `||` gives NULL when a side is NULL, like
#: MariaDB's CONCAT; a NULL total falls to the CASE's ELSE in both.
COLUMNS_SQL = {
    "event_id": "e.id",
    "order_id": "e.order_id",
    "event_type": "CAST(e.event_type AS CHAR)",
    "occurred_at": "e.occurred_at",
    "event_day": "DATE(e.occurred_at)",
    "is_money_event": "e.event_type IN ('paid', 'refunded')",
    "order_size": "CASE WHEN o.total >= 100 THEN 'large' WHEN o.total >= 20 THEN 'medium' "
    "ELSE 'small' END",
    "customer_label": "CONCAT(UPPER(c.tier), ': ', c.full_name)",
    "customer_id": "o.customer_id",
    "order_status": "CAST(o.status AS CHAR)",
    "order_total": "o.total",
    "customer_tier": "CAST(c.tier AS CHAR)",
    "customer_name": "c.full_name",
    "updated_at": "DATE(e.updated_at)",
}
AS_OF = "AND {t}.updated_at < DATE(e.updated_at) + INTERVAL 1 DAY"
EVENTS_SQL = """
SELECT {columns}, o.updated_at, c.updated_at
FROM order_events e
LEFT JOIN orders o ON o.id = e.order_id {orders_as_of}
LEFT JOIN customers c ON c.id = o.customer_id {customers_as_of}
WHERE e.updated_at >= %s AND e.updated_at < %s
"""


@pytest.fixture(scope="module")
def built(seeded_shards: list[str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Extract the seeded days and build the demo's order_activity view (its defs.yaml as
    shipped, alone in the views folder), once for the module."""
    tmp = tmp_path_factory.mktemp("order_activity")
    demo_sources = (DEFAULTS_DIR / "sources.yaml").read_text()
    sources = tmp / "sources.yaml"
    sources.write_text(
        demo_sources.split("shards:")[0].replace(
            "start: ${ETL_PLATFORM_DEMO_START:-2025-01-01}", f"start: {START}"
        )
        + "shards:\n"
        + "".join(
            f"  {s}: {{url_env: ETL_TEST_SHARD_URL, database: {db}}}\n" for s, db in SHARDS.items()
        )
        + "tables:"
        + demo_sources.split("tables:")[1]
    )
    shutil.copy(DEFAULTS_DIR / "sources.schema.yaml", tmp / "sources.schema.yaml")
    shutil.copytree(DEFAULTS_DIR / "views" / "order_activity", tmp / "views" / "order_activity")
    mp = pytest.MonkeyPatch()
    mp.setenv("ETL_PLATFORM_SOURCES", str(sources))
    mp.setenv("ETL_PLATFORM_LAKE", str(tmp / "lake"))
    mp.setenv("ETL_TEST_SHARD_URL", TEST_MYSQL_URL)
    mp.setenv("ETL_PLATFORM_VIEWS_DIR", str(tmp / "views"))
    mp.setenv("ETL_PLATFORM_THREADS", "2")
    for name in ("ETL_PLATFORM_S3_BUCKET", "ETL_PLATFORM_REDSHIFT_DSN"):
        mp.delenv(name, raising=False)
    try:
        defs = build_definitions(Environment.TEST)
        with dg.instance_for_test() as instance:
            history = extract_lookup_history(defs, FIRST, instance=instance)
            assert history is not None and history.success
            extracted = run_range(defs, "extract_raw", FIRST, SEED_END, instance=instance)
            assert extracted.success, [o.error for o in extracted.outcomes if o.error]
            run = run_range(defs, "build_views", FIRST, SEED_END, instance=instance)
            assert run.success, [o.error for o in run.outcomes if o.error]
            yield {"instance": instance, "run": run, "lake": tmp / "lake"}
    finally:
        mp.undo()


def _expected(shard: str, *, as_of: bool) -> dict[int, dict]:
    """{event_id: {column: value}} of the shard's events on the seeded days, by MariaDB: each
    hop as of the end of the event's day (`as_of`), or today's rows."""
    sql = EVENTS_SQL.format(
        columns=", ".join(COLUMNS_SQL.values()),
        orders_as_of=AS_OF.format(t="o") if as_of else "",
        customers_as_of=AS_OF.format(t="c") if as_of else "",
    )
    rows = run_sql(
        MySqlEndpoint.from_url(TEST_MYSQL_URL, database=SHARDS[shard]),
        sql,
        params=(str(FIRST), str(SEED_END + dt.timedelta(days=1))),
    )
    out = {}
    for r in rows:
        row = dict(zip([*COLUMNS_SQL, "_order_updated", "_customer_updated"], r, strict=True))
        row["is_money_event"] = bool(row["is_money_event"])  # MariaDB's booleans are 0 and 1
        out[row["event_id"]] = row
    return out


def _got(built: dict, shard: str) -> dict[int, dict]:
    """{event_id: {column: value}} of the view's rows of `shard`, naive UTC timestamps."""
    files = built["lake"] / "views" / "order_activity" / "*" / "*.parquet"
    shown = [f"{c}::TIMESTAMP" if c == "occurred_at" else c for c in COLUMNS_SQL]
    with duckdb.connect() as conn:
        conn.execute("SET TimeZone = 'UTC'")
        rows = conn.execute(
            f"SELECT {', '.join(shown)} FROM read_parquet('{files}', hive_partitioning = true) "
            "WHERE _shard = ?",
            [shard],
        ).fetchall()
    out = {}
    for r in rows:
        assert r[0] not in out, (shard, r[0])  # each event once
        out[r[0]] = dict(zip(COLUMNS_SQL, r, strict=True))
    return out


def _end_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time())


def _view(row: dict) -> dict:
    return {c: row[c] for c in COLUMNS_SQL}


@pytest.mark.parametrize("shard", list(SHARDS))
def test_order_activity_matches_mariadbs_join_as_of_each_day(built: dict, shard: str) -> None:
    expected = _expected(shard, as_of=True)
    got = _got(built, shard)
    assert set(got) == set(expected)
    for day in DAYS:
        on_day = {i for i, row in expected.items() if row["updated_at"] == day}
        assert on_day, (shard, day)
        assert {i: got[i] for i in on_day} == {i: _view(expected[i]) for i in on_day}, day

    # Where the current order and customer were last updated by the end of the event's day
    # (or there is none), point in time agrees with today's rows: the view is MariaDB's plain
    # LEFT JOIN. Most rows are such.
    current = _expected(shard, as_of=False)
    agreeing = {
        i
        for i, row in current.items()
        if all(
            stamp is None or stamp < _end_of(row["updated_at"])
            for stamp in (row["_order_updated"], row["_customer_updated"])
        )
    }
    assert len(agreeing) > 0.5 * len(current), (len(agreeing), len(current))
    assert all(got[i] == _view(current[i]) for i in agreeing)

    # Elsewhere the lake had no version of the order (or customer) by then: its columns are
    # NULL, never today's values, and the computed columns follow.
    later_orders = {
        i
        for i, row in current.items()
        if row["_order_updated"] is not None and row["_order_updated"] >= _end_of(row["updated_at"])
    }
    later_customers = {
        i
        for i, row in current.items()
        if i not in later_orders
        and row["_customer_updated"] is not None
        and row["_customer_updated"] >= _end_of(row["updated_at"])
    }
    assert later_orders and later_customers
    assert agreeing | later_orders | later_customers == set(current)
    for i in later_orders:
        row = got[i]
        assert row["customer_id"] is row["order_status"] is row["order_total"] is None, i
        assert row["customer_tier"] is row["customer_name"] is row["customer_label"] is None, i
        assert row["order_size"] == "small", i  # a NULL total falls to the ELSE
    for i in later_customers:
        row = got[i]
        assert row["order_status"] == current[i]["order_status"], i
        assert row["customer_tier"] is row["customer_name"] is row["customer_label"] is None, i
        assert current[i]["customer_label"] is not None, i


def test_computed_columns_are_mariadbs_expressions(built: dict) -> None:
    """Each computed column against MariaDB's, with every branch and NULL case present."""
    for shard in SHARDS:
        got = _got(built, shard)
        expected = _expected(shard, as_of=True)
        for column in ("event_day", "is_money_event", "order_size", "customer_label"):
            assert {i: r[column] for i, r in got.items()} == {
                i: r[column] for i, r in expected.items()
            }, (shard, column)
        sizes = {r["order_size"] for r in got.values()}
        assert sizes == {"small", "medium", "large"}, shard
        assert {r["is_money_event"] for r in got.values()} == {True, False}, shard
        labels = [r["customer_label"] for r in got.values()]
        assert None in labels and any(label and ": " in label for label in labels), shard
        tiers = {label.split(": ")[0] for label in labels if label is not None}
        assert {"FREE", "PRO"} <= tiers <= {"FREE", "PRO", "ENTERPRISE"}, shard
        # An event replayed on a later day keeps its occurred_at: its day is not the view's.
        assert any(r["event_day"] != r["updated_at"] for r in got.values()), shard


def test_orphans_rejects_and_checks(built: dict) -> None:
    instance, run = built["instance"], built["run"]
    orphans: dict[str, dict[str, int]] = {str(day): {"orders": 0, "customers": 0} for day in DAYS}
    for shard in SHARDS:
        for row in _expected(shard, as_of=True).values():
            day = str(row["updated_at"])
            if row["order_status"] is None:  # the order is not there as of the day
                orphans[day]["orders"] += 1
            elif row["customer_tier"] is None:  # its customer is not (or never: the seed's orphans)
                orphans[day]["customers"] += 1
    assert sum(o["orders"] for o in orphans.values()) > 0
    assert sum(o["customers"] for o in orphans.values()) > 0
    events = {
        r.partition_key: r.asset_materialization.metadata
        for r in instance.fetch_materializations(
            dg.AssetKey(["views", "order_activity"]), limit=1000
        ).records
        if r.run_id == run.run_id
    }
    assert {day: md["orphans"].value for day, md in events.items()} == orphans
    assert all(md["rejects"].value == 0 for md in events.values())
    checks = {
        r.dagster_event.event_specific_data.check_name: r.dagster_event.event_specific_data
        for r in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        if r.dagster_event.event_specific_data.asset_key == dg.AssetKey(["views", "order_activity"])
    }
    for name in ("unique_key_unique", "unique_key_not_null", "rows_balance", "reject_ratio"):
        assert checks[name].passed, (name, checks[name].metadata)
