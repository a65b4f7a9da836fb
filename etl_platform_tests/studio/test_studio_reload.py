"""Publishing reloads a real `dagster-webserver`: the new view is in its asset graph.

The webserver (etl_platform_tests/integration/ui_harness.py) serves the repo's workspace.yaml
on a copy of the demo's views and the seeded shards' sources; the studio app runs in-process
(Starlette's TestClient) with that webserver's URL, builds a new view through its JSON routes
and publishes it. The webserver's GraphQL then has to show `views/<name>`: the reload asked
for the right location, and the location read the folder the studio wrote to.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from etl_platform.asset_keys import view_asset_key
from etl_platform.env import DEFAULTS_DIR, PROJECT_ROOT
from etl_platform.specs.loader import load_source_schema, load_sources
from etl_platform.specs.source_schema import schema_path_for
from etl_platform.studio.app import StudioConfig, create_app
from etl_platform.studio.catalog import Catalog
from etl_platform_tests.conftest import TEST_MYSQL_URL
from etl_platform_tests.integration import ui_harness as h
from etl_platform_tests.studio.conftest import write_sources

pytestmark = pytest.mark.integration

NEW_VIEW = "orders_by_status"
NODE = """
query Node($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) { __typename ... on AssetNode { groupName } }
  assetNodes { assetKey { path } }
}
"""


def _in_graph(url: str, name: str) -> bool:
    """Whether `views/<name>` is an asset node of the webserver's asset graph."""
    data = h.graphql(url, NODE, {"key": {"path": list(view_asset_key(name).path)}})
    listed = [tuple(node["assetKey"]["path"]) for node in data["assetNodes"]]
    found = data["assetNodeOrError"]["__typename"] == "AssetNode"
    assert found == (tuple(view_asset_key(name).path) in listed), data["assetNodeOrError"]
    return found


@pytest.fixture(scope="module")
def webserver_on_a_views_copy(
    seeded_shards: list[str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path, Path]]:
    """The webserver's URL, on a copy of the demo's views (the folder the studio publishes to)
    and the seeded shards' sources; the views folder and the sources file."""
    tmp = tmp_path_factory.mktemp("studio_reload")
    home = tmp / "dagster"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    views = tmp / "views"
    shutil.copytree(DEFAULTS_DIR / "views", views)
    sources = write_sources(tmp)
    env = {
        "DAGSTER_HOME": str(home),
        "ETL_PLATFORM_ENV": "test",
        "ETL_PLATFORM_SOURCES": str(sources),
        "ETL_PLATFORM_VIEWS_DIR": str(views),
        "ETL_PLATFORM_LAKE": str(tmp / "lake"),
        "ETL_PLATFORM_LOCAL_DIR": str(tmp / "local"),
        "ETL_TEST_SHARD_URL": TEST_MYSQL_URL,
    }
    mp = pytest.MonkeyPatch()
    for name in [k for k in os.environ if k.startswith("ETL_PLATFORM_")]:
        mp.delenv(name)
    for name, value in env.items():
        mp.setenv(name, value)  # the webserver and its code server inherit them
    mp.chdir(tmp)  # Dagster's processes read `.env` from their folder: not the project's
    try:
        with h.webserver(tmp / "webserver.log", view_asset_key("orders_enriched")) as url:
            yield url, views, sources
    finally:
        mp.undo()


def test_publishing_a_new_view_reloads_the_webserver_and_adds_its_asset(
    webserver_on_a_views_copy: tuple[str, Path, Path],
) -> None:
    url, views, sources_file = webserver_on_a_views_copy
    sources = load_sources(sources_file)
    config = StudioConfig(
        catalog=Catalog(sources, load_source_schema(schema_path_for(sources_file))),
        views_dir=views,
        lake_root=views.parent / "lake",
        dagster_url=url,
    )
    assert not _in_graph(url, NEW_VIEW)
    ops = [
        {"op": "set", "field": "name", "value": NEW_VIEW},
        {"op": "set", "field": "source", "value": "orders"},
        {"op": "add_column", "name": "order_id", "spec": {"from": "id", "type": "uint64"}},
        {"op": "add_column", "name": "status", "spec": {"from": "status", "type": "string"}},
        {"op": "set_list", "field": "unique_key", "values": ["order_id"]},
    ]
    with TestClient(create_app(config), base_url="http://127.0.0.1") as client:
        draft = client.post("/api/draft", json={"yaml": "", "ops": ops})
        assert draft.status_code == 200 and draft.json()["problems"] == [], draft.json()
        published = client.post("/api/publish", json={"yaml": draft.json()["yaml"]})
    answer = published.json()
    assert published.status_code == 200, answer
    assert (views / NEW_VIEW / "defs.yaml").read_text() == draft.json()["yaml"]
    assert answer["reload"] == "reload of etl_platform: SUCCESS", answer["reload"]

    deadline = time.monotonic() + 60
    while not _in_graph(url, NEW_VIEW):
        assert time.monotonic() < deadline, "views/orders_by_status not in the asset graph"
        time.sleep(0.5)
    assert _in_graph(url, "orders_enriched")  # the rest of the folder is still there
