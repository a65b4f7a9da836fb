"""A report view end to end against MariaDB: payments per paid day (a computed grain) on two
shards, per shard and across shards, through extraction, the view's days, its current rows and
the report asset with its check, run by Dagster. A payment changed on a later day moves its
amount from one paid day to another exactly once, a payment that arrives late lands on its
day, and the report stays MariaDB's own GROUP BY over the source table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml
from dagster_duckdb import DuckDBResource

from etl_platform.asset_keys import report_asset_key
from etl_platform.components.report import CHECK, build_report_assets
from etl_platform.definitions import build_definitions
from etl_platform.env import Environment
from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.extract.schema_snapshot import snapshot_schema
from etl_platform.load.lake import Lake
from etl_platform.load.report_file import read_report, report_path
from etl_platform.resources import LakeResource
from etl_platform.runner import run_range
from etl_platform.specs.loader import load_sources
from etl_platform.specs.source_schema import render_schema
from etl_platform.specs.view_loader import VIEW_COMPONENT_TYPE
from etl_platform.specs.views import ViewSpec
from etl_platform.steps.current_rows import sync_current
from etl_platform_tests.conftest import TEST_MYSQL_URL, run_sql

pytestmark = pytest.mark.integration

D = dt.date
FIRST, LAST, LATER = D(2024, 3, 1), D(2024, 3, 3), D(2024, 3, 4)
SHARDS = ("shard_00", "shard_01")

_TABLE = """
    CREATE TABLE payments (
      id          INT            NOT NULL,
      customer_id INT            NOT NULL,
      amount      DECIMAL(12,2)  NULL,
      paid_at     DATETIME(6)    NOT NULL,
      updated_at  DATETIME(6)    NOT NULL,
      PRIMARY KEY (id),
      KEY idx_payments_updated_at (updated_at)
    ) ENGINE=InnoDB
"""


def _at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2024, 3, day, hour, minute)


#: Per shard: (id, customer_id, amount, paid_at, updated_at). Ids repeat across shards (each
#: shard's own rows); one amount is NULL; payment 3 was paid on 03-01 and updated on 03-02.
PAYMENTS = {
    "shard_00": [
        (1, 10, Decimal("10.00"), _at(1, 9), _at(1, 9)),
        (2, 11, Decimal("0.10"), _at(1, 10), _at(1, 10)),
        (3, 10, Decimal("0.20"), _at(1, 23, 59), _at(2, 8)),
        (4, 12, None, _at(2, 11), _at(2, 11)),
        (5, 13, Decimal("99999.99"), _at(3, 12), _at(3, 12)),
        (6, 11, Decimal("0.05"), _at(3, 13), _at(3, 13)),
    ],
    "shard_01": [
        (1, 20, Decimal("7.77"), _at(1, 8), _at(1, 8)),
        (2, 21, Decimal("3.33"), _at(2, 9), _at(2, 9)),
        (3, 21, Decimal("3.34"), _at(2, 10), _at(2, 10)),
    ],
}

COLUMNS = {
    "payment_id": {"from": "id", "type": "int64"},
    "customer_id": {"from": "customer_id", "type": "int64"},
    "amount": {"from": "amount", "type": "decimal(12,2)"},
    "paid_at": {"from": "paid_at", "type": "timestamp"},
    "paid_day": {"expr": "DATE(paid_at)", "type": "date"},
}
PER_SHARD = {
    "name": "payments_daily",
    "source": "payments",
    "columns": COLUMNS,
    "unique_key": ["payment_id"],
    "grain": ["paid_day"],
    "measures": {
        "payments": "count()",
        "revenue": "sum(amount)",
        "avg_amount": "avg(amount)",
        "customers": "count_distinct(customer_id)",
        "largest": "max(amount)",
        "first_paid": "min(paid_at)",
    },
}
ACROSS = {
    "name": "payments_all",
    "source": "payments",
    "columns": COLUMNS,
    "unique_key": ["payment_id"],
    "grain": ["paid_day"],
    "measures": {"payments": "count()", "revenue": "sum(amount)"},
    "across_shards": True,
}


@pytest.fixture
def shards(scratch_db: MySqlEndpoint, mysql_server: MySqlEndpoint) -> Iterator[dict]:
    """Two shard databases: the test's scratch database and one beside it."""
    other = f"{scratch_db.database}_b"[:64]
    run_sql(mysql_server, f"DROP DATABASE IF EXISTS `{other}`", f"CREATE DATABASE `{other}`")
    endpoints = {"shard_00": scratch_db, "shard_01": mysql_server.with_database(other)}
    for shard, endpoint in endpoints.items():
        run_sql(endpoint, _TABLE)
        _insert(endpoint, PAYMENTS[shard])
    yield endpoints
    run_sql(mysql_server, f"DROP DATABASE IF EXISTS `{other}`")


def _insert(endpoint: MySqlEndpoint, rows: list[tuple]) -> None:
    conn = endpoint.connect()
    try:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO payments (id, customer_id, amount, paid_at, updated_at) "
                "VALUES (%s, %s, %s, %s, %s)",
                rows,
            )
        conn.commit()
    finally:
        conn.close()


@pytest.fixture
def platform(shards: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    sources = tmp_path / "sources.yaml"
    lines = [
        "start: 2024-02-28",
        "extract: {batch_rows: 100, retry: {max_retries: 0, delay_seconds: 0}}",
        "shards:",
        *(
            f"  {s}: {{url_env: ETL_TEST_SHARD_URL, database: {e.database}}}"
            for s, e in shards.items()
        ),
        "tables:",
        "  payments: {primary_key: [id]}",
    ]
    sources.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("ETL_TEST_SHARD_URL", TEST_MYSQL_URL)
    (tmp_path / "sources.schema.yaml").write_text(
        render_schema(snapshot_schema(load_sources(sources)))
    )
    for view in (PER_SHARD, ACROSS):
        path = tmp_path / "views" / view["name"] / "defs.yaml"
        path.parent.mkdir(parents=True)
        path.write_text(yaml.safe_dump({"type": VIEW_COMPONENT_TYPE, "attributes": view}))
    monkeypatch.setenv("ETL_PLATFORM_SOURCES", str(sources))
    monkeypatch.setenv("ETL_PLATFORM_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("ETL_PLATFORM_VIEWS_DIR", str(tmp_path / "views"))
    spec_sources = load_sources(sources)
    specs = {v["name"]: ViewSpec.model_validate(v) for v in (PER_SHARD, ACROSS)}
    lake = tmp_path / "lake"
    return {
        # Loading the definitions validates the view files, report fields included.
        "defs": build_definitions(Environment.TEST),
        "specs": specs,
        "reports": {name: build_report_assets(s, spec_sources) for name, s in specs.items()},
        "lake": lake,
        "resources": {
            "lake": LakeResource(root=str(lake)),
            "duckdb": DuckDBResource(database=str(tmp_path / "report.duckdb")),
        },
    }


def _build_days(platform: dict, instance: dg.DagsterInstance, first: D, last: D) -> None:
    for job in ("extract_raw", "build_views"):
        run = run_range(platform["defs"], job, first, last, instance=instance)
        assert run.success, [o.error for o in run.outcomes if o.error]


def _report(platform: dict, instance: dg.DagsterInstance, name: str) -> pl.DataFrame:
    """Current rows brought up to date, then the report and its check."""
    sync_current(Lake(platform["lake"]), platform["specs"][name])
    result = dg.materialize(
        [platform["reports"][name]], resources=platform["resources"], instance=instance
    )
    assert result.success
    [check] = result.get_asset_check_evaluations()
    assert check.passed, check.metadata
    report = read_report(platform["lake"], name)
    assert report is not None
    return report


def _mariadb_per_shard(shards: dict) -> dict[tuple, tuple]:
    """MariaDB's own GROUP BY over each shard's table."""
    out = {}
    for shard, endpoint in shards.items():
        for day, *measures in run_sql(
            endpoint,
            "SELECT DATE(paid_at), COUNT(*), SUM(amount), AVG(amount), "
            "COUNT(DISTINCT customer_id), MAX(amount), MIN(paid_at) FROM payments GROUP BY 1",
        ):
            out[(shard, day)] = tuple(measures)
    return out


def _mariadb_across(shards: dict) -> dict[D, tuple]:
    union = " UNION ALL ".join(
        f"SELECT paid_at, amount FROM `{e.database}`.payments" for e in shards.values()
    )
    rows = run_sql(
        shards["shard_00"],
        f"SELECT DATE(paid_at), COUNT(*), SUM(amount) FROM ({union}) p GROUP BY 1",
    )
    return {day: (n, total) for day, n, total in rows}


def _ours_per_shard(report: pl.DataFrame) -> dict[tuple, tuple]:
    return {
        (r["_shard"], r["paid_day"]): (
            r["payments"],
            r["revenue"],
            r["avg_amount"],
            r["customers"],
            r["largest"],
            r["first_paid"].replace(tzinfo=None),
        )
        for r in report.to_dicts()
    }


def _ours_across(report: pl.DataFrame) -> dict[D, tuple]:
    return {r["paid_day"]: (r["payments"], r["revenue"]) for r in report.to_dicts()}


def test_a_report_follows_changed_and_late_rows_and_stays_mariadbs_group_by(
    platform: dict, shards: dict
) -> None:
    lake = platform["lake"]
    with dg.instance_for_test() as instance:
        _build_days(platform, instance, FIRST, LAST)
        per_shard = _report(platform, instance, "payments_daily")
        across = _report(platform, instance, "payments_all")
        assert _ours_per_shard(per_shard) == _mariadb_per_shard(shards)
        assert _ours_across(across) == _mariadb_across(shards)
        # Payment 3 was paid late on 03-01 and seen on 03-02: its paid day, not its cursor's.
        before = _ours_per_shard(per_shard)
        assert before[("shard_00", D(2024, 3, 1))][:3] == (
            3,
            Decimal("10.30"),
            Decimal("3.433333"),
        )
        assert per_shard.schema["revenue"] == pl.Decimal(38, 2)
        assert per_shard.schema["avg_amount"] == pl.Decimal(38, 6)
        # A NULL amount is not summed; a day of only NULLs would give NULL.
        assert before[("shard_00", D(2024, 3, 2))][:3] == (1, None, None)

        # On 03-04 payment 1 of shard_00 is corrected: paid on 03-02, 15.00 instead of 10.00;
        # and a payment of 03-01 arrives late.
        run_sql(
            shards["shard_00"],
            "UPDATE payments SET paid_at = '2024-03-02 09:00:00', amount = 15.00, "
            "updated_at = '2024-03-04 10:00:00' WHERE id = 1",
        )
        _insert(shards["shard_01"], [(4, 22, Decimal("1.00"), _at(1, 7), _at(4, 11))])
        _build_days(platform, instance, LATER, LATER)
        # The view keeps both versions of payment 1, one on each day...
        days = {
            day: pl.read_parquet(lake / "views" / "payments_daily" / f"updated_at={day}")
            for day in (FIRST, LATER)
        }
        for day in days.values():
            assert 1 in day.filter(pl.col("_shard") == "shard_00")["payment_id"].to_list()
        # ...and the report counts it once, on its new paid day.
        per_shard = _report(platform, instance, "payments_daily")
        across = _report(platform, instance, "payments_all")

    after = _ours_per_shard(per_shard)
    assert after == _mariadb_per_shard(shards)
    assert _ours_across(across) == _mariadb_across(shards)
    old, new = ("shard_00", D(2024, 3, 1)), ("shard_00", D(2024, 3, 2))
    assert after[old][:2] == (before[old][0] - 1, before[old][1] - Decimal("10.00"))
    assert after[new][:2] == (before[new][0] + 1, Decimal("15.00"))
    late = ("shard_01", D(2024, 3, 1))
    assert after[late][:2] == (before[late][0] + 1, before[late][1] + Decimal("1.00"))
    sources = sum(n for n, *_ in _mariadb_per_shard(shards).values())
    assert per_shard["payments"].sum() == across["payments"].sum() == sources == 10


def test_the_check_fails_when_the_report_is_tampered_with(platform: dict) -> None:
    name = "payments_daily"
    key = report_asset_key(name)
    with dg.instance_for_test() as instance:
        _build_days(platform, instance, FIRST, LAST)
        report = _report(platform, instance, name)
        path = report_path(platform["lake"], name)
        report.with_columns(
            revenue=pl.when(pl.col("paid_day") == FIRST)
            .then(pl.col("revenue") + pl.lit(Decimal("0.01")))
            .otherwise(pl.col("revenue"))
        ).write_parquet(path)
        result = dg.materialize(
            [platform["reports"][name]],
            resources=platform["resources"],
            instance=instance,
            selection=dg.AssetSelection.checks(dg.AssetCheckKey(key, CHECK)),
            raise_on_error=False,
        )
    [check] = result.get_asset_check_evaluations()
    assert not check.passed
    assert check.metadata["groups_differing"].value == 2  # 03-01 on each shard
    assert check.metadata["groups_compared"].value == report.height
    [sample] = [s for s in check.metadata["sample"].value if s["group"]["_shard"] == "shard_00"]
    assert sample["measures"] == {"revenue": {"report": "10.31", "detail": "10.30"}}
