"""The component tree as Dagster's tools load it: `dg`, `dagster dev` and tests see one graph."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from etl_platform.components import (
    AutomationComponent,
    MySqlSourcesComponent,
    ViewComponent,
    ViewsComponent,
)
from etl_platform.env import DEFAULTS_DIR, PROJECT_ROOT, Environment
from etl_platform.specs.errors import SpecErrors
from etl_platform.specs.views import ViewSpec

DG = str(Path(sys.executable).with_name("dg"))


def _keys(defs: dg.Definitions) -> set[str]:
    """Asset keys without resolving the graph (the tree alone carries no resources)."""
    return {k.to_user_string() for a in defs.assets or [] for k in a.keys}  # type: ignore[union-attr]


def test_the_defs_tree_holds_the_three_components() -> None:
    tree = dg.ComponentTree.for_project(PROJECT_ROOT)
    assert isinstance(tree.load_component(Path("sources")), MySqlSourcesComponent)
    assert isinstance(tree.load_component(Path("views")), ViewsComponent)
    assert isinstance(tree.load_component(Path("automation")), AutomationComponent)


def test_the_tree_is_the_definitions_graph() -> None:
    """`definitions.py` adds the resources to the tree and nothing else."""
    from etl_platform.definitions import build_definitions

    tree = dg.ComponentTree.for_project(PROJECT_ROOT).build_defs()
    full = build_definitions(Environment.TEST)
    assert _keys(tree) == _keys(full)
    views = dg.ComponentTree.for_project(PROJECT_ROOT).build_defs_at_path(Path("views"))
    keys = _keys(views)
    # The views component defines the state its views read: nothing dangles.
    parents = {
        p.to_user_string()
        for k in full.resolve_asset_graph().get_all_asset_keys()
        for p in full.resolve_asset_graph().get(k).parent_keys
    }
    assert parents <= _keys(full)
    assert {"views/orders_enriched", "state/shard_00/customers", "redshift/orders_enriched"} <= keys


def test_the_views_component_refuses_a_bad_spec_with_file_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "views" / "orders_enriched"
    shutil.copytree(DEFAULTS_DIR / "views" / "orders_enriched", folder)
    spec = folder / "defs.yaml"
    spec.write_text(spec.read_text().replace("from: id", "from: nope", 1))
    monkeypatch.setenv("ETL_PLATFORM_VIEWS_DIR", str(tmp_path / "views"))
    component = ViewsComponent()
    with pytest.raises(SpecErrors, match=r"defs\.yaml: attributes\.columns\.order_id\.from"):
        component.build_defs(dg.ComponentTree.for_test().load_context)


def test_a_view_file_does_not_build_alone() -> None:
    spec = ViewSpec.model_validate(
        {
            "name": "v",
            "source": "orders",
            "unique_key": ["x"],
            "columns": {"x": {"from": "id", "type": "int64"}},
        }
    )
    with pytest.raises(TypeError, match=r"loaded with its folder by .*ViewsComponent"):
        ViewComponent(spec).build_defs(dg.ComponentTree.for_test().load_context)


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


def test_dg_lists_the_same_graph_and_checks_the_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    from dotenv import dotenv_values

    from etl_platform.definitions import build_definitions

    listed = _dg("list", "defs", "--json")
    assert listed.returncode == 0, listed.stderr[-2000:]
    assets = {a["asset_key"] for a in json.loads(listed.stdout)["assets"]}
    # dg reads the project's .env over the environment (a user's ETL_PLATFORM_VIEWS_DIR, say):
    # the in-process graph is built with the same settings.
    for name, value in dotenv_values(PROJECT_ROOT / ".env").items():
        if value is not None:
            monkeypatch.setenv(name, value)
    assert assets == _keys(build_definitions(Environment.TEST))
    checked = _dg("check", "yaml")
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-2000:]
