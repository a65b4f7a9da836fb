"""A project over the seeded shards with one extracted day in its lake: what the studio reads;
the studio serving it under uvicorn, and headless Chromium for the browser tests."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

from etl_platform.demo.mariadb_server import free_port
from etl_platform.env import DEFAULTS_DIR
from etl_platform.specs.loader import load_source_schema, load_sources
from etl_platform.specs.source_schema import schema_path_for
from etl_platform.studio.app import StudioConfig, create_app
from etl_platform.studio.catalog import Catalog
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


def dead_shard_sources(folder: Path) -> Path:
    """The studio's sources with shard_01 pointing at a loopback port nothing listens on."""
    path = write_sources(folder)
    path.write_text(
        re.sub(
            r"(  shard_01: \{url_env: )ETL_TEST_SHARD_URL", r"\1ETL_TEST_DEAD_URL", path.read_text()
        )
    )
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


@contextlib.contextmanager
def serve(sources_file: Path, project: Project) -> Iterator[str]:
    """The studio's app on `sources_file` and the project's lake, under uvicorn on a free
    loopback port, in a thread."""
    sources = load_sources(sources_file)
    schema = load_source_schema(schema_path_for(sources_file))
    config = StudioConfig(
        catalog=Catalog(sources, schema), views_dir=project.views, lake_root=project.lake
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the studio did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def studio_url(studio_project: Project) -> Iterator[str]:
    """The studio on the project's sources and lake."""
    with serve(studio_project.sources, studio_project) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1800,2000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(
        service=Service(executable_path="/usr/bin/chromedriver"), options=options
    )
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("STUDIO_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
