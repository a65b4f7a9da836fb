"""A project over the seeded shards with one extracted day in its lake: what the studio reads."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from etl_platform.env import DEFAULTS_DIR
from etl_platform_tests.conftest import SEED_DAYS, SEED_END, SEED_PREFIX, TEST_MYSQL_URL

#: The day the studio previews: the first seeded day, also the tables' `start`, so the lookup
#: state needs no older history.
DAY = SEED_END - dt.timedelta(days=SEED_DAYS - 1)
SHARDS = {"shard_00": f"{SEED_PREFIX}00", "shard_01": f"{SEED_PREFIX}01"}


@dataclasses.dataclass(frozen=True)
class Project:
    sources: Path
    views: Path
    lake: Path


def write_sources(folder: Path) -> Path:
    """The demo's sources.yaml on the seeded shards, starting on DAY; its snapshot beside it."""
    defaults = (DEFAULTS_DIR / "sources.yaml").read_text()
    path = folder / "sources.yaml"
    path.write_text(
        re.sub(r"^start:.*$", f"start: {DAY}", defaults.split("shards:")[0], flags=re.M)
        + "shards:\n"
        + "".join(
            f"  {s}: {{url_env: ETL_TEST_SHARD_URL, database: {db}}}\n" for s, db in SHARDS.items()
        )
        + "tables:"
        + defaults.split("tables:")[1]
    )
    shutil.copy(DEFAULTS_DIR / "sources.schema.yaml", folder / "sources.schema.yaml")
    return path


def build_lake(sources_file: Path, lake_root: Path) -> None:
    """DAY of `orders` and `customers` extracted from both shards by the extractor, and the
    customers' lookup state (every column) folded by the state's own step: the inputs of a
    view day, without loading the whole definitions."""
    from etl_platform.extract.connection import endpoint_for
    from etl_platform.extract.extractor import extract_window
    from etl_platform.load.lake import Lake
    from etl_platform.specs.loader import load_source_schema, load_sources
    from etl_platform.specs.source_schema import schema_path_for
    from etl_platform.steps.extract_request import extract_request
    from etl_platform.steps.lookup_versions import sync_versions

    sources = load_sources(sources_file)
    schema = load_source_schema(schema_path_for(sources_file))
    lake = Lake(lake_root)
    for shard in SHARDS:
        endpoint = endpoint_for(shard, sources.shards[shard])
        for table in ("orders", "customers"):
            extract_window(extract_request(sources, shard, table, endpoint, [DAY]), lake)
        customers = sources.tables["customers"]
        sync_versions(
            lake.raw(shard, "customers"),
            lake.versions(shard, "customers"),
            columns=list(schema.tables["customers"]),
            key=list(customers.primary_key),
            cursor=customers.version_column,
        )


@pytest.fixture(scope="session")
def studio_project(
    seeded_shards: list[str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Project]:
    """The seeded shards' sources, a lake holding DAY, and an empty views folder."""
    tmp = tmp_path_factory.mktemp("studio")
    project = Project(write_sources(tmp), tmp / "views", tmp / "lake")
    project.views.mkdir()
    mp = pytest.MonkeyPatch()
    mp.setenv("ETL_TEST_SHARD_URL", TEST_MYSQL_URL)
    build_lake(project.sources, project.lake)
    yield project
    mp.undo()
