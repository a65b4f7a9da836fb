"""How a fresh shell finds the demo: the project's `.env`, the local Dagster instance, what a
missing setting says, the demo's relative `start`, and the checks before `make test`."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

import pytest
from dotenv import dotenv_values

from etl_platform import env, prerequisites, project_env
from etl_platform.demo import setup
from etl_platform.env import DEMO_URL_ENV, PROJECT_ROOT


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A local dir of the test's own, so `.env` is `<it>/.env`; no variable of the caller's."""
    monkeypatch.setattr(env, "LOCAL_DIR", tmp_path / "local")
    monkeypatch.setattr(project_env, "_loaded", set())
    for name in (DEMO_URL_ENV, "DAGSTER_HOME", "ETL_TEST_FROM_FILE"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "local"


def test_the_env_file_is_the_projects_beside_its_own_local_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(env, "LOCAL_DIR", PROJECT_ROOT / ".local")
    assert env.env_file() == PROJECT_ROOT / ".env"
    monkeypatch.setattr(env, "LOCAL_DIR", tmp_path)
    assert env.env_file() == tmp_path / ".env"


def test_loading_fills_in_what_the_shell_lacks_and_never_overrides(
    local: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local.mkdir()
    (local / ".env").write_text(f"{DEMO_URL_ENV}=mysql://from-file@h:1/\nETL_TEST_FROM_FILE=1\n")
    monkeypatch.setenv(DEMO_URL_ENV, "mysql://from-shell@h:2/")
    assert project_env.load_env_file() == ["ETL_TEST_FROM_FILE"]
    assert env.demo_mysql_url() == "mysql://from-shell@h:2/"
    assert project_env.from_env_file("ETL_TEST_FROM_FILE")
    assert not project_env.from_env_file(DEMO_URL_ENV)


@pytest.mark.parametrize(
    "value",
    [
        "mysql://root@127.0.0.1:3306/",
        "mysql://u:p a#ss@h:1/",
        "mysql://u:it's@h:1/",
        "mysql://u:\"q\\uo$te'@h:1/",
        "/path with spaces/dagster",
    ],
)
def test_recorded_values_read_back_the_same_as_dagster_reads_them(local: Path, value: str) -> None:
    path = project_env.record({DEMO_URL_ENV: value})
    assert dotenv_values(path)[DEMO_URL_ENV] == value


def test_recording_keeps_other_lines_replaces_ours_and_removes_with_none(local: Path) -> None:
    local.mkdir()
    (local / ".env").write_text(
        f"# mine\nexport {DEMO_URL_ENV}=old\nETL_PLATFORM_VIEWS_DIR=/v\nDAGSTER_HOME=/h"
    )
    project_env.record({DEMO_URL_ENV: "mysql://new@h:1/", "ETL_TEST_FROM_FILE": "x"})
    text = (local / ".env").read_text()
    assert text == (
        f"# mine\n{DEMO_URL_ENV}=mysql://new@h:1/\nETL_PLATFORM_VIEWS_DIR=/v\nDAGSTER_HOME=/h\n"
        "ETL_TEST_FROM_FILE=x\n"
    )
    project_env.record({DEMO_URL_ENV: None})
    assert DEMO_URL_ENV not in (local / ".env").read_text()


def test_a_new_env_file_is_its_owners_only(local: Path) -> None:
    path = project_env.record({DEMO_URL_ENV: "mysql://u:secret@h:1/"})
    assert path.read_text().startswith("# Local settings")
    assert path.stat().st_mode & 0o077 == 0


def test_dagster_home_defaults_to_the_local_instance_with_the_repos_config(
    local: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = project_env.ensure_dagster_home()
    assert home == local.resolve() / "dagster"
    assert (home / "dagster.yaml").read_bytes() == (PROJECT_ROOT / "dagster.yaml").read_bytes()
    assert os.environ["DAGSTER_HOME"] == str(home)


def test_a_dagster_home_set_elsewhere_is_left_alone(
    local: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "theirs"))
    assert project_env.ensure_dagster_home() == tmp_path / "theirs"
    assert not (tmp_path / "theirs").exists() and not (local / "dagster").exists()


def test_make_env_names_the_local_instance_once(local: Path) -> None:
    assert project_env.main() == 0
    assert dotenv_values(local / ".env")["DAGSTER_HOME"] == str(local.resolve() / "dagster")
    project_env.record({"DAGSTER_HOME": "/elsewhere"})
    project_env.main()
    assert dotenv_values(local / ".env")["DAGSTER_HOME"] == "/elsewhere"


def test_demo_down_forgets_only_the_private_servers_url(local: Path) -> None:
    (local / "mariadb").mkdir(parents=True)
    (local / "mariadb" / "port").write_text("40123")
    assert setup.private_url(local) == "mysql://root@127.0.0.1:40123/"
    project_env.record({DEMO_URL_ENV: "mysql://someone@db:3306/"})
    setup.forget_private_url(local)
    assert project_env.file_values()[DEMO_URL_ENV] == "mysql://someone@db:3306/"
    project_env.record({DEMO_URL_ENV: "mysql://root@127.0.0.1:40123/"})
    setup.forget_private_url(local)
    assert DEMO_URL_ENV not in project_env.file_values()


def test_a_missing_demo_url_says_to_run_make_run_or_set_it(local: Path) -> None:
    message = str(env.missing_setting(DEMO_URL_ENV, "shard shard_00", "url_env"))
    assert message.startswith(f"shard shard_00: environment variable {DEMO_URL_ENV} (url_env)")
    assert "run `make run` first" in message and f"{DEMO_URL_ENV}=mysql://" in message
    other = str(env.missing_setting("S1_PASSWORD", "shard s1", "password_env"))
    assert f"set S1_PASSWORD in the environment or in {local / '.env'}" in other


def test_the_demo_partitions_start_where_its_seeded_days_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`make run` writes the first seeded day to `.env`; the demo's sources.yaml starts there,
    a fixed date (a start that moved daily would change the partitions under backfills)."""
    from etl_platform.specs.loader import load_sources

    monkeypatch.setenv(env.DEMO_START_ENV, "2026-09-09")
    assert load_sources(env.DEFAULTS_DIR / "sources.yaml").start == dt.date(2026, 9, 9)
    monkeypatch.delenv(env.DEMO_START_ENV)
    assert load_sources(env.DEFAULTS_DIR / "sources.yaml").start == dt.date(2025, 1, 1)


def test_env_references_in_sources_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from etl_platform.specs.errors import SpecError
    from etl_platform.specs.loader import load_sources

    path = tmp_path / "sources.yaml"
    path.write_text(
        "start: ${FIRST_DAY}\nshards:\n  s: {url_env: X, database: '${DB:-shop}'}\n"
        "tables:\n  t: {primary_key: [id]}\n"
    )
    monkeypatch.setenv("FIRST_DAY", "2024-02-03")
    spec = load_sources(path)
    assert spec.start == dt.date(2024, 2, 3) and spec.shards["s"].database == "shop"
    monkeypatch.delenv("FIRST_DAY")
    with pytest.raises(SpecError, match=r"sources.yaml: start: environment variable FIRST_DAY"):
        load_sources(path)


def test_prerequisites_name_what_is_missing_and_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(prerequisites.MYSQL_URL_ENV, "mysql://root@127.0.0.1:9/")
    monkeypatch.setenv(prerequisites.POSTGRES_URL_ENV, "postgresql://postgres@127.0.0.1:9/x")
    monkeypatch.setenv("CI", "true")
    for module in ("MySQLdb", "MySQLdb._mysql"):  # as without libmariadb-dev
        monkeypatch.setitem(sys.modules, module, None)
    problems = prerequisites.missing()
    text = "\n".join(problems)
    assert "MariaDB at root@127.0.0.1:9" in text and "apt-get install mariadb-server" in text
    assert "PostgreSQL at 127.0.0.1:9/x" in text and "apt-get install postgresql" in text
    assert "apt-get install libmariadb-dev pkg-config" in text
    assert prerequisites.main() == 1


def test_outside_ci_a_missing_driver_is_not_a_prerequisite(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    for module in ("MySQLdb", "MySQLdb._mysql"):
        monkeypatch.setitem(sys.modules, module, None)
    assert prerequisites.check_ci_drivers() == []
