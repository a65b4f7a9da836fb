"""A looked-up table never extracted before the run's first day: the view fails, naming what to
extract, instead of succeeding with most lookups NULL; once extracted, they are filled."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import dagster as dg
import pytest

from etl_platform.definitions import build_definitions
from etl_platform.env import DEFAULTS_DIR, Environment
from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.load.lake import Lake
from etl_platform.runner import run_range
from etl_platform_tests.conftest import (
    SEED_DAYS,
    SEED_END,
    SEED_PREFIX,
    TEST_MYSQL_URL,
    run_sql,
)

pytestmark = pytest.mark.integration

START = SEED_END - dt.timedelta(days=SEED_DAYS - 1)
DAY = SEED_END
STATE = "state/shard_00/customers"


@pytest.fixture
def platform(
    seeded_shards: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[dg.Definitions, Lake]:
    views = tmp_path / "views"
    shutil.copytree(DEFAULTS_DIR / "views" / "orders_enriched", views / "orders_enriched")
    shutil.copy(DEFAULTS_DIR / "sources.schema.yaml", tmp_path / "sources.schema.yaml")
    (tmp_path / "sources.yaml").write_text(
        f"""
start: {START}
shards:
  shard_00: {{url_env: ETL_TEST_URL, database: {SEED_PREFIX}00}}
tables:
  customers: {{primary_key: [id], json: [profile]}}
  orders:    {{primary_key: [id], json: [payload]}}
"""
    )
    monkeypatch.setenv("ETL_PLATFORM_SOURCES", str(tmp_path / "sources.yaml"))
    monkeypatch.setenv("ETL_PLATFORM_VIEWS_DIR", str(views))
    monkeypatch.setenv("ETL_PLATFORM_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("ETL_TEST_URL", TEST_MYSQL_URL)
    return build_definitions(Environment.TEST), Lake(tmp_path / "lake")


def _keys(*names: str) -> list[dg.AssetKey]:
    return [dg.AssetKey(n.split("/")) for n in names]


def _known_customers() -> set[int]:
    """The customers a lookup as of DAY's end finds."""
    shard = MySqlEndpoint.from_url(TEST_MYSQL_URL, database=f"{SEED_PREFIX}00")
    rows = run_sql(
        shard,
        "SELECT id FROM customers WHERE updated_at < %s",
        params=((DAY + dt.timedelta(days=1)).isoformat(),),
    )
    return {r[0] for r in rows}


def test_a_view_whose_lookups_lack_history_fails_until_the_history_is_extracted(
    platform: tuple[dg.Definitions, Lake],
) -> None:
    defs, lake = platform
    with dg.instance_for_test() as instance:

        def build(*names: str) -> dg.ExecuteInProcessResult:
            return run_range(
                defs, "build_views", DAY, DAY, instance=instance, asset_selection=_keys(*names)
            )

        assert run_range(defs, "extract_raw", DAY, DAY, instance=instance).success
        yesterday = DAY - dt.timedelta(days=1)
        expected = (
            f"{STATE} lacks {SEED_DAYS - 1} day(s) of raw/shard_00/customers through",
            f"reads the table's history since its start, {START}",
            f"`etl-platform run --job extract_raw --start {START} --end {yesterday}`",
            "backfill raw/shard_00/customers over those days from the UI",
        )
        # The state takes the one day there is, and fails naming the days it lacks.
        refused = build(STATE)
        assert not refused.success
        error = next(o.error for o in refused.outcomes if o.error)
        assert all(part in error for part in expected), error
        assert set(lake.versions("shard_00", "customers").manifest()) == {DAY}
        # The view refuses the shard for the same reason: no shard is left.
        refused = build("views/orders_enriched", "views/orders_enriched__rejects")
        assert not refused.success
        error = next(o.error for o in refused.outcomes if o.error)
        assert f"no shard has its inputs for {DAY}" in error
        assert all(part in error for part in expected), error
        assert lake.view("orders_enriched").read_partition(DAY) is None

        history = run_range(
            defs,
            "extract_raw",
            START,
            DAY - dt.timedelta(days=1),
            instance=instance,
            asset_selection=_keys("raw/shard_00/customers"),
        )
        assert history.success
        assert build(STATE).success
        view = build("views/orders_enriched", "views/orders_enriched__rejects")
        assert view.success, [o.error for o in view.outcomes if o.error]

    rows = lake.view("orders_enriched").read_partition(DAY, ["customer_id", "customer_email"])
    assert rows is not None and rows.num_rows > 0
    known = _known_customers()
    for row in rows.to_pylist():
        assert (row["customer_email"] is not None) == (row["customer_id"] in known), row
