"""Snapshot tables end to end against MariaDB: `departments` has no date column, so it is read
whole on each refresh and diffed into its lookup state. A view on `dept_emp` looks it up: days
before a change keep the old name, days after it see the new one, or none once deleted.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from etl_platform.cli.scaffold import cmd_views_new
from etl_platform.definitions import build_definitions
from etl_platform.env import Environment
from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.load.lake import SNAPSHOT_AT_KEY, Lake
from etl_platform.runner import extract_lookup_history, run_range
from etl_platform.specs.errors import SpecError, SpecErrors
from etl_platform.specs.loader import load_checked_sources, load_source_schema, load_sources
from etl_platform.specs.source_schema import SourceSchema
from etl_platform.specs.view_loader import load_views
from etl_platform_tests.conftest import TEST_MYSQL_URL, run_sql

pytestmark = pytest.mark.integration

START = dt.date(2024, 3, 1)
PAST = dt.date(2024, 3, 4)
RAW = dg.AssetKey(["raw", "shard_00", "departments"])
STATE = dg.AssetKey(["state", "shard_00", "departments"])
DOWN_URL = "mysql://root:wrong-password@127.0.0.1:1/"

SCHEMA = """\
tables:
  dept_emp:
    emp_no: 'int(11)'
    dept_no: 'char(4)'
    updated_at: 'datetime'
  departments:
    dept_no: 'char(4)'
    dept_name: 'varchar(40)'
"""

VIEW = """\
type: etl_platform.components.ViewComponent
attributes:
  name: {name}
  source: {source}
  lookups:
    - table: departments
      on: {{dept_no: dept_no}}
      columns: {{dept_name: dept_name}}
  columns:
    emp_no: {{from: emp_no, type: int32}}
    dept_no: {{from: dept_no, type: string}}
  unique_key: [emp_no, dept_no]
  destinations: []
"""


def _sources(database: str, *, down: bool = False, departments: str = "") -> str:
    extra = f"  shard_01: {{url_env: ETL_TEST_DOWN_URL, database: {database}}}\n" if down else ""
    return (
        f"start: {START}\n"
        "extract: {retry: {max_retries: 0, delay_seconds: 0}, connect_timeout_seconds: 2}\n"
        f"shards:\n  shard_00: {{url_env: ETL_TEST_SHARD_URL, database: {database}}}\n{extra}"
        "tables:\n"
        "  dept_emp: {primary_key: [emp_no, dept_no]}\n"
        f"  departments: {departments or '{primary_key: [dept_no], mode: snapshot}'}\n"
    )


@pytest.fixture
def shard(scratch_db: MySqlEndpoint) -> MySqlEndpoint:
    """Three departments, and employees assigned to them on a past day and today."""
    today = dt.datetime.now(dt.UTC).date()
    run_sql(
        scratch_db,
        "CREATE TABLE departments (dept_no CHAR(4) NOT NULL PRIMARY KEY, "
        "dept_name VARCHAR(40) NOT NULL)",
        "CREATE TABLE dept_emp (emp_no INT NOT NULL, dept_no CHAR(4) NOT NULL, "
        "updated_at DATETIME NOT NULL, PRIMARY KEY (emp_no, dept_no), KEY (updated_at))",
        "INSERT INTO departments VALUES ('d001', 'Marketing'), ('d002', 'Finance'), "
        "('d003', 'Sales')",
        "INSERT INTO dept_emp VALUES (1, 'd001', %s), (2, 'd002', %s), (3, 'd003', %s), "
        "(4, 'd001', %s), (5, 'd002', %s), (6, 'd003', %s)",
        params=(*[f"{PAST} 12:00:00"] * 3, *[f"{today} 00:00:01"] * 3),
    )
    return scratch_db


@pytest.fixture
def platform(
    shard: MySqlEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[dg.Definitions, Lake, Path]]:
    (tmp_path / "sources.yaml").write_text(_sources(str(shard.database)))
    (tmp_path / "sources.schema.yaml").write_text(SCHEMA)
    view = tmp_path / "views" / "assignments"
    view.mkdir(parents=True)
    (view / "defs.yaml").write_text(VIEW.format(name="assignments", source="dept_emp"))
    monkeypatch.setenv("ETL_PLATFORM_SOURCES", str(tmp_path / "sources.yaml"))
    monkeypatch.setenv("ETL_PLATFORM_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("ETL_PLATFORM_VIEWS_DIR", str(tmp_path / "views"))
    monkeypatch.setenv("ETL_TEST_SHARD_URL", TEST_MYSQL_URL)
    monkeypatch.setenv("ETL_TEST_DOWN_URL", DOWN_URL)
    yield build_definitions(Environment.TEST), Lake(tmp_path / "lake"), tmp_path


def _names(lake: Lake, day: dt.date) -> dict[int, str | None]:
    """emp_no -> the department name the view day looked up."""
    table = lake.view("assignments").read_partition(day, ["emp_no", "dept_name"])
    assert table is not None, f"no view day {day}"
    return dict(zip(*table.to_pydict().values(), strict=True))


def _run(defs: dg.Definitions, instance: dg.DagsterInstance, job: str, day: dt.date, **kw):
    run = run_range(defs, job, day, day, instance=instance, **kw)
    assert run.success, [o.error for o in run.outcomes if o.error]
    return run


def _metadata(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict:
    event = instance.get_latest_materialization_event(key)
    assert event is not None and event.asset_materialization is not None
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def test_a_snapshot_table_is_looked_up_as_of_each_day(
    platform: tuple[dg.Definitions, Lake, Path], shard: MySqlEndpoint
) -> None:
    defs, lake, _ = platform
    today = dt.datetime.now(dt.UTC).date()
    graph = defs.resolve_asset_graph()
    assert graph.get(RAW).partitions_def is None
    assert graph.get(STATE).partitions_def is None
    assert not [c for c in graph.asset_check_keys if c.asset_key == RAW]  # no per-day checks
    with dg.instance_for_test() as instance:
        assert extract_lookup_history(defs, PAST, instance=instance) is None  # no days to read
        _run(defs, instance, "etl_all", PAST)
        assert _names(lake, PAST) == {1: "Marketing", 2: "Finance", 3: "Sales"}
        raw = _metadata(instance, RAW)
        assert raw["dagster/row_count"] == 3
        assert [c.name for c in raw["dagster/column_schema"].columns] == ["dept_no", "dept_name"]
        snapshot = lake.snapshot("shard_00", "departments")
        assert raw["path"] == str(snapshot.path)
        first_read = snapshot.taken_at()
        assert first_read is not None and first_read.tzinfo is not None
        footer = pq.read_schema(snapshot.path).metadata
        assert footer[SNAPSHOT_AT_KEY].decode() == raw["snapshot_at"] == first_read.isoformat()

        run_sql(
            shard,
            "UPDATE departments SET dept_name = 'Finance & Accounting' WHERE dept_no = 'd002'",
            "DELETE FROM departments WHERE dept_no = 'd003'",
        )
        _run(defs, instance, "etl_all", today)
        state = _metadata(instance, STATE)
        assert (state["versions_added"], state["keys_deleted"]) == (1, 1)
        assert snapshot.taken_at() > first_read
        assert _names(lake, today) == {4: "Marketing", 5: "Finance & Accounting", 6: None}
        # Rebuilt after the change, a day before it still shows the names of then.
        _run(defs, instance, "build_views", PAST)
        assert _names(lake, PAST) == {1: "Marketing", 2: "Finance", 3: "Sales"}

        # The same snapshot again adds nothing.
        _run(defs, instance, "build_views", today, asset_selection=[STATE])
        again = _metadata(instance, STATE)
        assert (again["versions_added"], again["keys_deleted"]) == (0, 0)
        assert again["dagster/row_count"] == state["dagster/row_count"] == 5


def test_a_view_day_waits_for_the_snapshot_state(
    platform: tuple[dg.Definitions, Lake, Path],
) -> None:
    defs, _, _ = platform
    with dg.instance_for_test() as instance:
        _run(
            defs,
            instance,
            "extract_raw",
            PAST,
            asset_selection=[dg.AssetKey(["raw", "shard_00", "dept_emp"])],
        )
        run = run_range(
            defs,
            "build_views",
            PAST,
            PAST,
            instance=instance,
            asset_selection=[dg.AssetKey(["views", "assignments"])],
        )
        assert not run.success
        errors = " ".join(o.error or "" for o in run.outcomes)
        assert "state/shard_00/departments" in errors


def test_a_shard_that_is_down_fails_its_own_snapshot(
    shard: MySqlEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sources.yaml").write_text(_sources(str(shard.database), down=True))
    monkeypatch.setenv("ETL_PLATFORM_SOURCES", str(tmp_path / "sources.yaml"))
    monkeypatch.setenv("ETL_PLATFORM_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("ETL_PLATFORM_VIEWS_DIR", str(tmp_path / "no-views"))
    monkeypatch.setenv("ETL_TEST_SHARD_URL", TEST_MYSQL_URL)
    monkeypatch.setenv("ETL_TEST_DOWN_URL", DOWN_URL)
    defs = build_definitions(Environment.TEST)
    keys = [dg.AssetKey(["raw", s, "departments"]) for s in ("shard_00", "shard_01")]
    with dg.instance_for_test() as instance:
        run = run_range(defs, "extract_raw", PAST, PAST, instance=instance, asset_selection=keys)
    errors = {o.key: o.error for o in run.outcomes}
    assert errors["raw/shard_00/departments"] is None
    message = next(e for k, e in errors.items() if "shard_01" in k and e)
    assert "shard shard_01 (127.0.0.1:1" in message and "departments" in message
    assert "wrong-password" not in message
    assert Lake(tmp_path / "lake").snapshot("shard_00", "departments").exists()


@pytest.mark.parametrize(
    "field", ["cursor: updated_at", "reconcile_keys: false", "null_cursor: ignore"]
)
def test_a_snapshot_table_takes_no_cursor_settings(tmp_path: Path, field: str) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(
        _sources("shop", departments=f"{{primary_key: [dept_no], mode: snapshot, {field}}}")
    )
    with pytest.raises(SpecError, match=rf"tables\.departments\.{field.split(':')[0]}: a snapshot"):
        load_sources(path)


def test_a_snapshot_table_needs_no_date_column_in_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(_sources("shop"))
    (tmp_path / "sources.schema.yaml").write_text(SCHEMA)
    assert load_checked_sources(path).tables["departments"].version_column == "_snapshot_at"


def test_a_view_cannot_be_sourced_from_a_snapshot_table(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(_sources("shop"))
    view = tmp_path / "views" / "departments_view"
    view.mkdir(parents=True)
    (view / "defs.yaml").write_text(VIEW.format(name="departments_view", source="departments"))
    with pytest.raises(SpecErrors, match=r"attributes\.source: table 'departments' is a snapshot"):
        load_views(tmp_path / "views", load_sources(path), _schema(tmp_path))


def test_views_new_refuses_a_snapshot_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(_sources("shop"))
    monkeypatch.setenv("ETL_PLATFORM_SOURCES", str(path))
    args = argparse.Namespace(name="dept_view", source="departments", dir=str(tmp_path), sample=10)
    assert cmd_views_new(args) == 1
    assert "'departments' is a snapshot table (mode: snapshot)" in capsys.readouterr().err
    assert not (tmp_path / "dept_view").exists()


def _schema(folder: Path) -> SourceSchema:
    (folder / "sources.schema.yaml").write_text(SCHEMA)
    return load_source_schema(folder / "sources.schema.yaml")


def test_the_snapshot_is_read_once_per_extract_tick(
    platform: tuple[dg.Definitions, Lake, Path],
) -> None:
    """The automation sensor reads a snapshot table on the extracts' cron, once per tick."""
    defs, _, _ = platform
    selection = dg.AssetSelection.assets(RAW)
    tick = dt.datetime(2026, 12, 7, 10, 1, tzinfo=dt.UTC)
    requested = []
    with dg.instance_for_test() as instance:
        cursor = None
        for minutes in (0, 5, 15, 16):
            result = dg.evaluate_automation_conditions(
                defs,
                instance,
                asset_selection=selection,
                evaluation_time=tick + dt.timedelta(minutes=minutes),
                cursor=cursor,
            )
            requested.append(result.total_requested)
            cursor = result.cursor
    assert requested == [0, 0, 1, 0]
