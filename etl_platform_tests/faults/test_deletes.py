"""Deletes in batch mode, against the real MariaDB: lookup state keeps a deleted row current
until key reconciliation (`reconcile_keys: true`) marks it gone from then on; later updates do
not bring it back, and the days before keep it.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from etl_platform.definitions import build_definitions
from etl_platform.env import DEFAULTS_DIR, Environment
from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.load.lake import Lake
from etl_platform.runner import extract_lookup_history, run_range
from etl_platform.transform.versions import as_of
from etl_platform_tests.conftest import TEST_MYSQL_URL, run_sql

pytestmark = pytest.mark.integration

END = dt.date(2024, 3, 10)
DAYS = 6
FIRST = END - dt.timedelta(days=DAYS - 1)
STATE = dg.AssetKey(["state", "shard_00", "customers"])
RECONCILE = dg.AssetKey(["reconcile", "shard_00", "customers"])


@pytest.fixture(scope="module")
def shop(mysql_server: MySqlEndpoint) -> Iterator[MySqlEndpoint]:
    """A demo shard of its own: this module deletes rows from it."""
    from etl_platform.demo.seed import seed_shards

    report = seed_shards(
        mysql_server,
        shards=1,
        orders_per_shard=800,  # 200 customers: more than one key batch of 100
        days=DAYS,
        end=END,
        db_prefix=f"etl_test_deletes_{os.getpid()}_",  # concurrent runs do not share it
        processes=1,
    )
    yield mysql_server.with_database(report.databases[0])
    for database in report.databases:
        run_sql(mysql_server, f"DROP DATABASE IF EXISTS `{database}`")


@pytest.fixture
def platform(
    shop: MySqlEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[dg.Definitions, Path]:
    """orders_enriched (it looks up customers) over the shard, customers reconciled."""
    path = tmp_path / "sources.yaml"
    path.write_text(
        "start: 2024-01-01\n"
        "extract: {batch_rows: 100, retry: {max_retries: 0, delay_seconds: 0}}\n"
        f"shards:\n  shard_00: {{url_env: ETL_TEST_SHARD_URL, database: {shop.database}}}\n"
        "tables:\n"
        "  customers: {primary_key: [id], json: [profile], reconcile_keys: true}\n"
        "  orders: {primary_key: [id], json: [payload]}\n"
    )
    shutil.copy(DEFAULTS_DIR / "sources.schema.yaml", tmp_path / "sources.schema.yaml")
    views = tmp_path / "views"
    shutil.copytree(DEFAULTS_DIR / "views" / "orders_enriched", views / "orders_enriched")
    monkeypatch.setenv("ETL_PLATFORM_SOURCES", str(path))
    monkeypatch.setenv("ETL_PLATFORM_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("ETL_TEST_SHARD_URL", TEST_MYSQL_URL)
    monkeypatch.setenv("ETL_PLATFORM_VIEWS_DIR", str(views))
    return build_definitions(Environment.TEST), tmp_path / "lake"


def _state_ids(lake: Path, day: dt.date) -> set[int]:
    """The customer ids lookups see as of the end of `day`."""
    versions = Lake(lake).versions("shard_00", "customers")
    frame = versions.read(through=day)
    assert frame is not None
    return set(as_of(frame, day, key=["id"], cursor="updated_at")["id"].to_list())


def _run_state(defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
    run = run_range(defs, "build_views", END, END, instance=instance, asset_selection=[STATE])
    assert run.success, [o.error for o in run.outcomes if o.error]


def test_reconciliation_marks_a_deleted_customer_gone_from_then_on(
    platform: tuple[dg.Definitions, Path], shop: MySqlEndpoint
) -> None:
    defs, lake = platform
    today = dt.datetime.now(dt.UTC).date()
    with dg.instance_for_test() as instance:
        history = extract_lookup_history(defs, FIRST, instance=instance)
        assert history is not None and history.success
        run = run_range(defs, "extract_raw", FIRST, END, instance=instance)
        assert run.success, [o.error for o in run.outcomes if o.error]
        _run_state(defs, instance)
        gone = run_sql(shop, "SELECT MIN(id) FROM customers")[0][0]
        assert gone in _state_ids(lake, END)
        run_sql(shop, "DELETE FROM customers WHERE id = %s", params=(gone,))

        # Batch mode: the deleted row stays current.
        _run_state(defs, instance)
        assert gone in _state_ids(lake, today)

        result = defs.resolve_job_def("reconcile_keys").execute_in_process(instance=instance)
        assert result.success
        md = instance.get_latest_materialization_event(RECONCILE).asset_materialization.metadata
        server_ids = {r[0] for r in run_sql(shop, "SELECT id FROM customers")}
        assert md["keys_dropped"].value == 1
        assert md["keys_compared"].value == len(server_ids) + 1
        assert md["source_keys"].value == len(server_ids)
        assert md["deleted_from"].value.startswith(str(today))
        assert _state_ids(lake, today) == server_ids
        # The days before the delete was seen keep the history as it was.
        assert gone in _state_ids(lake, END)

        # Bringing the state up to date again, even from re-extracted days, keeps it gone.
        run = run_range(defs, "extract_raw", FIRST, END, instance=instance)
        assert run.success
        _run_state(defs, instance)
        assert _state_ids(lake, today) == server_ids
        # A second reconciliation finds nothing more to drop.
        result = defs.resolve_job_def("reconcile_keys").execute_in_process(instance=instance)
        md = instance.get_latest_materialization_event(RECONCILE).asset_materialization.metadata
        assert md["keys_dropped"].value == 0


def test_reconciliation_without_state_has_nothing_to_do(
    platform: tuple[dg.Definitions, Path],
) -> None:
    defs, lake = platform
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("reconcile_keys").execute_in_process(instance=instance)
        assert result.success
        md = instance.get_latest_materialization_event(RECONCILE).asset_materialization.metadata
        assert md["keys_dropped"].value == 0 and md["deleted_from"].value == ""
        assert not (lake / "state").exists()


def test_reconciliation_is_opt_in_and_scheduled_stopped(
    platform: tuple[dg.Definitions, Path],
) -> None:
    defs, _ = platform
    graph = defs.resolve_asset_graph()
    reconciled = {k for k in graph.get_all_asset_keys() if k.path[0] == "reconcile"}
    assert reconciled == {RECONCILE}  # customers opts in; orders does not
    node = graph.get(RECONCILE)
    assert node.group_name == "lookup_state" and node.partitions_def is None
    assert node.pools == {"mysql_shard_00"}
    schedule = defs.resolve_schedule_def("reconcile_keys_schedule")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
