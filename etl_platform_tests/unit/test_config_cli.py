"""`etl-platform sources validate` and `views validate`: what they refuse, and the exit code."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl_platform.cli import main
from etl_platform.env import DEFAULTS_DIR

SOURCES = """
start: 2024-01-01
shards: {s0: {url_env: S0_URL}}
tables:
  places: {primary_key: [id], exclude_columns: [outline]}
  roads: {primary_key: [id]}
"""
SNAPSHOT = """
tables:
  places:
    id: 'bigint(20) unsigned'
    location: 'point'
    outline: 'polygon'
    updated_at: 'datetime(6)'
  roads:
    id: 'int(11)'
    path: 'linestring'
    shape: 'geometry'
    updated_at: 'datetime'
"""


def _write_sources(folder: Path, snapshot: str | None, sources: str = SOURCES) -> Path:
    path = folder / "sources.yaml"
    path.write_text(sources)
    if snapshot is not None:
        (folder / "sources.schema.yaml").write_text(snapshot)
    return path


def test_sources_validate_refuses_every_unreadable_column(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = _write_sources(tmp_path, SNAPSHOT)
    assert main(["sources", "validate", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = [line.strip() for line in captured.err.splitlines()]
    assert lines[0] == f"3 problem(s) in {path}:"
    assert lines[1:] == [
        f"{path}: tables.places: column location has type point that cannot be read; "
        "add it to exclude_columns",
        f"{path}: tables.roads: column path has type linestring that cannot be read; "
        "add it to exclude_columns",
        f"{path}: tables.roads: column shape has type geometry that cannot be read; "
        "add it to exclude_columns",
    ]


def test_sources_validate_accepts_excluded_unreadable_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    sources = SOURCES.replace(
        "roads: {primary_key: [id]}", "roads: {primary_key: [id], exclude_columns: [path, shape]}"
    )
    path = _write_sources(tmp_path, SNAPSHOT.replace("'point'", "'double'"), sources)
    assert main(["sources", "validate", str(path)]) == 0
    assert f"{path}: ok (1 shards, 2 tables)" in capsys.readouterr().out


def test_sources_validate_without_a_snapshot_checks_the_file_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = _write_sources(tmp_path, None)
    assert main(["sources", "validate", str(path)]) == 0
    assert "ok" in capsys.readouterr().out


def test_sources_validate_reports_a_broken_snapshot(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = _write_sources(tmp_path, "tables: {places: {id: 'int'}}\nextra: 1\n")
    assert main(["sources", "validate", str(path)]) == 1
    assert f"{tmp_path / 'sources.schema.yaml'}: extra: unknown field" in capsys.readouterr().err


def test_the_demo_sources_and_their_snapshot_validate(capsys: pytest.CaptureFixture) -> None:
    assert (DEFAULTS_DIR / "sources.schema.yaml").is_file()
    assert main(["sources", "validate", str(DEFAULTS_DIR / "sources.yaml")]) == 0
    assert "ok" in capsys.readouterr().out


@pytest.mark.parametrize("layout", ["empty", "missing", "flat-file"])
def test_views_validate_refuses_a_folder_without_view_specs(
    tmp_path: Path, capsys: pytest.CaptureFixture, layout: str
) -> None:
    directory = tmp_path / "views"
    if layout != "missing":
        directory.mkdir()
    if layout == "flat-file":
        (directory / "defs.yaml").write_text("type: etl_platform.components.ViewComponent\n")
    assert main(["views", "validate", str(directory)]) == 1
    captured = capsys.readouterr()
    assert "0 view(s) ok" not in captured.out
    assert f"found no view spec in {directory}" in captured.err
    assert f"{directory}/<view>/defs.yaml" in captured.err


def test_views_validate_accepts_the_demo_views(capsys: pytest.CaptureFixture) -> None:
    assert main(["views", "validate", str(DEFAULTS_DIR / "views")]) == 0
    assert "6 view(s) ok" in capsys.readouterr().out


CURSOR_SOURCES = """
start: 2024-01-01
shards: {s0: {url_env: S0_URL}}
tables:
  places: {primary_key: [id], cursor: changed_at}
  roads: {primary_key: [id], cursor: name, null_cursor: {fallback: lanes}}
  trips: {primary_key: [id], null_cursor: {fallback: started_on}}
"""
CURSOR_SNAPSHOT = """
tables:
  places: {id: 'int(11)', updated_at: 'datetime(6)'}
  roads: {id: 'int(11)', name: 'varchar(64)', lanes: 'int(11)'}
  trips: {id: 'int(11)', started_on: 'date', updated_at: 'timestamp(6)'}
"""


def test_sources_validate_refuses_every_cursor_missing_or_not_a_date(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A cursor places each row on its day: the snapshot shows a bad one before any run."""
    path = _write_sources(tmp_path, CURSOR_SNAPSHOT, CURSOR_SOURCES)
    assert main(["sources", "validate", str(path)]) == 1
    lines = [line.strip() for line in capsys.readouterr().err.splitlines()]
    assert lines == [
        f"3 problem(s) in {path}:",
        f"{path}: tables.places.cursor: column 'changed_at' is not in the schema snapshot of "
        "table 'places' (re-run `etl-platform sources schema` if it was added)",
        f"{path}: tables.roads.cursor: column 'name' is varchar(64), not a DATE, DATETIME or "
        "TIMESTAMP: its value must name each row's day",
        f"{path}: tables.roads.null_cursor.fallback: column 'lanes' is int(11), not a DATE, "
        "DATETIME or TIMESTAMP: its value must name each row's day",
    ]


def test_definitions_refuse_a_bad_cursor_at_load_and_load_without_a_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dagster as dg

    from etl_platform.components import MySqlSourcesComponent
    from etl_platform.specs.errors import SpecError

    path = _write_sources(tmp_path, CURSOR_SNAPSHOT, CURSOR_SOURCES)
    monkeypatch.setenv("ETL_PLATFORM_SOURCES", str(path))
    context = dg.ComponentTree.for_test().load_context
    with pytest.raises(SpecError) as info:
        MySqlSourcesComponent().build_defs(context)
    assert [field for field, _ in info.value.problems] == [
        "tables.places.cursor",
        "tables.roads.cursor",
        "tables.roads.null_cursor.fallback",
    ]
    assert str(info.value).startswith(f"3 problem(s) in {path}:")
    (tmp_path / "sources.schema.yaml").unlink()  # the snapshot is optional for sources
    assert MySqlSourcesComponent().build_defs(context).assets
