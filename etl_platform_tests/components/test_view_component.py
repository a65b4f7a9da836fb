"""The view component as Dagster's tools load it: from a defs.yaml, and through `dg`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from etl_platform.components import ViewComponent
from etl_platform.env import PROJECT_ROOT, Environment
from etl_platform.resources import build_resources
from etl_platform.specs.errors import SpecError
from etl_platform.specs.views import ViewSpec

DG = str(Path(sys.executable).with_name("dg"))


def test_a_defs_yaml_loads_as_the_component_and_builds_the_view() -> None:
    tree = dg.ComponentTree.for_project(PROJECT_ROOT)
    component = tree.load_component(Path("orders_enriched"))
    assert isinstance(component, ViewComponent)
    assert component.spec.lookups[0].on == {"customer_id": "id"}  # YAML 1.1 reads `on` as True
    defs = dg.Definitions.merge(
        tree.build_defs_at_path(Path("orders_enriched")),
        dg.Definitions(resources=build_resources(Environment.TEST)),
    )
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys >= {"views/orders_enriched", "views/orders_enriched__rejects"}
    checks = {k.name for k in defs.resolve_asset_graph().asset_check_keys}
    assert checks == {"unique_key_unique", "unique_key_not_null", "rows_balance", "reject_ratio"}
    assert (
        defs.resolve_schedule_def("refresh_orders_enriched_schedule").cron_schedule
        == "*/15 * * * *"
    )


def test_the_component_refuses_a_bad_spec_with_the_field() -> None:
    spec = ViewSpec.model_validate(
        {
            "name": "bad_view",
            "source": "orders",
            "unique_key": ["x"],
            "columns": {"x": {"from": "nope", "type": "string"}},
        }
    )
    tree = dg.ComponentTree.for_project(PROJECT_ROOT)
    with pytest.raises(SpecError, match=r"attributes\.columns\.x\.from: unknown column 'nope'"):
        ViewComponent(spec).build_defs(tree.load_context)


def _dg(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    return subprocess.run(
        [DG, *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_dg_lists_the_views_and_checks_their_yaml() -> None:
    listed = _dg("list", "defs", "--json")
    assert listed.returncode == 0, listed.stderr[-2000:]
    assets = {a["asset_key"] for a in json.loads(listed.stdout)["assets"]}
    assert {
        "views/orders_enriched",
        "views/order_items",
        "views/customer_profiles",
        "views/order_status_history",
    } <= assets
    checked = _dg("check", "yaml")
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-2000:]
