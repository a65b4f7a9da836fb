"""Views materialized end to end against MariaDB, checked with SQL: MariaDB's own JSON functions
on the seeded rows give the expectation, DuckDB over the lake gives what the platform made."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import boto3
import dagster as dg
import duckdb
import psycopg
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest

from etl_platform.definitions import build_definitions
from etl_platform.destination_resources import athena_from_env
from etl_platform.env import DEFAULTS_DIR, Environment
from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.runner import extract_lookup_history, run_range
from etl_platform_tests.conftest import (
    SEED_DAYS,
    SEED_END,
    SEED_PREFIX,
    TEST_MYSQL_URL,
    TEST_POSTGRES_URL,
    run_sql,
)

pytestmark = pytest.mark.integration

PG_URL = TEST_POSTGRES_URL
FIRST = SEED_END - dt.timedelta(days=SEED_DAYS - 1)
DAYS = [FIRST + dt.timedelta(days=i) for i in range(SEED_DAYS)]
SHARDS = {"shard_00": f"{SEED_PREFIX}00", "shard_01": f"{SEED_PREFIX}01"}
VALID_OBJECT = "(%(c)s IS NULL OR (JSON_VALID(%(c)s) AND JSON_TYPE(%(c)s) = 'OBJECT'))"


@pytest.fixture(scope="module")
def built(
    seeded_shards: list[str], tmp_path_factory: pytest.TempPathFactory, moto_endpoint: str
) -> Iterator[dict]:
    """Extract, build and land every demo view over the seeded days, once for the module."""
    tmp = tmp_path_factory.mktemp("views")
    bucket = f"views-{tmp.name.replace('_', '-').lower()}"[:60]
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(
        Bucket=bucket
    )
    sources = tmp / "sources.yaml"
    sources.write_text(
        (DEFAULTS_DIR / "sources.yaml")
        .read_text()
        .split("shards:")[0]
        .replace("start: ${ETL_PLATFORM_DEMO_START:-2025-01-01}", "start: 2024-01-01")
        + "shards:\n"
        + "".join(
            f"  {s}: {{url_env: ETL_TEST_SHARD_URL, database: {db}}}\n" for s, db in SHARDS.items()
        )
        + "tables:"
        + (DEFAULTS_DIR / "sources.yaml").read_text().split("tables:")[1]
    )
    shutil.copy(DEFAULTS_DIR / "sources.schema.yaml", tmp / "sources.schema.yaml")
    mp = pytest.MonkeyPatch()
    mp.setenv("ETL_PLATFORM_SOURCES", str(sources))
    mp.setenv("ETL_PLATFORM_LAKE", str(tmp / "lake"))
    mp.setenv("ETL_TEST_SHARD_URL", TEST_MYSQL_URL)
    mp.setenv("ETL_PLATFORM_VIEWS_DIR", str(DEFAULTS_DIR / "views"))
    mp.setenv("ETL_PLATFORM_THREADS", "3")  # days shaped on threads, whatever the machine
    mp.setenv("ETL_PLATFORM_S3_BUCKET", bucket)
    mp.setenv("ETL_PLATFORM_GLUE_DATABASE", f"views_{tmp.name.lower()}"[:60].replace("-", "_"))
    mp.setenv("ETL_PLATFORM_AWS_ENDPOINT_URL", moto_endpoint)
    pg_schema = f"etl_test_{os.getpid()}_{tmp.name.lower().replace('-', '_')}"[:60]
    mp.setenv("ETL_PLATFORM_REDSHIFT_DSN", PG_URL)
    mp.setenv("ETL_PLATFORM_REDSHIFT_SCHEMA", pg_schema)
    defs = build_definitions(Environment.TEST)
    with dg.instance_for_test() as instance:
        history = extract_lookup_history(defs, FIRST, instance=instance)
        assert history is not None and history.success
        run = run_range(defs, "etl_all", FIRST, SEED_END, instance=instance)
        assert run.success, [o.error for o in run.outcomes if o.error]
        checks = {
            (e.asset_key.path[-1], e.check_name): e
            for e in (
                r.dagster_event.event_specific_data
                for r in instance.all_logs(
                    run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
                )
            )
        }
        yield {
            "defs": defs,
            "instance": instance,
            "run": run,
            "lake": tmp / "lake",
            "duckdb": tmp / "lake" / "lake.duckdb",
            "checks": checks,
            "athena": athena_from_env(),
            "pg_schema": pg_schema,
        }
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{pg_schema}" CASCADE')
    mp.undo()


def _db(shard: str) -> MySqlEndpoint:
    return MySqlEndpoint.from_url(TEST_MYSQL_URL, database=SHARDS[shard])


def _duck(built: dict, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(built["duckdb"]), read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()


def _day_bounds(day: dt.date) -> tuple[str, str]:
    return str(day), str(day + dt.timedelta(days=1))


def test_orders_enriched_keeps_every_valid_order_once_per_day(built: dict) -> None:
    for shard in SHARDS:
        for day in DAYS:
            expected = {
                r[0]
                for r in run_sql(
                    _db(shard),
                    "SELECT id FROM orders WHERE updated_at >= %s AND updated_at < %s AND "
                    + VALID_OBJECT % {"c": "payload"},
                    params=_day_bounds(day),
                )
            }
            got = [
                r[0]
                for r in _duck(
                    built,
                    "SELECT order_id FROM orders_enriched WHERE updated_at = ? AND _shard = ?",
                    [day, shard],
                )
            ]
            assert len(got) == len(set(got)), (shard, day)
            assert set(got) == expected, (shard, day)


def test_orders_enriched_values_match_mariadb_json_functions(built: dict) -> None:
    rows = run_sql(
        _db("shard_01"),
        "SELECT o.id, CAST(JSON_VALUE(o.payload, '$.totals.grand_total') AS DECIMAL(12,2)), "
        "JSON_VALUE(o.payload, '$.shipping.address.city'), o.total, o.is_gift, "
        "IF(c.updated_at < DATE(o.updated_at) + INTERVAL 1 DAY, c.email, NULL), "
        "DATE_FORMAT(o.updated_at, '%%Y-%%m-%%d %%H:%%i:%%s.%%f') "
        "FROM orders o LEFT JOIN customers c ON c.id = o.customer_id "
        "WHERE o.updated_at >= %s AND o.updated_at < %s AND " + VALID_OBJECT % {"c": "o.payload"},
        params=(str(FIRST), str(SEED_END + dt.timedelta(days=1))),
    )
    expected = {r[0]: (r[1], r[2], r[3], bool(r[4]), r[5], r[6]) for r in rows}
    got = {
        r[0]: (r[1], r[2], r[3], r[4], r[5], r[6].strftime("%Y-%m-%d %H:%M:%S.%f"))
        for r in _duck(
            built,
            "SELECT order_id, grand_total, city, total, is_gift, customer_email, "
            "_updated_at AT TIME ZONE 'UTC' FROM orders_enriched WHERE _shard = 'shard_01'",
        )
    }
    assert got == expected
    cities = {v[1] for v in got.values()}
    assert any(c and any(ord(ch) > 127 for ch in c) for c in cities)  # unicode survived
    stamps = {v[5] for v in got.values()}
    assert any(s.endswith("00:00:00.000000") for s in stamps)
    assert any(s.endswith("23:59:59.999999") for s in stamps)


def test_malformed_json_goes_to_rejects_with_its_raw_value(built: dict) -> None:
    expected = {
        (shard, r[0], r[1])
        for shard in SHARDS
        for r in run_sql(
            _db(shard),
            "SELECT CAST(id AS CHAR), payload FROM orders "
            "WHERE updated_at >= %s AND updated_at < %s "
            "AND NOT " + VALID_OBJECT % {"c": "payload"},
            params=(str(FIRST), str(SEED_END + dt.timedelta(days=1))),
        )
    }
    assert expected, "the seed must contain malformed payloads"
    got = {
        (r[0], r[1], r[2])
        for r in _duck(
            built,
            "SELECT _shard, json_extract_string(key, '$.id'), raw_value "
            "FROM orders_enriched__rejects "
            "WHERE \"column\" = 'payload'",
        )
    }
    assert got == expected
    reasons = {r[0] for r in _duck(built, "SELECT DISTINCT reason FROM orders_enriched__rejects")}
    assert all(reasons), reasons


def test_orphans_are_null_and_counted(built: dict) -> None:
    orphans = sum(
        run_sql(
            _db(shard),
            "SELECT COUNT(*) FROM orders o LEFT JOIN customers c ON c.id = o.customer_id "
            "AND c.updated_at < DATE(o.updated_at) + INTERVAL 1 DAY "
            "WHERE o.updated_at >= %s AND o.updated_at < %s AND c.id IS NULL AND "
            + VALID_OBJECT
            % {"c": "o.payload"},
            params=(str(FIRST), str(SEED_END + dt.timedelta(days=1))),
        )[0][0]
        for shard in SHARDS
    )
    assert orphans > 0
    got = _duck(built, "SELECT COUNT(*) FROM orders_enriched WHERE customer_email IS NULL")[0][0]
    assert got == orphans
    days = _run_events(built, dg.AssetKey(["views", "orders_enriched"]))
    counted = [md["orphans"].value.get("customers", 0) for md in days.values()]
    assert sum(counted) == orphans  # each day its own


def test_customer_profiles_flatten_every_key(built: dict) -> None:
    columns = {r[0] for r in _duck(built, "DESCRIBE customer_profiles")}
    assert {"profile_locale", "profile_address_city", "profile_marketing_email", "score"} <= columns
    rows = run_sql(
        _db("shard_00"),
        "SELECT id, JSON_VALUE(profile, '$.locale'), JSON_VALUE(profile, '$.address.city'), "
        "CAST(JSON_VALUE(profile, '$.score') AS DOUBLE) FROM customers "
        "WHERE updated_at >= %s AND updated_at < %s AND " + VALID_OBJECT % {"c": "profile"},
        params=(str(FIRST), str(SEED_END + dt.timedelta(days=1))),
    )
    expected = {r[0]: (r[1], r[2], r[3]) for r in rows}
    got = {
        r[0]: (r[1], r[2], r[3])
        for r in _duck(
            built,
            "SELECT customer_id, profile_locale, profile_address_city, score "
            "FROM customer_profiles "
            "WHERE _shard = 'shard_00'",
        )
    }
    assert got == expected


def test_order_items_explode_one_row_per_element(built: dict) -> None:
    rows = run_sql(
        _db("shard_00"),
        "SELECT o.id, jt.idx - 1, jt.sku, jt.qty, jt.price FROM "
        "(SELECT id, payload FROM orders WHERE updated_at >= %s AND updated_at < %s AND "
        "JSON_VALID(payload) AND JSON_TYPE(payload) = 'OBJECT') o, "
        "JSON_TABLE(o.payload, '$.items[*]' COLUMNS (idx FOR ORDINALITY, "
        "sku VARCHAR(64) PATH '$.sku', qty INT PATH '$.qty', "
        "price DECIMAL(10,2) PATH '$.price')) jt",
        params=(str(FIRST), str(SEED_END + dt.timedelta(days=1))),
    )
    expected = {(r[0], r[1]): (r[2], r[3], Decimal(r[4])) for r in rows}
    got = {
        (r[0], r[1]): (r[2], r[3], r[4])
        for r in _duck(
            built,
            "SELECT order_id, item_index, sku, quantity, unit_price FROM order_items "
            "WHERE _shard = 'shard_00'",
        )
    }
    assert got == expected
    named = _duck(built, "SELECT COUNT(*), COUNT(product_name) FROM order_items")[0]
    assert named[0] > 0 and named[1] > 0


def test_order_status_history_counts_replayed_events_once(built: dict) -> None:
    for shard in SHARDS:
        for day in DAYS:
            expected = run_sql(
                _db(shard),
                "SELECT COUNT(*), COUNT(DISTINCT order_id, event_type, occurred_at) "
                "FROM order_events "
                "WHERE updated_at >= %s AND updated_at < %s",
                params=_day_bounds(day),
            )[0]
            got = _duck(
                built,
                "SELECT COUNT(*) FROM order_status_history WHERE updated_at = ? AND _shard = ?",
                [day, shard],
            )[0][0]
            assert got == expected[1], (shard, day)
    days = _run_events(built, dg.AssetKey(["views", "order_status_history"]))
    assert sum(md["duplicates_removed"].value for md in days.values()) > 0


def test_checks_pass_and_metadata_is_rich(built: dict) -> None:
    checks = built["checks"]
    for view in ("orders_enriched", "customer_profiles", "order_items", "order_status_history"):
        for name in (
            "unique_key_unique",
            "unique_key_not_null",
            "rows_balance",
            "reject_ratio",
            "unique_key_keeps_rows",
        ):
            assert checks[(view, name)].passed, (view, name, checks[(view, name)].metadata)
    md = (
        built["instance"]
        .get_latest_materialization_event(dg.AssetKey(["views", "orders_enriched"]))
        .asset_materialization.metadata
    )
    assert set(md["rows_per_shard"].value) == set(SHARDS)
    assert "| order_id |" in md["preview"].value
    assert {c.name for c in md["dagster/column_schema"].schema.columns} >= {"order_id", "_shard"}
    assert "json_drift" in md


def test_each_day_of_a_range_run_has_its_own_counts(built: dict) -> None:
    """A range run records one event per day: each says that day's rows, balance and
    rejects, not the window's (the run's summary adds them up)."""
    counted = dict(
        _duck(built, "SELECT updated_at::VARCHAR, COUNT(*) FROM orders_enriched GROUP BY 1")
    )
    rejected = dict(
        _duck(
            built, "SELECT updated_at::VARCHAR, COUNT(*) FROM orders_enriched__rejects GROUP BY 1"
        )
    )
    days = {(FIRST + dt.timedelta(days=i)).isoformat() for i in range((SEED_END - FIRST).days + 1)}
    view = _run_events(built, dg.AssetKey(["views", "orders_enriched"]))
    rejects = _run_events(built, dg.AssetKey(["views", "orders_enriched__rejects"]))
    assert set(view) == set(rejects) == days
    for day in days:
        md = view[day]
        assert md["dagster/row_count"].value == counted.get(day, 0), day
        assert sum(s["out"] for s in md["rows_per_shard"].value.values()) == counted.get(day, 0)
        assert (
            md["rejects"].value == rejected.get(day, 0) == rejects[day]["dagster/row_count"].value
        )
    assert sum(rejected.values()) > 0
    assert len({view[d]["dagster/row_count"].value for d in days}) > 1
    for destination in ("athena", "redshift"):
        landed = _run_events(built, dg.AssetKey([destination, "orders_enriched"]))
        assert {d: md["dagster/row_count"].value for d, md in landed.items()} == {
            d: counted.get(d, 0) for d in days
        }, destination
        assert all("landed" in md for md in landed.values())
    outcome = next(o for o in built["run"].outcomes if o.key == "views/orders_enriched")
    assert outcome.rows == sum(counted.values())
    # Lookup state is one versions table: one materialization for the run, its count the
    # versions it holds, which the run's summary reports as is.
    state = _run_events(built, dg.AssetKey(["state", "shard_00", "customers"]))
    assert list(state) == [None]
    versions = state[None]["dagster/row_count"].value
    assert versions >= state[None]["keys"].value > 0
    outcome = next(o for o in built["run"].outcomes if o.key == "state/shard_00/customers")
    assert outcome.rows == versions


def _run_events(built: dict, key: dg.AssetKey) -> dict[str, dict]:
    """{partition: metadata} of the module's run only (other tests re-run some days)."""
    records = built["instance"].fetch_materializations(key, limit=10_000).records
    run_id = built["run"].run_id
    return {
        r.partition_key: r.asset_materialization.metadata for r in records if r.run_id == run_id
    }


def test_every_declared_column_has_its_type_even_when_all_null(built: dict) -> None:
    types = dict(_duck(built, "SELECT column_name, column_type FROM (DESCRIBE orders_enriched)"))
    assert types["coupon"] == "VARCHAR"
    assert types["items_json"] == "VARCHAR"  # `json` is stored as its text
    assert types["grand_total"] == "DECIMAL(12,2)"
    assert types["order_id"] == "UBIGINT"
    assert types["is_gift"] == "BOOLEAN"
    assert types["updated_at"] == "DATE"
    assert types["_updated_at"].startswith("TIMESTAMP")


def test_rerunning_a_day_gives_the_same_rows(built: dict) -> None:
    day = DAYS[4]
    before = _duck(
        built,
        "SELECT * EXCLUDE (_run_id) FROM orders_enriched WHERE updated_at = ? "
        "ORDER BY _shard, order_id",
        [day],
    )
    result = dg.materialize(
        [built["defs"].resolve_assets_def(dg.AssetKey(["views", "orders_enriched"]))],
        instance=built["instance"],
        partition_key=str(day),
    )
    assert result.success
    after = _duck(
        built,
        "SELECT * EXCLUDE (_run_id) FROM orders_enriched WHERE updated_at = ? "
        "ORDER BY _shard, order_id",
        [day],
    )
    assert before == after


def test_views_shaped_day_by_day_on_one_thread_are_the_same(
    built: dict, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The module built its views with days on 3 threads; one thread, on a copy of the raw
    zone and lookup state, gives the same rows, rejects and per-shard counts."""
    lake = tmp_path / "lake"
    for zone in ("raw", "state"):
        shutil.copytree(built["lake"] / zone, lake / zone)
    monkeypatch.setenv("ETL_PLATFORM_LAKE", str(lake))
    monkeypatch.setenv("ETL_PLATFORM_THREADS", "1")
    for name in ("ETL_PLATFORM_S3_BUCKET", "ETL_PLATFORM_REDSHIFT_DSN"):
        monkeypatch.delenv(name)
    defs = build_definitions(Environment.TEST)
    with dg.instance_for_test() as instance:
        run = run_range(defs, "build_views", FIRST, SEED_END, instance=instance)
        assert run.success, [o.error for o in run.outcomes if o.error]
        one_thread = _rows_per_shard(instance, run.run_id)
    assert one_thread == _rows_per_shard(built["instance"], built["run"].run_id)
    views = [p.name for p in (built["lake"] / "views").iterdir() if p.is_dir()]
    assert len(views) == 13, views  # six views, their rejects, daily_orders by order day
    for name in views:
        threaded, single = (_view_rows(root / "views" / name) for root in (built["lake"], lake))
        assert threaded or name.endswith("__rejects"), name
        assert single == threaded, name


def _view_rows(folder: Path) -> list[tuple]:
    table = ds.dataset(folder, format="parquet", partitioning="hive").to_table()
    rows = table.drop_columns([c for c in table.column_names if c == "_run_id"]).to_pylist()
    return sorted((tuple(sorted(r.items())) for r in rows), key=repr)


def _rows_per_shard(instance: dg.DagsterInstance, run_id: str) -> dict[tuple, object]:
    """{(view, day): its balance per shard}, from each day's event of the run."""
    out = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        mat = record.dagster_event.event_specific_data.materialization
        if "rows_per_shard" in mat.metadata:
            key = (mat.asset_key.to_user_string(), mat.partition)
            out[key] = mat.metadata["rows_per_shard"].value
    return out


def test_a_reject_ratio_above_the_threshold_fails_and_blocks(
    built: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    views = tmp_path / "views"
    shutil.copytree(DEFAULTS_DIR / "views" / "customer_profiles", views / "customer_profiles")
    spec = views / "customer_profiles" / "defs.yaml"
    spec.write_text(spec.read_text().replace("max_reject_ratio: 0.05", "max_reject_ratio: 0.0"))
    monkeypatch.setenv("ETL_PLATFORM_VIEWS_DIR", str(views))
    defs = build_definitions(Environment.TEST)
    day = run_sql(
        _db("shard_00"),
        "SELECT MIN(DATE(updated_at)) FROM customers WHERE NOT " + VALID_OBJECT % {"c": "profile"},
    )[0][0]
    result = dg.materialize(
        [defs.resolve_assets_def(dg.AssetKey(["views", "customer_profiles"]))],
        instance=built["instance"],
        partition_key=str(day),
        raise_on_error=False,
    )
    assert not result.success
    failures = [e for e in result.all_events if e.is_step_failure]
    assert "views/customer_profiles: reject_ratio" in failures[0].step_failure_data.error.message
    evaluation = [e for e in result.get_asset_check_evaluations() if e.check_name == "reject_ratio"]
    assert not evaluation[0].passed and evaluation[0].metadata["rejected"].value > 0


def test_views_land_on_s3_and_glue_as_the_lake_has_them(built: dict) -> None:
    target = built["athena"].target()
    glue = boto3.client("glue", endpoint_url=target.endpoint_url, region_name=target.region)
    tables = {t["Name"] for t in glue.get_tables(DatabaseName=target.database)["TableList"]}
    assert tables == {
        "orders_enriched",
        "customer_profiles",
        "order_items",
        "order_status_history",
        "order_activity",
        "daily_orders",
    }
    parts = glue.get_partitions(DatabaseName=target.database, TableName="orders_enriched")
    assert sorted(p["Values"][0] for p in parts["Partitions"]) == [str(d) for d in DAYS]
    fs = target.filesystem()
    on_s3 = sorted(
        (str(p["Values"][0]), shard, int(order_id))
        for p in parts["Partitions"]
        for shard, order_id in zip(
            *ds.dataset(
                p["StorageDescriptor"]["Location"].removeprefix("s3://"),
                filesystem=fs,
                format="parquet",
            )
            .to_table(columns=["_shard", "order_id"])
            .to_pydict()
            .values(),
            strict=True,
        )
    )
    in_lake = sorted(
        (str(day), shard, int(order_id))
        for day, shard, order_id in _duck(
            built, "SELECT updated_at, _shard, order_id FROM orders_enriched"
        )
    )
    assert on_s3 == in_lake


def test_athena_ddl_text_matches_what_glue_registered(
    built: dict, capsys: pytest.CaptureFixture
) -> None:
    import re

    import sqlglot

    from etl_platform.cli import main

    assert main(["athena", "ddl", "orders_enriched"]) == 0
    ddl = capsys.readouterr().out
    sqlglot.parse_one(ddl.split(";")[0], read="athena")
    declared = dict(re.findall(r"^  `(\w+)` ([\w(),]+?),?$", ddl, flags=re.M))
    target = built["athena"].target()
    glue = boto3.client("glue", endpoint_url=target.endpoint_url, region_name=target.region)
    table = glue.get_table(DatabaseName=target.database, Name="orders_enriched")["Table"]
    registered = {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}
    assert declared == registered


def test_redshift_has_each_day_once_as_the_lake_has_it(built: dict) -> None:
    schema = built["pg_schema"]
    with psycopg.connect(PG_URL) as conn:
        in_pg = sorted(
            (str(day), shard, int(order_id), total)
            for day, shard, order_id, total in conn.execute(
                f'SELECT updated_at, _shard, order_id, total FROM "{schema}".orders_enriched'
            ).fetchall()
        )
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            )
        }
    assert tables == {"orders_enriched", "order_status_history"}  # the views that ask for it
    in_lake = sorted(
        (str(day), shard, int(order_id), total)
        for day, shard, order_id, total in _duck(
            built, "SELECT updated_at, _shard, order_id, total FROM orders_enriched"
        )
    )
    assert in_pg == in_lake


def test_one_destination_failing_names_it_and_a_retry_repeats_only_it(
    built: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from etl_platform.demo.mariadb_server import free_port

    day = DAYS[2]
    target = built["athena"].target()
    glue = boto3.client("glue", endpoint_url=target.endpoint_url, region_name=target.region)

    def location() -> str:
        part = glue.get_partition(
            DatabaseName=target.database, TableName="orders_enriched", PartitionValues=[str(day)]
        )
        return part["Partition"]["StorageDescriptor"]["Location"]

    monkeypatch.setenv(
        "ETL_PLATFORM_REDSHIFT_DSN",
        f"postgresql://postgres:s3cret@127.0.0.1:{free_port()}/postgres",
    )
    broken = build_definitions(Environment.TEST)
    keys = [
        dg.AssetKey(["athena", "orders_enriched"]),
        dg.AssetKey(["redshift", "orders_enriched"]),
    ]
    result = dg.materialize(
        [broken.resolve_assets_def(k) for k in keys],
        instance=built["instance"],
        partition_key=str(day),
        raise_on_error=False,
    )
    assert not result.success
    failures = [e for e in result.all_events if e.is_step_failure]
    assert [e.step_key for e in failures] == ["redshift__orders_enriched"]
    message = failures[0].step_failure_data.error.message
    assert "destination redshift (postgres@127.0.0.1:" in message and "s3cret" not in message
    landed = location()

    monkeypatch.setenv("ETL_PLATFORM_REDSHIFT_DSN", PG_URL)
    fixed = build_definitions(Environment.TEST)
    retry = dg.materialize(
        [fixed.resolve_assets_def(keys[1])], instance=built["instance"], partition_key=str(day)
    )
    assert retry.success
    assert location() == landed  # athena was not rewritten
    with psycopg.connect(PG_URL) as conn:
        rows = conn.execute(
            f'SELECT COUNT(*), COUNT(DISTINCT (_shard, order_id)) FROM "{built["pg_schema"]}"'
            ".orders_enriched WHERE updated_at = %s",
            (day,),
        ).fetchone()
    expected = _duck(built, "SELECT COUNT(*) FROM orders_enriched WHERE updated_at = ?", [day])
    assert rows == (expected[0][0], expected[0][0])


def test_redshift_days_copy_back_to_the_athena_layout(
    built: dict, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from etl_platform.cli import main

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("ETL_PLATFORM_ENV", "test")
    day = DAYS[5]
    target = built["athena"].target()
    glue = boto3.client("glue", endpoint_url=target.endpoint_url, region_name=target.region)

    def partition() -> dict:
        return glue.get_partition(
            DatabaseName=target.database,
            TableName="order_status_history",
            PartitionValues=[str(day)],
        )["Partition"]

    before = partition()["StorageDescriptor"]["Location"]
    assert (
        main(["redshift-to-athena", "order_status_history", "--start", str(day), "--end", str(day)])
        == 0
    )
    after = partition()["StorageDescriptor"]["Location"]
    assert after != before
    copied = ds.dataset(
        after.removeprefix("s3://"), filesystem=target.filesystem(), format="parquet"
    ).to_table()
    got = sorted(
        zip(
            copied.column("_shard").to_pylist(),
            [int(v) for v in copied.column("event_id").to_pylist()],
            strict=True,
        )
    )
    expected = sorted(
        (shard, int(event_id))
        for shard, event_id in _duck(
            built, "SELECT _shard, event_id FROM order_status_history WHERE updated_at = ?", [day]
        )
    )
    assert got == expected


def test_a_view_day_written_with_no_rows_empties_its_destinations(built: dict) -> None:
    """A day before the seed has no orders: its view day leaves no file, is written empty, and
    clears what the destinations held for it (planted here as if from an earlier build)."""
    from etl_platform.load.athena_ddl import table_location
    from etl_platform.load.athena_lake import land_partition
    from etl_platform.load.lake import Lake

    day = FIRST - dt.timedelta(days=1)
    view = Lake(built["lake"]).view("orders_enriched")
    target = built["athena"].target()
    stale = view.read_partition(DAYS[0]).slice(0, 1)
    land_partition(target, "orders_enriched", day, stale, write_id="stale")
    schema = built["pg_schema"]
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(
            f'INSERT INTO "{schema}".orders_enriched (order_id, _shard, updated_at) '
            "VALUES (%s, %s, %s)",
            (1, "shard_00", day),
        )
    run = run_range(built["defs"], "etl_all", day, day, instance=built["instance"])
    assert run.success, [o.error for o in run.outcomes if o.error]

    assert view.is_written(day) and view.partition_files(day) == []
    assert not view.partition_dir(day).exists()
    with psycopg.connect(PG_URL) as conn:
        left = conn.execute(
            f'SELECT COUNT(*) FROM "{schema}".orders_enriched WHERE updated_at = %s', (day,)
        ).fetchone()
    assert left == (0,)
    glue = boto3.client("glue", endpoint_url=target.endpoint_url, region_name=target.region)
    parts = glue.get_partitions(DatabaseName=target.database, TableName="orders_enriched")
    assert str(day) not in {p["Values"][0] for p in parts["Partitions"]}
    prefix = table_location(target.bucket, target.prefix, "orders_enriched").removeprefix("s3://")
    found = target.filesystem().get_file_info(
        pafs.FileSelector(f"{prefix}updated_at={day}/", allow_not_found=True, recursive=True)
    )
    assert [f.path for f in found if f.type == pafs.FileType.File] == []
    assert _duck(built, "SELECT COUNT(*) FROM orders_enriched WHERE updated_at = ?", [day]) == [
        (0,)
    ]
    for key in (["views", "orders_enriched"], ["redshift", "orders_enriched"]):
        event = built["instance"].get_latest_materialization_event(dg.AssetKey(key))
        assert event.asset_materialization.partition == str(day)
        assert event.asset_materialization.metadata["dagster/row_count"].value == 0
