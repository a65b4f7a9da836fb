"""`etl-platform run` over bad config: the problem list as `file: field: reason` lines, no
traceback, exit 1, and no run in the instance."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from etl_platform.env import PROJECT_ROOT

VIEW_WITH_A_TYPO = """
type: etl_platform.components.ViewComponent
attributes:
  name: broken
  source: orders
  colums:
    order_id: {from: id, type: uint64}
  unique_key: [order_id]
"""


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "dagster"
    home.mkdir(exist_ok=True)
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ETL_PLATFORM_") and k != "DAGSTER_HOME"
    }
    base.update(
        DAGSTER_HOME=str(home),
        ETL_PLATFORM_LAKE=str(tmp_path / "lake"),
        ETL_PLATFORM_LOCAL_DIR=str(tmp_path / "local"),
        **env,
    )
    return subprocess.run(
        [sys.executable, "-m", "etl_platform.cli", "run", "--days", "1"],
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _no_run(tmp_path: Path) -> bool:
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        return instance.get_runs() == []


def test_an_invalid_sources_yaml_prints_its_problems_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "sources.yaml"
    bad.write_text("start: 2024-01-01\nshards: {s0: {}}\ntables: {}\n")
    done = _run(tmp_path, ETL_PLATFORM_SOURCES=str(bad))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert f"{bad}: shards.s0: give either url_env or host" in done.stderr
    assert f"{bad}: tables: Dictionary should have at least 1 item" in done.stderr
    assert _no_run(tmp_path)


def test_an_invalid_view_spec_prints_its_problems_and_exits_1(tmp_path: Path) -> None:
    spec = tmp_path / "views" / "broken" / "defs.yaml"
    spec.parent.mkdir(parents=True)
    spec.write_text(VIEW_WITH_A_TYPO)
    done = _run(tmp_path, ETL_PLATFORM_VIEWS_DIR=str(tmp_path / "views"))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert f"{spec}: attributes.colums: unknown field" in done.stderr
    assert f"{spec}: attributes.columns: Field required" in done.stderr
    assert _no_run(tmp_path)


@pytest.mark.parametrize("yaml_text", ["shards: [unclosed\n"])
def test_unreadable_yaml_names_the_line(tmp_path: Path, yaml_text: str) -> None:
    bad = tmp_path / "sources.yaml"
    bad.write_text(yaml_text)
    done = _run(tmp_path, ETL_PLATFORM_SOURCES=str(bad))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert f"{bad}: line " in done.stderr and "invalid YAML" in done.stderr
