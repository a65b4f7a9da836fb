"""The production dagster.yaml loads: PostgreSQL storage (the real server), queued runs, ECS."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from dagster._core.instance.config import dagster_instance_config

from etl_platform.env import PROJECT_ROOT

pytestmark = pytest.mark.integration


@dg.asset(name="probe")
def _probe() -> None:
    """Stores one materialization: the events path of the production storage."""


def test_the_production_instance_config_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = "etl_test_dagster_prod"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db}")
        conn.execute(f"CREATE DATABASE {db}")
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster.prod.yaml", tmp_path / "dagster.yaml")
    for name, value in (
        ("DAGSTER_PG_HOST", "127.0.0.1"),
        ("DAGSTER_PG_USER", "postgres"),
        ("DAGSTER_PG_PASSWORD", ""),
        ("DAGSTER_PG_DB", db),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(name, value)
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["run_launcher"]["class"] == "EcsRunLauncher"
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["concurrency"]["pools"]["default_limit"] == 2
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.get_runs() == []
        # Events go through PostgreSQL's NOTIFY: a run stores them, not only lists them.
        result = dg.materialize([_probe], instance=instance)
        assert result.success
        assert instance.get_latest_materialization_event(dg.AssetKey("probe")) is not None
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
