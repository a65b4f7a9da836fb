"""Load all definitions as a user would and pin the asset graph."""

from __future__ import annotations

import os

import dagster as dg
import pytest
from syrupy.assertion import SnapshotAssertion

from etl_platform.asset_keys import shard_pool
from etl_platform.env import Environment
from etl_platform.resources import build_resources


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    from etl_platform.definitions import build_definitions

    return build_definitions(Environment.TEST)


def _raw_keys(defs: dg.Definitions) -> list[dg.AssetKey]:
    return [k for k in defs.resolve_asset_graph().get_all_asset_keys() if k.path[0] == "raw"]


def test_the_asset_graph(defs: dg.Definitions, snapshot: SnapshotAssertion) -> None:
    graph = defs.resolve_asset_graph()
    assert len(_raw_keys(defs)) == 12 * 4
    assets = {
        k.to_user_string(): sorted(p.to_user_string() for p in graph.get(k).parent_keys)
        for k in sorted(graph.get_all_asset_keys())
        if k.path[0] != "raw"
    }
    checks = sorted(f"{c.asset_key.to_user_string()}:{c.name}" for c in graph.asset_check_keys)
    schedules = sorted(s.name for s in defs.schedules or [])
    jobs = sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__"))
    assert {"assets": assets, "checks": checks, "schedules": schedules, "jobs": jobs} == snapshot


def test_lookup_state_is_one_versions_table_with_no_day_chain(defs: dg.Definitions) -> None:
    """A backfill of years updates each state once: no partitions, no self-dependency."""
    graph = defs.resolve_asset_graph()
    states = [k for k in graph.get_all_asset_keys() if k.path[0] == "state"]
    assert states
    for key in states:
        node = graph.get(key)
        assert node.partitions_def is None
        assert key not in node.parent_keys
        assert {p.path[0] for p in node.parent_keys} == {"raw"}


def test_source_assets_are_partitioned_pooled_and_bounded(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    for key in _raw_keys(defs):
        _, shard, table = key.path
        node = graph.get(key)
        assert node.group_name == f"raw_{shard}"
        assert node.pools == {shard_pool(shard)}
        assert node.backfill_policy == dg.BackfillPolicy.multi_run(max_partitions_per_run=31)
        partitions = node.partitions_def
        assert isinstance(partitions, dg.DailyPartitionsDefinition)
        assert partitions.timezone == "UTC"
        # The demo's start: ETL_PLATFORM_DEMO_START from `make run`'s seed, else 2025-01-01.
        expected = os.environ.get("ETL_PLATFORM_DEMO_START") or "2025-01-01"
        assert partitions.start.date().isoformat() == expected
        assert set(node.kinds) == {"mysql", "parquet"}
        assert node.metadata["partition_expr"] == "updated_at"
        assert node.tags["table"] == table


def test_the_job_and_resources_load(defs: dg.Definitions) -> None:
    job = defs.resolve_job_def("extract_raw")
    assert len(job.asset_layer.executable_asset_keys) == 48
    # raw, lookup state (customers, orders, products), six views with their rejects, eight
    # destinations, and daily_orders' current rows, report and layout by order day
    assert len(defs.resolve_job_def("etl_all").asset_layer.executable_asset_keys) == (
        48 + 36 + 12 + 8 + 3
    )
    defs.resolve_all_job_defs()


def test_the_graph_is_the_same_in_every_environment_and_configuration(
    defs: dg.Definitions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Destinations exist whether or not they are configured: the snapshot covers them."""
    from etl_platform.definitions import build_definitions

    def graph(d: dg.Definitions) -> set[dg.AssetKey]:
        return set(d.resolve_asset_graph().get_all_asset_keys())

    for name in ("ETL_PLATFORM_S3_BUCKET", "ETL_PLATFORM_REDSHIFT_DSN"):
        monkeypatch.delenv(name, raising=False)
    bare = {env: graph(build_definitions(env)) for env in Environment}
    monkeypatch.setenv("ETL_PLATFORM_S3_BUCKET", "a-bucket")
    monkeypatch.setenv("ETL_PLATFORM_REDSHIFT_DSN", "postgresql://u:p@h:5439/db")
    configured = graph(build_definitions(Environment.PROD))
    assert all(keys == graph(defs) for keys in bare.values())
    assert configured == graph(defs)


def test_every_environment_has_the_same_resource_keys() -> None:
    keys = {env: set(build_resources(env)) for env in Environment}
    assert len({frozenset(k) for k in keys.values()}) == 1, keys


def test_automation_sensors_cover_raw_and_derived_assets(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    sensors = {s.name: s for s in defs.sensors or []}
    raw = sensors["raw_extract_automation"].asset_selection.resolve(graph)
    derived = sensors["derived_assets_automation"].asset_selection.resolve(graph)
    assert raw == set(_raw_keys(defs))
    assert {k.path[0] for k in derived} == {
        "state",
        "views",
        "reports",
        "athena",
        "redshift",
        "notifications",
    }
    assert all(s.default_status == dg.DefaultSensorStatus.STOPPED for s in sensors.values())


def test_a_view_and_its_rejects_can_be_selected_apart_and_are_automated_together(
    defs: dg.Definitions,
) -> None:
    """The UI may select either one (backfills, Materialize); automation sees the same inputs
    and condition for both, so it requests them in the same run."""
    graph = defs.resolve_asset_graph()
    views = [k for k in graph.get_all_asset_keys() if k.path[0] == "views"]
    rejects = [k for k in views if k.path[-1].endswith("__rejects")]
    assert len(rejects) == 6
    for key in rejects:
        view = graph.get(dg.AssetKey(["views", key.path[-1].removesuffix("__rejects")]))
        node = graph.get(key)
        assert node.execution_set_asset_keys == {key}
        assert view.execution_set_asset_keys == {view.key}
        assert node.parent_keys == view.parent_keys
        assert node.automation_condition == view.automation_condition
