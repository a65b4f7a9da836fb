"""Backfills launched the way the UI launches them, and run to the end.

The UI's Materialize dialog posts `launchPartitionBackfill` to the webserver with the selected
assets and the chosen partition names. A real `dagster-webserver` takes the mutation here; the
backfill daemon's and the run queue's iterations then run in this process against the same
instance (the DAGSTER_HOME holds the repo's dagster.yaml), so the backfill's runs go through the
instance's run launcher into run processes of a code server, as under `dagster-daemon`, without
its 30-second ticks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._daemon.backfill import execute_backfill_iteration
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
    QueuedRunCoordinatorDaemon,
)
from dagster._utils.error import SerializableErrorInfo

from etl_platform.asset_keys import (
    raw_asset_key,
    rejects_asset_key,
    state_asset_key,
    view_asset_key,
)
from etl_platform.definitions import build_definitions
from etl_platform.demo.mariadb_server import free_port
from etl_platform.env import DEFAULTS_DIR, PROJECT_ROOT, Environment
from etl_platform.load.lake import Lake
from etl_platform.runner import extract_lookup_history, run_range
from etl_platform_tests.conftest import SEED_END, SEED_PREFIX, TEST_MYSQL_URL

pytestmark = pytest.mark.integration

DAYS = [SEED_END - dt.timedelta(days=1), SEED_END]
SHARDS = {"shard_00": f"{SEED_PREFIX}00", "shard_01": f"{SEED_PREFIX}01"}
TERMINAL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}

#: What the UI's backfill dialog sends, with the error types it reads back.
LAUNCH = """
mutation LaunchPartitionBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PartitionSetNotFoundError { message }
    ... on PartitionKeysNotFoundError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { stepKey invalidOutputName }
    ... on UnauthorizedError { message }
    ... on PythonError { message stack }
  }
}
"""
STATUS = """
query BackfillStatus($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status }
    ... on PythonError { message }
  }
}
"""
ASSET = """
query Asset($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) { __typename }
}
"""


def _graphql(url: str, query: str, variables: dict) -> dict:
    """POST a query to the webserver as the UI does; its data (GraphQL errors fail)."""
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(f"{url}/graphql", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        payload = json.loads(response.read())
    assert "errors" not in payload, payload["errors"]
    return payload["data"]


@dataclasses.dataclass
class UI:
    """The webserver's GraphQL endpoint, and the instance and workspace its backfills run in."""

    url: str
    instance: dg.DagsterInstance
    workspace: WorkspaceProcessContext
    lake: Lake

    def graphql(self, query: str, variables: dict) -> dict:
        return _graphql(self.url, query, variables)

    def launch(self, keys: list[dg.AssetKey]) -> str:
        """Launch a backfill of `keys` over DAYS by partition names, as the UI does."""
        params = {
            "partitionNames": [str(d) for d in DAYS],
            "assetSelection": [{"path": list(k.path)} for k in keys],
            "tags": [],
        }
        result = self.graphql(LAUNCH, {"backfillParams": params})["launchPartitionBackfill"]
        assert result["__typename"] == "LaunchBackfillSuccess", result
        return result["backfillId"]

    def status(self, backfill_id: str) -> str:
        result = self.graphql(STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        assert result["__typename"] == "PartitionBackfill", result
        return result["status"]

    def run_backfill(self, backfill_id: str, timeout: float = 90) -> str:
        """Tick the backfill daemon and the run queue until the backfill ends; its status."""
        logger = logging.getLogger("etl_platform_tests.backfill")
        errors: list[str] = []
        deadline = time.monotonic() + timeout
        with QueuedRunCoordinatorDaemon(interval_seconds=1) as queue:
            while time.monotonic() < deadline:
                for item in [
                    *execute_backfill_iteration(self.workspace, logger),
                    *queue.run_iteration(self.workspace),
                ]:
                    if isinstance(item, SerializableErrorInfo):
                        errors.append(item.to_string())
                if (status := self.status(backfill_id)) in TERMINAL:
                    return status
                time.sleep(0.5)
        raise AssertionError(
            f"backfill {backfill_id} still {self.status(backfill_id)}; daemon errors: {errors}"
        )

    def runs(self, backfill_id: str) -> list[dg.DagsterRun]:
        return list(self.instance.get_runs(filters=dg.RunsFilter.for_backfill(backfill_id)))

    def materialized(self, backfill_id: str) -> set[tuple[str, str]]:
        """(asset, day) of every materialization the backfill's runs recorded."""
        return {
            (event.asset_key.to_user_string(), str(event.partition))
            for run in self.runs(backfill_id)
            for record in self.instance.all_logs(
                run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
            )
            if (event := record.dagster_event) is not None and event.asset_key is not None
        }

    def check_names(self, backfill_id: str) -> set[str]:
        return {
            record.dagster_event.event_specific_data.check_name
            for run in self.runs(backfill_id)
            for record in self.instance.all_logs(
                run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
            )
            if record.dagster_event is not None
        }

    def failures(self, backfill_id: str) -> str:
        """The step failures of the backfill's runs, for an assertion's message."""
        lines = []
        for run in self.runs(backfill_id):
            for record in self.instance.all_logs(run.run_id):
                event = record.dagster_event
                error = getattr(event.event_specific_data, "error", None) if event else None
                if event is not None and (event.is_step_failure or event.is_run_failure or error):
                    lines.append(f"{run.run_id} {event.event_type_value}: {event.message}")
                    lines.extend([error.to_string()] if error else [])
        return "\n".join(lines)


def _sources(tmp: Path) -> Path:
    """The demo's sources.yaml on the session's two seeded shards, partitions from 2024."""
    demo = (DEFAULTS_DIR / "sources.yaml").read_text()
    path = tmp / "sources.yaml"
    path.write_text(
        demo.split("shards:")[0].replace(
            "start: ${ETL_PLATFORM_DEMO_START:-2025-01-01}", "start: 2024-01-01"
        )
        + "shards:\n"
        + "".join(
            f"  {s}: {{url_env: ETL_TEST_SHARD_URL, database: {db}}}\n" for s, db in SHARDS.items()
        )
        + "tables:"
        + demo.split("tables:")[1]
    )
    shutil.copy(DEFAULTS_DIR / "sources.schema.yaml", tmp / "sources.schema.yaml")
    return path


def _wait_for_webserver(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    """Until the webserver answers GraphQL with the code location loaded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"dagster-webserver exited:\n{log.read_text()[-3000:]}")
        try:
            node = _graphql(url, ASSET, {"key": {"path": ["views", "orders_enriched"]}})
            if node["assetNodeOrError"]["__typename"] == "AssetNode":
                return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"dagster-webserver not ready after {timeout:.0f}s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def ui(seeded_shards: list[str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    """A webserver and an instance on the seeded shards; the looked-up tables' raw days and
    every lookup state of DAYS already in the lake, so each view can build on its own."""
    tmp = tmp_path_factory.mktemp("ui_backfill")
    home = tmp / "dagster"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {
        "DAGSTER_HOME": str(home),
        "ETL_PLATFORM_ENV": "test",
        "ETL_PLATFORM_SOURCES": str(_sources(tmp)),
        "ETL_PLATFORM_VIEWS_DIR": str(DEFAULTS_DIR / "views"),
        "ETL_PLATFORM_LAKE": str(tmp / "lake"),
        "ETL_PLATFORM_LOCAL_DIR": str(tmp / "local"),
        "ETL_PLATFORM_THREADS": "2",
        "ETL_TEST_SHARD_URL": TEST_MYSQL_URL,
    }
    mp = pytest.MonkeyPatch()
    for name in [k for k in os.environ if k.startswith("ETL_PLATFORM_")]:
        mp.delenv(name)
    for name, value in env.items():
        mp.setenv(name, value)  # the code servers and their runs inherit them
    # Dagster's processes load `.env` from their folder over the environment: not the project's.
    mp.chdir(tmp)
    webserver: subprocess.Popen | None = None
    try:
        # The instance's storage is created here, before any other process opens it.
        with dg.DagsterInstance.from_config(str(home)) as instance:
            defs = build_definitions(Environment.TEST)
            upstream = [
                *(raw_asset_key(s, t) for s in SHARDS for t in ("orders", "customers", "products")),
                *(state_asset_key(s, t) for s in SHARDS for t in ("customers", "products")),
            ]
            history = extract_lookup_history(defs, DAYS[0], instance=instance)
            assert history is not None and history.success
            run = run_range(
                defs, "etl_all", DAYS[0], DAYS[-1], instance=instance, asset_selection=upstream
            )
            assert run.success, [o.error for o in run.outcomes if o.error]
            port, log = free_port(), tmp / "webserver.log"
            webserver = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "dagster-webserver"),
                    *("-h", "127.0.0.1", "-p", str(port)),
                    *("-w", str(PROJECT_ROOT / "workspace.yaml")),
                ],
                stdout=log.open("w"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            url = f"http://127.0.0.1:{port}"
            _wait_for_webserver(url, webserver, log)
            target = WorkspaceFileTarget(paths=[str(PROJECT_ROOT / "workspace.yaml")])
            with WorkspaceProcessContext(instance, target) as workspace:
                yield UI(url, instance, workspace, Lake(tmp / "lake"))
    finally:
        if webserver is not None:
            os.killpg(webserver.pid, signal.SIGTERM)
            try:
                webserver.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(webserver.pid, signal.SIGKILL)
                webserver.wait()
        mp.undo()


def _days(keys: list[dg.AssetKey]) -> set[tuple[str, str]]:
    """Each asset's days; lookup state, not partitioned, once ('None')."""
    return {
        (k.to_user_string(), "None" if k.path[0] == "state" else str(d)) for k in keys for d in DAYS
    }


def _assert_lake_has_days(
    ui: UI, views: list[str], *, view: bool = True, rejects: bool = True
) -> None:
    for name in views:
        for day in DAYS:
            if view:
                assert ui.lake.view(name).is_written(day), (name, day)
            if rejects:
                assert ui.lake.rejects(name).is_written(day), (name, day)


def test_a_view_alone(ui: UI) -> None:
    """The view without its rejects: both days built and reported; the rejects are left to
    their own materialization."""
    view = view_asset_key("orders_enriched")
    backfill = ui.launch([view])
    status = ui.run_backfill(backfill)
    assert status == "COMPLETED_SUCCESS", ui.failures(backfill)
    assert ui.materialized(backfill) == _days([view])
    assert ui.check_names(backfill) == {
        "unique_key_unique",
        "unique_key_not_null",
        "rows_balance",
        "reject_ratio",
        "all_shards_present",
        "unique_key_keeps_rows",
    }
    _assert_lake_has_days(ui, ["orders_enriched"], rejects=False)


def test_the_rejects_alone(ui: UI) -> None:
    """The rejects without the view: no view checks to report, and the view's days are not
    written by a run that neither checks nor records them."""
    rejects = rejects_asset_key("customer_profiles")
    backfill = ui.launch([rejects])
    status = ui.run_backfill(backfill)
    assert status == "COMPLETED_SUCCESS", ui.failures(backfill)
    assert ui.materialized(backfill) == _days([rejects])
    assert ui.check_names(backfill) == set()
    _assert_lake_has_days(ui, ["customer_profiles"], view=False)
    assert not any(ui.lake.view("customer_profiles").is_written(d) for d in DAYS)


@pytest.mark.parametrize("with_rejects", [False, True], ids=["view", "view_and_rejects"])
def test_a_view_with_its_upstream(ui: UI, with_rejects: bool) -> None:
    """The view (and its rejects) with the raw and state assets it reads: upstream first (the
    state, not partitioned, once in the backfill)."""
    upstream = [raw_asset_key(s, "orders") for s in SHARDS] + [
        state_asset_key(s, "customers") for s in SHARDS
    ]
    selection = [view_asset_key("orders_enriched"), *upstream]
    if with_rejects:
        selection.append(rejects_asset_key("orders_enriched"))
    backfill = ui.launch(selection)
    status = ui.run_backfill(backfill)
    assert status == "COMPLETED_SUCCESS", ui.failures(backfill)
    assert ui.materialized(backfill) == _days(selection)
    _assert_lake_has_days(ui, ["orders_enriched"], rejects=with_rejects)


def test_two_views(ui: UI) -> None:
    views = ["orders_enriched", "order_items"]
    keys = [view_asset_key(v) for v in views]
    backfill = ui.launch(keys)
    status = ui.run_backfill(backfill)
    assert status == "COMPLETED_SUCCESS", ui.failures(backfill)
    assert ui.materialized(backfill) == _days(keys)
    _assert_lake_has_days(ui, views, rejects=False)
