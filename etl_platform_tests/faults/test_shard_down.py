"""One shard down: the view builds from the shards that are there, says which are missing,
and rebuilds when the missing shard's day lands (its automation condition)."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest

from etl_platform.definitions import build_definitions
from etl_platform.env import DEFAULTS_DIR, Environment
from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.runner import run_range
from etl_platform_tests.conftest import SEED_END, SEED_PREFIX, TEST_MYSQL_URL, run_sql

pytestmark = pytest.mark.integration

DAY = SEED_END - dt.timedelta(days=2)
VIEW = dg.AssetKey(["views", "orders_enriched"])
DOWN_URL = "mysql://root:wrong-password@127.0.0.1:1/"


def _sources(start: dt.date) -> str:
    return f"""
start: {start}
extract: {{retry: {{max_retries: 0}}, connect_timeout_seconds: 2}}
shards:
  shard_00: {{url_env: ETL_TEST_UP_URL, database: {SEED_PREFIX}00}}
  shard_01: {{url_env: ETL_TEST_DOWN_URL, database: {SEED_PREFIX}01}}
tables:
  customers: {{primary_key: [id], json: [profile]}}
  orders:    {{primary_key: [id], json: [payload]}}
"""


@pytest.fixture
def platform(
    seeded_shards: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[dt.date], dg.Definitions]:
    views = tmp_path / "views"
    shutil.copytree(DEFAULTS_DIR / "views" / "orders_enriched", views / "orders_enriched")
    shutil.copy(DEFAULTS_DIR / "sources.schema.yaml", tmp_path / "sources.schema.yaml")
    monkeypatch.setenv("ETL_PLATFORM_SOURCES", str(tmp_path / "sources.yaml"))
    monkeypatch.setenv("ETL_PLATFORM_VIEWS_DIR", str(views))
    monkeypatch.setenv("ETL_PLATFORM_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("ETL_TEST_UP_URL", TEST_MYSQL_URL)
    monkeypatch.setenv("ETL_TEST_DOWN_URL", DOWN_URL)

    def build(start: dt.date) -> dg.Definitions:
        (tmp_path / "sources.yaml").write_text(_sources(start))
        return build_definitions(Environment.TEST)

    return build


def _keys(*names: str) -> list[dg.AssetKey]:
    return [dg.AssetKey(n.split("/")) for n in names]


def _customers_history(
    defs: dg.Definitions, instance: dg.DagsterInstance, first: dt.date, last: dt.date, shard: str
) -> None:
    """A lookup state is folded from the looked-up table's history: extract it first."""
    history = run_range(
        defs,
        "extract_raw",
        first,
        last,
        instance=instance,
        asset_selection=_keys(f"raw/{shard}/customers"),
    )
    assert history.success


def test_a_view_day_builds_from_the_shards_that_are_there(platform) -> None:
    defs = platform(dt.date(2024, 1, 1))
    with dg.instance_for_test() as instance:
        _customers_history(defs, instance, dt.date(2024, 1, 1), DAY - dt.timedelta(1), "shard_00")
        extract = run_range(defs, "extract_raw", DAY, DAY, instance=instance)
        failed = sorted(o.key for o in extract.outcomes if o.error)
        assert failed == ["raw__shard_01__customers", "raw__shard_01__orders"]  # step keys
        state = run_range(
            defs,
            "build_views",
            DAY,
            DAY,
            instance=instance,
            asset_selection=_keys("state/shard_00/customers"),
        )
        assert state.success
        view = run_range(
            defs,
            "build_views",
            DAY,
            DAY,
            instance=instance,
            asset_selection=_keys("views/orders_enriched", "views/orders_enriched__rejects"),
        )
        assert view.success, [o.error for o in view.outcomes if o.error]
        mat = instance.get_latest_materialization_event(VIEW).asset_materialization
        assert mat.metadata["missing_shards"].value == {
            "shard_01": ["raw/shard_01/orders", "state/shard_01/customers"]
        }
        assert set(mat.metadata["rows_per_shard"].value) == {"shard_00"}
        checks = {
            e.check_name: e
            for e in (
                r.dagster_event.event_specific_data
                for r in instance.all_logs(
                    view.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
                )
            )
        }
        assert not checks["all_shards_present"].passed
        assert checks["all_shards_present"].severity == dg.AssetCheckSeverity.WARN
        # The data is from 2024: its lag check fails whatever the shards; the rest pass.
        passing = {n: c for n, c in checks.items() if n not in ("all_shards_present", "data_lag")}
        assert all(c.passed for c in passing.values())
    up = MySqlEndpoint.from_url(TEST_MYSQL_URL, database=f"{SEED_PREFIX}00")
    expected = run_sql(
        up,
        "SELECT COUNT(*) FROM orders WHERE updated_at >= %s AND updated_at < %s",
        params=(DAY.isoformat(), (DAY + dt.timedelta(days=1)).isoformat()),
    )[0][0]
    out = mat.metadata["rows_per_shard"].value["shard_00"]
    assert out["in"] == expected and out["out"] + out["rejected"] + out["duplicates"] == expected


def test_a_view_with_no_shard_there_fails_naming_the_inputs(platform) -> None:
    defs = platform(dt.date(2024, 1, 1))
    with dg.instance_for_test() as instance:
        view = run_range(
            defs,
            "build_views",
            DAY,
            DAY,
            instance=instance,
            asset_selection=_keys("views/orders_enriched", "views/orders_enriched__rejects"),
        )
    assert not view.success
    error = next(o.error for o in view.outcomes if o.error)
    assert "no shard has its inputs" in error and "raw/shard_00/orders" in error


def test_the_view_rebuilds_when_the_missing_shards_day_lands(
    platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its automation condition: requested once the shards that are up have landed, not
    again until something changes, and again when the down shard's day lands."""
    today = dt.datetime.now(dt.UTC).date()
    defs = platform(today - dt.timedelta(days=3))
    day = today.isoformat()
    view_only = dg.AssetSelection.assets(VIEW)

    def requested(result: dg.EvaluateAutomationConditionsResult) -> set[str]:
        return set(result.get_requested_partitions(VIEW))

    def materialize(d: dg.Definitions, *keys: str) -> None:
        done = dg.materialize(
            [d.resolve_assets_def(k) for k in _keys(*keys)],
            instance=instance,
            partition_key=None if keys[0].startswith("state/") else day,  # state: unpartitioned
            selection=_keys(*keys),
        )
        assert done.success

    with dg.instance_for_test() as instance:
        yesterday = today - dt.timedelta(days=1)
        _customers_history(defs, instance, today - dt.timedelta(days=3), yesterday, "shard_00")
        tick = dg.evaluate_automation_conditions(defs, instance, asset_selection=view_only)
        assert day not in requested(tick)  # nothing there yet: no view to build
        materialize(defs, "raw/shard_00/orders", "raw/shard_00/customers")
        materialize(defs, "state/shard_00/customers")
        tick = dg.evaluate_automation_conditions(
            defs, instance, asset_selection=view_only, cursor=tick.cursor
        )
        assert day in requested(tick)
        materialize(defs, "views/orders_enriched", "views/orders_enriched__rejects")
        tick = dg.evaluate_automation_conditions(
            defs, instance, asset_selection=view_only, cursor=tick.cursor
        )
        assert day not in requested(tick)  # handled: nothing new

        monkeypatch.setenv("ETL_TEST_DOWN_URL", TEST_MYSQL_URL)  # the shard is back
        back = platform(today - dt.timedelta(days=3))
        materialize(back, "raw/shard_01/orders", "raw/shard_01/customers")
        _customers_history(back, instance, today - dt.timedelta(days=3), yesterday, "shard_01")
        materialize(back, "state/shard_01/customers")
        tick = dg.evaluate_automation_conditions(
            back, instance, asset_selection=view_only, cursor=tick.cursor
        )
        assert day in requested(tick)
        materialize(back, "views/orders_enriched", "views/orders_enriched__rejects")
        mat = instance.get_latest_materialization_event(VIEW).asset_materialization
        assert mat.metadata["missing_shards"].value == {}


def test_a_cli_range_run_still_builds_the_views_of_the_shards_that_are_up(platform) -> None:
    """Dagster skips what depends on a failed step in that run; the follow-up runs build it."""
    from etl_platform.runner import run_range_through_failures

    defs = platform(dt.date(2024, 1, 1))
    lake_only = [
        k
        for k in defs.resolve_job_def("etl_all").asset_layer.executable_asset_keys
        if k.path[0] in ("raw", "state", "views")
    ]
    with dg.instance_for_test() as instance:
        _customers_history(defs, instance, dt.date(2024, 1, 1), DAY - dt.timedelta(1), "shard_00")
        runs = run_range_through_failures(
            defs, "etl_all", DAY, DAY, instance=instance, asset_selection=lake_only
        )
        assert not runs[0].success and VIEW not in runs[0].materialized
        assert VIEW in runs[-1].materialized
        failed = sorted(s for run in runs for s in run.failed_steps)
        # The down shard's state is held back with it (it would only fail); the view is not.
        assert failed == ["raw__shard_01__customers", "raw__shard_01__orders"]
        assert len(runs) == 2
        mat = instance.get_latest_materialization_event(VIEW).asset_materialization
        assert set(mat.metadata["missing_shards"].value) == {"shard_01"}
