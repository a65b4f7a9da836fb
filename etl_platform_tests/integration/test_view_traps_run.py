"""`etl-platform run` over a view whose unique key folds most rows away: the run succeeds, the
warning names the key and the share removed, and the query hint is over that view."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from etl_platform.env import DEFAULTS_DIR
from etl_platform.specs.view_loader import VIEW_COMPONENT_TYPE
from etl_platform_tests.conftest import SEED_DAYS, SEED_END, SEED_PREFIX, TEST_MYSQL_URL

pytestmark = pytest.mark.integration

FIRST = SEED_END - dt.timedelta(days=SEED_DAYS - 1)
SHARDS = {"shard_00": f"{SEED_PREFIX}00", "shard_01": f"{SEED_PREFIX}01"}
#: An analyst who wanted "orders per status" and wrote it as a unique key.
VIEW = {
    "name": "orders_by_status",
    "source": "orders",
    "columns": {
        "order_id": {"from": "id", "type": "uint64"},
        "status": {"from": "status", "type": "string"},
    },
    "unique_key": ["status"],
}


@pytest.fixture
def project(seeded_shards: list[str], tmp_path: Path) -> dict[str, str]:
    """A project of its own over the seeded shards with the one view; the environment to run
    the command in."""
    defaults = (DEFAULTS_DIR / "sources.yaml").read_text()
    (tmp_path / "sources.yaml").write_text(
        re.sub(r"^start:.*$", "start: 2024-01-01", defaults.split("shards:")[0], flags=re.M)
        + "shards:\n"
        + "".join(
            f"  {s}: {{url_env: ETL_TEST_SHARD_URL, database: {db}}}\n" for s, db in SHARDS.items()
        )
        + "tables:"
        + defaults.split("tables:")[1]
    )
    shutil.copy(DEFAULTS_DIR / "sources.schema.yaml", tmp_path / "sources.schema.yaml")
    view = tmp_path / "views" / VIEW["name"] / "defs.yaml"
    view.parent.mkdir(parents=True)
    view.write_text(yaml.safe_dump({"type": VIEW_COMPONENT_TYPE, "attributes": VIEW}))
    (tmp_path / "dagster").mkdir()
    (tmp_path / "dagster" / "dagster.yaml").write_text("telemetry: {enabled: false}\n")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ETL_PLATFORM_", "DAGSTER_", "AWS_"))
    }
    env.update(
        ETL_PLATFORM_SOURCES=str(tmp_path / "sources.yaml"),
        ETL_PLATFORM_VIEWS_DIR=str(tmp_path / "views"),
        ETL_PLATFORM_LAKE=str(tmp_path / "lake"),
        ETL_PLATFORM_LOCAL_DIR=str(tmp_path / "local"),
        ETL_TEST_SHARD_URL=TEST_MYSQL_URL,
        DAGSTER_HOME=str(tmp_path / "dagster"),
    )
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "etl_platform.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_a_unique_key_that_folds_most_rows_warns_and_the_hint_is_the_views(
    project: dict[str, str],
) -> None:
    ran = _cli(project, "run", "--job", "etl_all", "--start", str(FIRST), "--end", str(SEED_END))
    out = ran.stdout
    assert ran.returncode == 0, out[-3000:] + ran.stderr[-3000:]  # a warning does not block

    # The warning, with its figure and what to do about it.
    (warned,) = [line for line in out.splitlines() if "unique_key_keeps_rows" in line]
    assert warned.startswith("  WARN views/orders_by_status unique_key_keeps_rows: dedupe removed")
    assert "on _shard + status: is that one row's key? An aggregate belongs in a report view" in (
        warned
    )
    assert "FAILED" not in out

    # The query hint and the summary are over the view this run wrote, not the demo's.
    assert "Query with DuckDB: " in out
    assert "SELECT * FROM orders_by_status WHERE updated_at BETWEEN " in out
    assert f"DATE '{FIRST}' AND DATE '{SEED_END}'" in out
    assert re.search(r"│ orders_by_status\s+│\s+\d+ │\s+0 │", out), out[-2000:]
    assert "orders_enriched" not in out

    with dg.DagsterInstance.from_config(project["DAGSTER_HOME"]) as instance:
        (record,) = instance.get_run_records()
        checks = {
            e.dagster_event.event_specific_data.check_name: e.dagster_event.event_specific_data
            for e in instance.all_logs(
                record.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
            )
        }
    keeps = checks.pop("unique_key_keeps_rows")
    assert not keeps.passed and keeps.severity == dg.AssetCheckSeverity.WARN
    meta = {k: v.value for k, v in keeps.metadata.items()}
    assert meta["ratio"] > 0.5
    assert meta["ratio"] == pytest.approx(meta["duplicates"] / meta["rows_in"])
    assert meta["key"] == ["_shard", "status"]
    assert "_shard + status" in (keeps.description or "")
    assert all(c.passed for c in checks.values()), checks  # the blocking checks hold


def test_a_run_without_views_prints_no_query(project: dict[str, str]) -> None:
    ran = _cli(
        project, "run", "--job", "extract_raw", "--start", str(SEED_END), "--end", str(SEED_END)
    )
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "total:" in ran.stdout
    assert "DuckDB" not in ran.stdout and "SELECT" not in ran.stdout
