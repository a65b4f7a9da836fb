"""`make run`'s path end to end: a private mariadbd, demo seed, one run, a summary; then again."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from etl_platform.demo.mariadb_server import stop_server

pytestmark = pytest.mark.integration


def _demo_run(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ETL_PLATFORM_") and k != "DAGSTER_HOME"
    }
    env.update(
        ETL_PLATFORM_LOCAL_DIR=str(tmp_path / "local"),
        DAGSTER_HOME=str(tmp_path / "dagster"),
    )
    (tmp_path / "dagster").mkdir(exist_ok=True)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "etl_platform.cli",
            "demo",
            "run",
            "--orders",
            "150",
            "--days",
            "10",
            "--run-days",
            "3",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_demo_run_starts_a_private_server_seeds_extracts_and_reuses(tmp_path: Path) -> None:
    try:
        first = _demo_run(tmp_path)
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        assert "seeded 12 shards on the private server (root@127.0.0.1:" in first.stdout
        lake = tmp_path / "local" / "lake" / "raw"
        assert sorted(p.name for p in lake.iterdir()) == [f"shard_{i:02d}" for i in range(12)]
        assert "raw/shard_11/orders" in first.stdout and "total:" in first.stdout
        assert "make dev" in first.stdout and "duckdb" in first.stdout
        # The demo's provider, served on loopback for the run, read once into the lake.
        assert "read providers/customer_risk: 250 rows" in first.stdout
        assert (tmp_path / "local" / "lake" / "providers" / "customer_risk").is_dir()
        # The query hint and the summary name the views the run wrote, with their rejects.
        assert "SELECT * FROM customer_profiles WHERE updated_at BETWEEN" in first.stdout
        for view in (
            "customer_profiles",
            "daily_orders",
            "order_activity",
            "order_items",
            "order_status_history",
            "orders_enriched",
        ):
            assert re.search(rf"│ {view}\s+│\s+\d+ │\s+\d+ │", first.stdout), view
        # `.env` beside ETL_PLATFORM_LOCAL_DIR (the project's own when that is `.local`)
        settings = (tmp_path / "local" / ".env").read_text()
        assert "\nETL_PLATFORM_DEMO_MYSQL_URL=mysql://root@127.0.0.1:" in settings
        # A table no view looks up is extracted for the run's days alone; a looked-up one
        # (orders) from its start.
        days = {p.name for p in (lake / "shard_00" / "order_events").iterdir()}
        assert len(days) == 3
        assert len(list((lake / "shard_00" / "orders").iterdir())) > 3

        second = _demo_run(tmp_path)
        assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
        assert "reused the seeded demo shards" in second.stdout
        total = [line for line in first.stdout.splitlines() if "total:" in line]
        assert total == [line for line in second.stdout.splitlines() if "total:" in line]
    finally:
        stop_server(tmp_path / "local" / "mariadb")
