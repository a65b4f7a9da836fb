"""Backfills launched the way the UI launches them, and run to the end by the real daemon.

The UI's Materialize dialog posts `launchPartitionBackfill` to the webserver with the selected
assets and the chosen partition names. Here a real `dagster-webserver` takes the mutation and a
real `dagster-daemon run` (same DAGSTER_HOME, the repo's workspace.yaml) turns it into runs:
its backfill loop requests them, its run queue launches them into run processes. The test reads
the outcome back as the UI does, through GraphQL, and from the lake.

The backfill loop ticks every 30 s (`DEFAULT_DAEMON_INTERVAL_SECONDS`, not instance config).
The daemon starts first, so its first tick passes while the lake is seeded; the second requests
the backfills' runs (the view's days run with their raw days, in one run), the third sees them
done: the module takes about two ticks and the daemon's start.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from etl_platform.asset_keys import (
    raw_asset_key,
    rejects_asset_key,
    state_asset_key,
    view_asset_key,
)
from etl_platform.definitions import build_definitions
from etl_platform.env import DEFAULTS_DIR, PROJECT_ROOT, Environment
from etl_platform.load.lake import Lake
from etl_platform.runner import extract_lookup_history, run_range
from etl_platform_tests.conftest import SEED_END, SEED_PREFIX, TEST_MYSQL_URL
from etl_platform_tests.integration import ui_harness as h

pytestmark = pytest.mark.integration

DAYS = [SEED_END - dt.timedelta(days=n) for n in range(6, -1, -1)]
SHARDS = {"shard_00": f"{SEED_PREFIX}00", "shard_01": f"{SEED_PREFIX}01"}
VIEW = "orders_enriched"
#: The view, its rejects and the raw days they read, as the README's backfill selects them
#: (the customers' lookup state, not partitioned, is built beforehand).
WEEK = [
    view_asset_key(VIEW),
    rejects_asset_key(VIEW),
    *(raw_asset_key(s, "orders") for s in SHARDS),
]
#: A view's rejects without the view: the multi-asset runs a subset of itself.
REJECTS_ONLY = [rejects_asset_key("customer_profiles")]
#: Test-only additions to the repo's dagster.yaml: the run queue looks every second (5 s by
#: default), so a run requested by a backfill tick starts at once.
INSTANCE_OVERRIDES = "\nrun_queue:\n  dequeue_interval_seconds: 1\n"


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


def _seed_lake(instance: dg.DagsterInstance) -> set[str]:
    """What the backfills do not build: the lookups' history before the first day, the
    customers' raw days (the customer_profiles view's input) and their lookup state. The
    checks the view declares."""
    defs = build_definitions(Environment.TEST)
    history = extract_lookup_history(defs, DAYS[0], instance=instance)
    assert history is not None and history.success
    customers = [k(s, "customers") for k in (raw_asset_key, state_asset_key) for s in SHARDS]
    run = run_range(
        defs, "etl_all", DAYS[0], DAYS[-1], instance=instance, asset_selection=customers
    )
    assert run.success, [o.error for o in run.outcomes if o.error]
    checks = defs.resolve_asset_graph().get_check_keys_for_assets({view_asset_key(VIEW)})
    return {c.name for c in checks}


@dataclasses.dataclass
class Backfills:
    """Two backfills the daemon ran side by side, and where to read their outcome."""

    url: str
    instance: dg.DagsterInstance
    lake: Lake
    week: str
    rejects_only: str
    statuses: dict[str, dict]
    view_checks: set[str]

    def runs(self, backfill_id: str) -> list[dict]:
        return h.backfill_runs(self.url, backfill_id)

    def failures(self, backfill_id: str) -> str:
        runs = self.runs(backfill_id)
        return f"{self.statuses[backfill_id]}\n{runs}\n" + h.failures(
            self.instance, [r["runId"] for r in runs]
        )

    def materialized(self, backfill_id: str) -> set[tuple[str, str]]:
        """(asset, day) of every materialization the backfill's runs recorded."""
        return {
            (event.asset_key.to_user_string(), str(event.partition))
            for run in self.runs(backfill_id)
            for record in self.instance.all_logs(
                run["runId"], of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
            )
            if (event := record.dagster_event) is not None and event.asset_key is not None
        }

    def check_names(self, backfill_id: str, key: dg.AssetKey) -> set[str]:
        """The checks of `key` that the backfill's runs evaluated."""
        return {
            data.check_name
            for run in self.runs(backfill_id)
            for record in self.instance.all_logs(
                run["runId"], of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
            )
            if record.dagster_event is not None
            and (data := record.dagster_event.event_specific_data).asset_key == key
        }


def _wait_for(url: str, backfill_ids: list[str], daemon_log: Path, timeout: float) -> dict:
    """Each backfill's status once all have ended, polled through GraphQL as the UI does."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = {b: h.backfill_status(url, b) for b in backfill_ids}
        if all(s["status"] in h.TERMINAL for s in statuses.values()):
            return statuses
        if time.monotonic() > deadline:
            tail = daemon_log.read_text(errors="replace")[-4000:]
            raise AssertionError(f"backfills not ended after {timeout:.0f}s: {statuses}\n{tail}")
        time.sleep(2)


@pytest.fixture(scope="module")
def backfills(
    seeded_shards: list[str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backfills]:
    """The webserver and the daemon on a fresh instance; both backfills launched through
    GraphQL and run to their end."""
    tmp = tmp_path_factory.mktemp("ui_backfill")
    home = tmp / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        (PROJECT_ROOT / "dagster.yaml").read_text() + INSTANCE_OVERRIDES
    )
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
        mp.setenv(name, value)  # the webserver, the daemon and their runs inherit them
    # Dagster's processes load `.env` from their folder over the environment: not the project's.
    mp.chdir(tmp)
    try:
        # The instance's storage is created here, before any other process opens it.
        with (
            dg.DagsterInstance.from_config(str(home)) as instance,
            # Started first: its first backfill tick (none to see) and the 30 s to the next
            # pass while the lake is seeded and the webserver starts.
            h.daemon(tmp / "daemon.log") as daemon,
        ):
            view_checks = _seed_lake(instance)
            with h.webserver(tmp / "webserver.log", view_asset_key(VIEW)) as url:
                h.wait_for_heartbeats(url, daemon, tmp / "daemon.log")
                partitions = [str(d) for d in DAYS]
                week = h.launch_backfill(url, WEEK, partitions)
                rejects_only = h.launch_backfill(url, REJECTS_ONLY, partitions)
                ids = [week, rejects_only]
                statuses = _wait_for(url, ids, tmp / "daemon.log", timeout=420)
                lake = Lake(tmp / "lake")
                yield Backfills(url, instance, lake, *ids, statuses, view_checks)
    finally:
        mp.undo()


def _days(keys: list[dg.AssetKey]) -> set[tuple[str, str]]:
    return {(k.to_user_string(), str(d)) for k in keys for d in DAYS}


def test_a_week_of_a_view_with_its_upstream(backfills: Backfills) -> None:
    """Seven days of the view and its rejects with the raw days they read: every run
    succeeded, every day is in the lake, and every check the view declares reported."""
    week = backfills.week
    assert backfills.statuses[week]["status"] == "COMPLETED_SUCCESS", backfills.failures(week)
    runs = backfills.runs(week)
    assert runs and {r["status"] for r in runs} == {"SUCCESS"}, backfills.failures(week)
    assert {tuple(k["path"]) for r in runs for k in r["assetSelection"]} == {
        tuple(k.path) for k in WEEK
    }
    assert backfills.materialized(week) == _days(WEEK)
    lake = backfills.lake
    for day in DAYS:
        assert lake.view(VIEW).is_written(day), day
        assert lake.rejects(VIEW).is_written(day), day
        assert all(lake.raw(s, "orders").is_written(day) for s in SHARDS), day
    assert "unique_key_unique" in backfills.view_checks
    assert backfills.check_names(week, view_asset_key(VIEW)) == backfills.view_checks


def test_the_backfills_raw_steps_hold_their_shards_pool(backfills: Backfills) -> None:
    """A backfill's runs plan each raw step in its shard's pool (`mysql_<shard>`), which the
    instance caps across every run, whichever way it was launched."""
    pools = set()
    for run in backfills.runs(backfills.week):
        record = backfills.instance.get_run_by_id(run["runId"])
        assert record is not None and record.execution_plan_snapshot_id is not None
        plan = backfills.instance.get_execution_plan_snapshot(record.execution_plan_snapshot_id)
        pools |= {(s.key, s.pool) for s in plan.steps if "raw" in s.key}
    assert pools and {pool for _, pool in pools} == {f"mysql_{s}" for s in SHARDS}, pools


def test_a_days_metadata_in_the_event_log(backfills: Backfills) -> None:
    """One day of the view, as its asset page shows it: the rows the lake holds, per shard,
    with the rejects and a preview; the run's last day also carries what the days share."""
    day, last = DAYS[3], DAYS[-1]
    (event,) = h.materializations(backfills.url, view_asset_key(VIEW), str(day))
    assert event["runId"] in {r["runId"] for r in backfills.runs(backfills.week)}
    meta = {e["label"]: e for e in event["metadataEntries"]}
    rows = meta["dagster/row_count"]["intValue"]
    assert rows == backfills.lake.view(VIEW).partition_rows(day) > 0
    per_shard = json.loads(meta["rows_per_shard"]["jsonString"])
    assert set(per_shard) == set(SHARDS)
    assert sum(s["out"] for s in per_shard.values()) == rows
    assert meta["rejects"]["intValue"] == backfills.lake.rejects(VIEW).partition_rows(day)
    assert json.loads(meta["missing_shards"]["jsonString"]) == {}
    columns = {c["name"] for c in meta["dagster/column_schema"]["schema"]["columns"]}
    assert {"order_id", "customer_email", "grand_total"} <= columns
    assert meta["preview"]["mdStr"].startswith("| order_id |")
    (last_event,) = h.materializations(backfills.url, view_asset_key(VIEW), str(last))
    shared = {e["label"] for e in last_event["metadataEntries"]}
    assert {"json_drift", "path", "dagster/row_count"} <= shared
    assert "json_drift" not in meta


def test_the_rejects_alone(backfills: Backfills) -> None:
    """The rejects without the view, beside the other backfill: no view checks to report,
    and the view's days are not written by a run that neither checks nor records them."""
    backfill = backfills.rejects_only
    status = backfills.statuses[backfill]["status"]
    assert status == "COMPLETED_SUCCESS", backfills.failures(backfill)
    assert {r["status"] for r in backfills.runs(backfill)} == {"SUCCESS"}
    assert backfills.materialized(backfill) == _days(REJECTS_ONLY)
    assert backfills.check_names(backfill, view_asset_key("customer_profiles")) == set()
    assert all(backfills.lake.rejects("customer_profiles").is_written(d) for d in DAYS)
    assert not any(backfills.lake.view("customer_profiles").is_written(d) for d in DAYS)
