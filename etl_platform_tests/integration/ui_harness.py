"""The real `dagster-webserver` and `dagster-daemon` on loopback, and the GraphQL calls the UI
makes to them: what the UI backfill tests drive."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from etl_platform.demo.mariadb_server import free_port
from etl_platform.env import PROJECT_ROOT

WORKSPACE = PROJECT_ROOT / "workspace.yaml"
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
    ... on PartitionBackfill { status error { message } }
    ... on PythonError { message }
  }
}
"""
RUNS = """
query BackfillRuns($filter: RunsFilter!) {
  runsOrError(filter: $filter) {
    __typename
    ... on Runs { results { runId status assetSelection { path } } }
    ... on PythonError { message }
  }
}
"""
MATERIALIZATIONS = """
query Materializations($key: AssetKeyInput!, $partitions: [String!]) {
  assetOrError(assetKey: $key) {
    __typename
    ... on Asset {
      assetMaterializations(partitions: $partitions) {
        partition
        runId
        metadataEntries {
          label
          ... on IntMetadataEntry { intValue }
          ... on JsonMetadataEntry { jsonString }
          ... on MarkdownMetadataEntry { mdStr }
          ... on PathMetadataEntry { path }
          ... on TableSchemaMetadataEntry { schema { columns { name type } } }
        }
      }
    }
  }
}
"""
ASSET = """
query Asset($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) { __typename }
  workspaceOrError {
    ... on Workspace {
      locationEntries {
        name
        locationOrLoadError { __typename ... on PythonError { message stack } }
      }
    }
  }
}
"""
DAEMONS = """
query Daemons {
  instance {
    daemonHealth {
      allDaemonStatuses { daemonType required healthy lastHeartbeatTime }
    }
  }
}
"""
TERMINAL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    """POST a query to the webserver as the UI does; its data (GraphQL errors fail)."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{url}/graphql", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        payload = json.loads(response.read())
    assert "errors" not in payload, payload["errors"]
    return payload["data"]


def _tail(log: Path, chars: int = 4000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else "(no log)"


@contextmanager
def dagster_process(argv: Sequence[str], log: Path) -> Iterator[subprocess.Popen]:
    """A Dagster command in its own process group, its output in `log`; the group (the
    command, its code servers and its runs' processes) is stopped on exit, killed if it does
    not stop within 30 s."""
    executable = str(Path(sys.executable).parent / argv[0])
    with log.open("w") as out:
        proc = subprocess.Popen(
            [executable, *argv[1:]], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            proc.wait()


def wait_until(
    ready: Callable[[], bool], proc: subprocess.Popen, log: Path, what: str, timeout: float
) -> None:
    """Poll `ready` until it holds; fail with `log`'s tail if `proc` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what}: the process exited ({proc.returncode}):\n{_tail(log)}")
        try:
            if ready():
                return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"{what}: not after {timeout:.0f}s:\n{_tail(log)}")


@contextmanager
def webserver(log: Path, probe: dg.AssetKey) -> Iterator[str]:
    """`dagster-webserver` on a free loopback port with the repo's workspace.yaml; its URL
    once GraphQL answers with `probe` loaded."""
    port = free_port()
    argv = ["dagster-webserver", "-h", "127.0.0.1", "-p", str(port), "-w", str(WORKSPACE)]
    url = f"http://127.0.0.1:{port}"
    key = {"path": list(probe.path)}

    def loaded() -> bool:
        data = graphql(url, ASSET, {"key": key})
        for entry in data["workspaceOrError"].get("locationEntries", []):
            error = entry["locationOrLoadError"] or {}
            if error.get("__typename") == "PythonError":
                stack = "".join(error["stack"])[-3000:]
                raise AssertionError(f"code location {entry['name']}: {error['message']}{stack}")
        return data["assetNodeOrError"]["__typename"] == "AssetNode"

    with dagster_process(argv, log) as proc:
        wait_until(loaded, proc, log, "dagster-webserver serving the code location", 90)
        yield url


@contextmanager
def daemon(log: Path) -> Iterator[subprocess.Popen]:
    """`dagster-daemon run` with the repo's workspace.yaml (see `wait_for_heartbeats`)."""
    with dagster_process(["dagster-daemon", "run", "-w", str(WORKSPACE)], log) as proc:
        yield proc


def wait_for_heartbeats(url: str, proc: subprocess.Popen, log: Path) -> None:
    """Until the webserver shows the heartbeats of the daemon's backfill loop and run queue;
    the daemon's log if it exits or never beats."""

    def beating() -> bool:
        health = graphql(url, DAEMONS)["instance"]["daemonHealth"]["allDaemonStatuses"]
        alive = {s["daemonType"] for s in health if s["healthy"] and s["lastHeartbeatTime"]}
        return {"BACKFILL", "QUEUED_RUN_COORDINATOR"} <= alive

    wait_until(beating, proc, log, "dagster-daemon heartbeats", 90)


def launch_backfill(url: str, keys: Sequence[dg.AssetKey], partitions: Sequence[str]) -> str:
    """Launch a backfill of `keys` over `partitions`, as the UI's Materialize dialog does."""
    params = {
        "partitionNames": list(partitions),
        "assetSelection": [{"path": list(k.path)} for k in keys],
        "tags": [],
    }
    result = graphql(url, LAUNCH, {"backfillParams": params})["launchPartitionBackfill"]
    assert result["__typename"] == "LaunchBackfillSuccess", result
    return result["backfillId"]


def backfill_status(url: str, backfill_id: str) -> dict:
    result = graphql(url, STATUS, {"id": backfill_id})["partitionBackfillOrError"]
    assert result["__typename"] == "PartitionBackfill", result
    return result


def backfill_runs(url: str, backfill_id: str) -> list[dict]:
    """The backfill's runs (id, status, assets), as the UI's backfill page lists them."""
    tag = {"key": "dagster/backfill", "value": backfill_id}
    result = graphql(url, RUNS, {"filter": {"tags": [tag]}})["runsOrError"]
    assert result["__typename"] == "Runs", result
    return result["results"]


def materializations(url: str, key: dg.AssetKey, partition: str) -> list[dict]:
    """The asset's materialization events of `partition`, as the UI's asset page reads them."""
    variables = {"key": {"path": list(key.path)}, "partitions": [partition]}
    result = graphql(url, MATERIALIZATIONS, variables)["assetOrError"]
    assert result["__typename"] == "Asset", result
    return result["assetMaterializations"]


def failures(instance: dg.DagsterInstance, run_ids: Sequence[str]) -> str:
    """The step and run failures of these runs, for an assertion's message."""
    lines = []
    for run_id in run_ids:
        for record in instance.all_logs(run_id):
            event = record.dagster_event
            error = getattr(event.event_specific_data, "error", None) if event else None
            if event is not None and (event.is_step_failure or event.is_run_failure or error):
                lines.append(f"{run_id} {event.event_type_value}: {event.message}")
                lines.extend([error.to_string()] if error else [])
    return "\n".join(lines)
