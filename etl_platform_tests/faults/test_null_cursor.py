"""Rows whose cursor is NULL, against the real MariaDB: counted, kept aside, or placed, never lost.

Three copies of one table, one per `null_cursor` rule, extracted through Dagster; the server's
own `COUNT(*) ... IS NULL` and keys are the expectation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from etl_platform.definitions import build_definitions
from etl_platform.env import Environment
from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.extract.extractor import ExtractRequest, extract_window
from etl_platform.load.lake import Lake
from etl_platform.runner import run_range
from etl_platform_tests.conftest import TEST_MYSQL_URL, run_sql

pytestmark = pytest.mark.integration

DAY1, DAY2, DAY3 = dt.date(2024, 3, 1), dt.date(2024, 3, 2), dt.date(2024, 3, 3)
TABLES = {
    "items_reject": "reject",
    "items_fallback": "{fallback: created_at}",
    "items_ignore": "ignore",
}

_CREATE = """
CREATE TABLE `{t}` (
  id          INT UNSIGNED NOT NULL PRIMARY KEY,
  name        VARCHAR(32)  NOT NULL,
  created_at  DATETIME(6)  NULL,
  updated_at  DATETIME(6)  NULL,
  KEY idx_{t}_updated_at (updated_at)
) ENGINE=InnoDB
"""


def _rows() -> list[tuple]:
    """Nine rows a day with a cursor; five without, their created_at on DAY2; three without
    either."""
    rows = []
    for i, day in enumerate((DAY1, DAY2, DAY3)):
        for j in range(9):
            at = dt.datetime.combine(day, dt.time(1 + j, 30))
            rows.append((100 * (i + 1) + j, f"r{i}{j}", at - dt.timedelta(days=9), at))
    rows += [(500 + j, f"n{j}", dt.datetime.combine(DAY2, dt.time(7, j)), None) for j in range(5)]
    rows += [(900 + j, f"z{j}", None, None) for j in range(3)]
    return rows


@pytest.fixture
def shop(scratch_db: MySqlEndpoint) -> MySqlEndpoint:
    rows = _rows()
    for table in TABLES:
        run_sql(scratch_db, _CREATE.format(t=table))
        conn = scratch_db.connect()
        try:
            with conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO `{table}` (id, name, created_at, updated_at) "
                    "VALUES (%s, %s, %s, %s)",
                    rows,
                )
        finally:
            conn.close()
    return scratch_db


@pytest.fixture
def platform(
    shop: MySqlEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[], tuple[dg.Definitions, Path]]:
    def build() -> tuple[dg.Definitions, Path]:
        tables = "".join(
            f"  {t}: {{primary_key: [id], null_cursor: {rule}}}\n" for t, rule in TABLES.items()
        )
        path = tmp_path / "sources.yaml"
        path.write_text(
            "start: 2024-01-01\n"
            "extract: {batch_rows: 100, retry: {max_retries: 0, delay_seconds: 0}}\n"
            f"shards:\n  shard_00: {{url_env: ETL_TEST_SHARD_URL, database: {shop.database}}}\n"
            f"tables:\n{tables}"
        )
        monkeypatch.setenv("ETL_PLATFORM_SOURCES", str(path))
        monkeypatch.setenv("ETL_PLATFORM_LAKE", str(tmp_path / "lake"))
        monkeypatch.setenv("ETL_TEST_SHARD_URL", TEST_MYSQL_URL)
        monkeypatch.setenv("ETL_PLATFORM_VIEWS_DIR", str(tmp_path / "no_views"))  # raw only
        return build_definitions(Environment.TEST), tmp_path / "lake"

    return build


def _key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", "shard_00", table])


def _metadata(instance: dg.DagsterInstance, table: str) -> dict:
    event = instance.get_latest_materialization_event(_key(table))
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def _check(instance: dg.DagsterInstance, run_id: str, table: str) -> dg.AssetCheckEvaluation:
    evaluations = [
        r.dagster_event.asset_check_evaluation_data
        for r in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    ]
    return next(e for e in evaluations if e.asset_key == _key(table))


def _server_ids(shop: MySqlEndpoint, table: str, where: str) -> set[int]:
    return {r[0] for r in run_sql(shop, f"SELECT id FROM `{table}` WHERE {where}")}


def _null_count(shop: MySqlEndpoint, table: str) -> int:
    return run_sql(shop, f"SELECT COUNT(*) FROM `{table}` WHERE updated_at IS NULL")[0][0]


def _raw(lake: Path, table: str, day: dt.date):
    return pq.read_table(lake / "raw" / "shard_00" / table / f"updated_at={day}")


def _rejects(lake: Path, table: str):
    return pq.read_table(lake / "raw" / "shard_00" / f"{table}__null_cursor")


def _run(defs: dg.Definitions, instance: dg.DagsterInstance) -> str:
    run = run_range(defs, "extract_raw", DAY1, DAY3, instance=instance)
    assert run.success, [o.error for o in run.outcomes if o.error]
    return run.run_id


def test_every_rule_counts_and_no_row_vanishes(platform, shop: MySqlEndpoint) -> None:
    defs, lake = platform()
    with dg.instance_for_test() as instance:
        run_id = _run(defs, instance)
        for table in TABLES:
            md = _metadata(instance, table)
            assert md["null_cursor_rows"] == _null_count(shop, table) == 8, table
            assert _check(instance, run_id, table).passed  # a first count is no growth

        # reject: every NULL-cursor row's key is kept, with the shard, table and reason.
        rejects = _rejects(lake, "items_reject").to_pylist()
        assert {r["id"] for r in rejects} == _server_ids(shop, "items_reject", "updated_at IS NULL")
        assert {(r["_shard"], r["_table"], r["_reason"]) for r in rejects} == {
            ("shard_00", "items_reject", "cursor updated_at is NULL")
        }
        assert _metadata(instance, "items_reject")["null_cursor_rejected"] == 8
        raw_ids = {
            i for d in (DAY1, DAY2, DAY3) for i in _raw(lake, "items_reject", d)["id"].to_pylist()
        }
        assert raw_ids == _server_ids(shop, "items_reject", "updated_at IS NOT NULL")

        # fallback: rows with a created_at land on its day, their cursor holding it; rows with
        # neither are kept as rejects.
        day2 = _raw(lake, "items_fallback", DAY2).to_pylist()
        placed = {r["id"]: r for r in day2 if r["id"] >= 500}
        assert set(placed) == _server_ids(
            shop, "items_fallback", "updated_at IS NULL AND created_at IS NOT NULL"
        )
        assert all(r["updated_at"] == r["created_at"] for r in placed.values())
        assert len(day2) == 9 + 5
        md = _metadata(instance, "items_fallback")
        assert md["null_cursor_placed_by_fallback"] == 5
        assert "`updated_at` IS NULL AND `created_at` >= %s" in md["query"]
        rejects = _rejects(lake, "items_fallback").to_pylist()
        assert {r["id"] for r in rejects} == _server_ids(
            shop, "items_fallback", "updated_at IS NULL AND created_at IS NULL"
        )
        assert rejects[0]["_reason"] == "cursor updated_at and fallback created_at are NULL"

        # ignore: counted only.
        assert not (lake / "raw" / "shard_00" / "items_ignore__null_cursor").exists()
        assert "null_cursor_rejected" not in _metadata(instance, "items_ignore")
        assert sum(_raw(lake, "items_ignore", d).num_rows for d in (DAY1, DAY2, DAY3)) == 27


def test_the_check_fails_when_null_cursor_rows_grow(platform, shop: MySqlEndpoint) -> None:
    defs, lake = platform()
    with dg.instance_for_test() as instance:
        _run(defs, instance)
        run_sql(
            shop,
            "INSERT INTO items_reject (id, name, created_at, updated_at) VALUES "
            "(950, 'late', NULL, NULL), (951, 'later', NULL, NULL)",
        )
        run_id = _run(defs, instance)
        check = _check(instance, run_id, "items_reject")
        assert not check.passed
        assert check.severity == dg.AssetCheckSeverity.WARN
        assert check.metadata["null_cursor_rows"].value == _null_count(shop, "items_reject") == 10
        assert check.metadata["previous_null_cursor_rows"].value == 8
        assert len(_rejects(lake, "items_reject")) == 10
        assert _check(instance, run_id, "items_ignore").passed  # its own count did not grow

        # Fixed at the source: the count falls, the check passes, the rejects file empties.
        run_sql(
            shop,
            "UPDATE items_reject SET updated_at = '2024-03-03 12:00:00' WHERE updated_at IS NULL",
        )
        run_id = _run(defs, instance)
        assert _check(instance, run_id, "items_reject").passed
        assert _metadata(instance, "items_reject")["null_cursor_rows"] == 0
        assert len(_rejects(lake, "items_reject")) == 0
        assert _raw(lake, "items_reject", DAY3).num_rows == 9 + 10


def test_every_backend_places_rows_by_the_fallback(
    shop: MySqlEndpoint, tmp_path: Path, extract_backend: str
) -> None:
    """connectorx cannot page a fallback window: the streaming reader reads it instead."""
    request = ExtractRequest(
        shard="shard_00",
        table="items_fallback",
        endpoint=shop,
        days=[DAY1, DAY2, DAY3],
        cursor="updated_at",
        primary_key=["id"],
        backend=extract_backend,
        fallback="created_at",
    )
    result = extract_window(request, Lake(tmp_path))
    assert {d: s.rows for d, s in result.days.items()} == {DAY1: 9, DAY2: 14, DAY3: 9}
    assert result.query.params[2:] == ("2024-03-01 00:00:00.000000", "2024-03-04 00:00:00.000000")
