"""A view scaffolded from the seeded `orders` passes its own blocking checks on that data, and
`etl-platform run` with its output in a pipe prints one line per finished step."""

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
from etl_platform_tests.conftest import SEED_DAYS, SEED_END, SEED_PREFIX, TEST_MYSQL_URL

pytestmark = pytest.mark.integration

FIRST = SEED_END - dt.timedelta(days=SEED_DAYS - 1)
SHARDS = {"shard_00": f"{SEED_PREFIX}00", "shard_01": f"{SEED_PREFIX}01"}
STEP_LINE = re.compile(r"^\[(\d+)/(\d+)\] (\S+) (\S+) ([\d,]+) rows [\d.]+ s$")


@pytest.fixture
def project(seeded_shards: list[str], tmp_path: Path) -> dict[str, str]:
    """A project of its own over the seeded shards: sources, an empty views folder, a lake and
    a Dagster home; the environment to run the command in."""
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


def test_a_scaffolded_view_passes_its_checks_on_the_data_it_came_from(
    project: dict[str, str],
) -> None:
    views = Path(project["ETL_PLATFORM_VIEWS_DIR"])
    made = _cli(project, "views", "new", "shipments", "--source", "orders", "--dir", str(views))
    assert made.returncode == 0, made.stdout + made.stderr
    text = (views / "shipments" / "defs.yaml").read_text()
    columns = yaml.safe_load(text)["attributes"]["columns"]
    assert columns["payload_totals_grand_total"]["type"] == "decimal(12,2)"  # "39.80" and 39.8
    assert columns["total"]["type"] == "decimal(12,2)"
    assert "# Tried on the 400 latest rows of shard_00.orders:" in text
    assert "payload:" in text.split("max_reject_ratio")[0].rsplit("Tried on", 1)[1]

    validated = _cli(project, "views", "validate")
    assert validated.returncode == 0, validated.stderr

    ran = _cli(project, "run", "--job", "etl_all", "--start", str(FIRST), "--end", str(SEED_END))
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    # The seeded days are long past: only the view's data lag check (now minus the data's
    # time) may fail; every check on the data itself passes.
    failed = [line for line in ran.stdout.splitlines() if line.strip().startswith("FAILED ")]
    assert all(" data_lag:" in line for line in failed), failed
    # The query hint is over the view this run wrote, not the demo's.
    assert "SELECT * FROM shipments WHERE updated_at BETWEEN" in ran.stdout
    assert "orders_enriched" not in ran.stdout
    steps = [m for line in ran.stdout.splitlines() if (m := STEP_LINE.match(line))]
    # One line per step: each table's extract on each shard, then the view.
    assert [int(m[1]) for m in steps] == list(range(1, 10))
    assert {int(m[2]) for m in steps} == {9}
    assert steps[-1][3] == "views/shipments"
    assert {m[4] for m in steps} == {f"{FIRST}..{SEED_END}"}
    assert {m[3] for m in steps[:-1]} == {
        f"raw/{shard}/{table}"
        for shard in SHARDS
        for table in ("customers", "order_events", "orders", "products")
    }

    with dg.DagsterInstance.from_config(project["DAGSTER_HOME"]) as instance:
        (record,) = instance.get_run_records()
        checks = [
            e.dagster_event.event_specific_data
            for e in instance.all_logs(
                record.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
            )
        ]
    # The view's step reports its data lag too (no step of its own): 2024's data is late.
    (lag,) = [c for c in checks if c.check_name == "data_lag"]
    assert not lag.passed and lag.severity == dg.AssetCheckSeverity.ERROR
    blocking = {c.check_name: c.passed for c in checks if c.blocking}
    assert blocking == dict.fromkeys(
        ["unique_key_unique", "unique_key_not_null", "rows_balance", "reject_ratio"], True
    )
