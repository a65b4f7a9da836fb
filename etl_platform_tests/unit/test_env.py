"""The environment module: where local files go, and that it is the one reader of the variables."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from etl_platform.env import Environment, duckdb_file, lake_root
from etl_platform.resources import build_resources

PACKAGE = Path(__file__).resolve().parents[2] / "etl_platform"


def test_the_duckdb_catalog_sits_beside_the_lake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ETL_PLATFORM_DUCKDB", raising=False)
    monkeypatch.setenv("ETL_PLATFORM_LAKE", str(tmp_path / "data" / "lake"))
    resources = build_resources(Environment.LOCAL)
    assert resources["duckdb"].database == str(tmp_path / "data" / "lake.duckdb")
    assert duckdb_file(Environment.PROD, lake_root()) == ":memory:"
    monkeypatch.setenv("ETL_PLATFORM_DUCKDB", str(tmp_path / "elsewhere.duckdb"))
    assert build_resources(Environment.LOCAL)["duckdb"].database == str(
        tmp_path / "elsewhere.duckdb"
    )


def test_the_test_environment_gets_a_fresh_lake(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ETL_PLATFORM_LAKE", raising=False)
    assert lake_root(Environment.TEST) != lake_root(Environment.TEST)


def _environ_reads(tree: ast.AST) -> list[str]:
    """String literals naming ETL_PLATFORM_* variables passed to os.environ/os.getenv."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            func = ast.unparse(node.func)
            if func in ("os.environ.get", "os.getenv", "os.environ.setdefault"):
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and str(arg.value).startswith("ETL_PLATFORM_"):
                    names.append(arg.value)
        if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            key = node.slice
            if isinstance(key, ast.Constant) and str(key.value).startswith("ETL_PLATFORM_"):
                names.append(key.value)
    return names


def test_only_env_py_reads_the_platforms_variables() -> None:
    readers = {
        str(path.relative_to(PACKAGE)): names
        for path in PACKAGE.rglob("*.py")
        if path.name != "env.py" and (names := _environ_reads(ast.parse(path.read_text())))
    }
    assert readers == {}
