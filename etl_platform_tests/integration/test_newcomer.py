"""The README's newcomer path, in order, in a fresh shell: the demo up, a view scaffolded,
validated and run, then the README's own DuckDB query.

The commands run with `bash` in a copy of the project (`etl_platform/` and the files beside
it; `.venv` linked) so that its `.env`, `.local/` and new view are the copy's, never the
checkout's. The environment holds only PATH, HOME and PYTHONPATH (which makes the copy the
imported package): no variable from `make`. The demo is small (2 shards, 10 days) and runs
on its own private `mariadbd`, as `make run` does.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from etl_platform.demo.mariadb_server import stop_server
from etl_platform.env import PROJECT_ROOT

pytestmark = pytest.mark.integration

README = PROJECT_ROOT / "README.md"
#: `make run`'s command, on a demo small enough for a test.
DEMO_RUN = ".venv/bin/etl-platform demo run --shards 2 --orders 500 --days 10 --run-days 2"
SHARDS_KEPT = ("shard_00", "shard_01")


def _copy_project(root: Path) -> Path:
    """The project as a newcomer's checkout, its demo sources cut down to two shards."""
    shutil.copytree(
        PROJECT_ROOT / "etl_platform",
        root / "etl_platform",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    for name in ("README.md", "pyproject.toml", "dagster.yaml", "workspace.yaml"):
        shutil.copy(PROJECT_ROOT / name, root / name)
    (root / ".venv").symlink_to(PROJECT_ROOT / ".venv")
    sources = root / "etl_platform" / "defaults" / "sources.yaml"
    kept = [
        line
        for line in sources.read_text().splitlines(keepends=True)
        if not re.match(r"  shard_\d+:", line) or line.split(":")[0].strip() in SHARDS_KEPT
    ]
    sources.write_text("".join(kept))
    return root


def _readme_block(containing: str) -> list[str]:
    """The lines of the README's ```bash block that holds `containing`."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.DOTALL)
    found = [block.splitlines() for block in blocks if containing in block]
    assert found, f"README.md has no bash block with {containing!r}"
    return found[0]


def _add_a_view() -> tuple[str, str]:
    """The README's "Add a view" block as one script (its editor step left out, its run over
    the demo's 2 days), and the view it adds."""
    lines = _readme_block("etl-platform views new")
    script = [re.sub(r"--days \d+", "--days 2", line) for line in lines if "$EDITOR" not in line]
    view = next(line.split()[3] for line in lines if "etl-platform views new" in line)
    return "set -euo pipefail\n" + "\n".join(script), view


class Shell:
    """A fresh shell in the project copy: every command's output kept for the failure report."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": os.environ.get("HOME", str(root)),
            "PYTHONPATH": str(root),
        }
        self.log: list[str] = []

    def run(self, command: str, *, expect: int = 0) -> str:
        started = time.monotonic()
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        output = done.stdout + done.stderr
        self.log.append(f"$ {command}  # exit {done.returncode}, {time.monotonic() - started:.1f}s")
        self.log.append(output[-4000:])
        assert done.returncode == expect, "\n".join(self.log)
        return output


def test_the_readme_path_works_in_a_fresh_shell(tmp_path: Path) -> None:
    root = _copy_project(tmp_path / "p")
    shell = Shell(root)
    add_a_view, view = _add_a_view()
    (query,) = _readme_block("import duckdb")
    try:
        # Before `make run`, the error says what to do.
        said = shell.run(".venv/bin/etl-platform sources schema", expect=1)
        assert "run `make run` first" in said and "ETL_PLATFORM_DEMO_MYSQL_URL=mysql://" in said

        shell.run(DEMO_RUN)
        settings = (root / ".env").read_text()
        assert "ETL_PLATFORM_DEMO_MYSQL_URL=mysql://root@127.0.0.1:" in settings
        assert f"DAGSTER_HOME={root / '.local' / 'dagster'}\n" in settings

        shell.run(".venv/bin/etl-platform sources schema")
        ran = shell.run(add_a_view)
        assert f"views/{view}" in ran

        answer = shell.run(query)
        assert re.search(r"│\s*(pending|paid|shipped|delivered|cancelled|refunded)", answer), (
            "\n".join(shell.log)
        )
        built = root / ".local" / "lake" / "views" / view
        assert len(list(built.glob("updated_at=*"))) == 2

        shell.run(".venv/bin/etl-platform demo down")
        assert "ETL_PLATFORM_DEMO_MYSQL_URL" not in (root / ".env").read_text()
    finally:
        stop_server(root / ".local" / "mariadb")
