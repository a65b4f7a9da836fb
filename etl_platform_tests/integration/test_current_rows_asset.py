"""A view's current rows end to end against MariaDB: an order updated on two days is in both
view days and once in the current rows, in its latest version; building a day again updates
it, falls back to an older day when the row left the day, and changes nothing when nothing
changed. The DuckDB view over it answers like the documented "latest across days" query."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
import yaml

from etl_platform.asset_keys import current_asset_key
from etl_platform.automation.jobs import PLATFORM_JOBS
from etl_platform.components.current_rows import build_current_asset
from etl_platform.components.mysql_sources import build_source_assets
from etl_platform.components.views import build_view_assets
from etl_platform.env import Environment
from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.extract.schema_snapshot import snapshot_schema
from etl_platform.load.current_rows import DAY_COLUMN, current_path, read_current
from etl_platform.resources import build_resources
from etl_platform.runner import run_range
from etl_platform.specs.loader import load_source_schema, load_sources
from etl_platform.specs.source_schema import render_schema
from etl_platform.specs.view_loader import VIEW_COMPONENT_TYPE, load_views
from etl_platform_tests.conftest import TEST_MYSQL_URL, run_sql

pytestmark = pytest.mark.integration

D = dt.date
D1, D2, D3, D4 = (D(2024, 3, i) for i in range(1, 5))
NAME = "orders_now"
CURRENT = current_asset_key(NAME)

_TABLE = """
CREATE TABLE orders (
  id         INT           NOT NULL PRIMARY KEY,
  status     VARCHAR(20)   NOT NULL,
  total      DECIMAL(10,2) NULL,
  ordered_on DATE          NOT NULL,
  updated_at DATETIME(6)   NOT NULL,
  KEY idx_orders_updated_at (updated_at)
) ENGINE=InnoDB
"""

VIEW = {
    "name": NAME,
    "source": "orders",
    "columns": {
        "order_id": {"from": "id", "type": "int64"},
        "status": {"from": "status", "type": "string"},
        "total": {"from": "total", "type": "decimal(10,2)"},
        "ordered_on": {"from": "ordered_on", "type": "date"},
    },
    "unique_key": ["order_id"],
    "partition_by": "ordered_on",  # what makes the view keep its current rows
}


@pytest.fixture
def shop(scratch_db: MySqlEndpoint) -> MySqlEndpoint:
    run_sql(
        scratch_db,
        _TABLE,
        "INSERT INTO orders VALUES "
        "(1, 'new', 10.00, '2024-03-01', '2024-03-01 09:00:00'),"
        "(2, 'new', 20.00, '2024-03-01', '2024-03-01 10:00:00'),"
        "(3, 'new', 30.00, '2024-03-02', '2024-03-02 11:00:00')",
    )
    return scratch_db


@pytest.fixture
def defs(shop: MySqlEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dg.Definitions:
    """The raw assets, the view and its current rows, with the test environment's resources:
    built from the pieces, so only the assets under test run."""
    path = tmp_path / "sources.yaml"
    path.write_text(
        "start: 2024-03-01\n"
        "extract: {batch_rows: 100, retry: {max_retries: 0, delay_seconds: 0}}\n"
        f"shards:\n  shard_00: {{url_env: ETL_TEST_SHARD_URL, database: {shop.database}}}\n"
        "tables:\n  orders: {primary_key: [id]}\n"
    )
    monkeypatch.setenv("ETL_TEST_SHARD_URL", TEST_MYSQL_URL)
    monkeypatch.setenv("ETL_PLATFORM_SOURCES", str(path))
    monkeypatch.setenv("ETL_PLATFORM_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("ETL_PLATFORM_DUCKDB", str(tmp_path / "lake.duckdb"))
    sources = load_sources(path)
    schema = tmp_path / "sources.schema.yaml"
    schema.write_text(render_schema(snapshot_schema(sources)))
    folder = tmp_path / "views"
    (folder / NAME).mkdir(parents=True)
    (folder / NAME / "defs.yaml").write_text(
        yaml.safe_dump({"type": VIEW_COMPONENT_TYPE, "attributes": VIEW})
    )
    (spec,) = [v.spec for v in load_views(folder, sources, load_source_schema(schema))]
    assert spec.needs_current
    jobs = [job for job in PLATFORM_JOBS if job.name in {"extract_raw", "build_views"}]
    return dg.Definitions(
        assets=[
            *build_source_assets(sources),
            build_view_assets(spec, sources),
            build_current_asset(spec, sources),
        ],
        jobs=jobs,
        resources=build_resources(Environment.TEST),
    )


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def _run(defs: dg.Definitions, instance: dg.DagsterInstance, first: D, last: D) -> None:
    for job in ("extract_raw", "build_views"):
        run = run_range(defs, job, first, last, instance=instance)
        assert run.success, [o.error for o in run.outcomes if o.error]


def _update(db: MySqlEndpoint, status: str, at: str) -> None:
    run_sql(db, f"UPDATE orders SET status = '{status}', updated_at = '{at}' WHERE id = 1")


def _current(lake: Path) -> dict[int, tuple[str, D]]:
    rows = read_current(lake, NAME, ["order_id", "status", DAY_COLUMN])
    assert rows is not None
    return {r[0]: (r[1], r[2]) for r in rows.rows()}


def _metadata(instance: dg.DagsterInstance) -> dict:
    event = instance.get_latest_materialization_event(CURRENT)
    assert event is not None and event.asset_materialization is not None
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def _latest_by_query(tmp_path: Path) -> pl.DataFrame:
    """The documented query for the latest version across days, over the view's days."""
    with duckdb.connect(str(tmp_path / "lake.duckdb"), read_only=True) as conn:
        return conn.sql(
            f"SELECT * EXCLUDE (updated_at) FROM {NAME} QUALIFY row_number() OVER "
            "(PARTITION BY _shard, order_id ORDER BY _updated_at DESC) = 1 ORDER BY order_id"
        ).pl()


def _by_duckdb(tmp_path: Path) -> pl.DataFrame:
    with duckdb.connect(str(tmp_path / "lake.duckdb"), read_only=True) as conn:
        return conn.sql(f"SELECT * EXCLUDE ({DAY_COLUMN}) FROM {NAME}__current ORDER BY 2").pl()


def test_current_rows_follow_the_latest_version_of_each_order(
    defs: dg.Definitions, shop: MySqlEndpoint, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    _run(defs, instance, D1, D2)
    assert _current(lake) == {1: ("new", D1), 2: ("new", D1), 3: ("new", D2)}

    # Order 1 updated on day 3: in the view's days 1 and 3, once in the current rows.
    _update(shop, "paid", "2024-03-03 08:00:00")
    _run(defs, instance, D3, D3)
    view_rows = pl.read_parquet(lake / "views" / NAME / "**" / "*.parquet", hive_partitioning=True)
    assert view_rows.filter(pl.col("order_id") == 1).height == 2
    assert _current(lake) == {1: ("paid", D3), 2: ("new", D1), 3: ("new", D2)}
    metadata = _metadata(instance)
    assert (metadata["days_read"], metadata["dagster/row_count"], metadata["keys"]) == (1, 3, 3)
    assert metadata["path"] == str(current_path(lake, NAME))
    assert "order_id" in metadata["preview"]
    assert [c.name for c in metadata["dagster/column_schema"].columns][-1] == DAY_COLUMN

    # Changed again on day 3: building day 3 again updates it.
    _update(shop, "shipped", "2024-03-03 12:00:00")
    _run(defs, instance, D3, D3)
    assert _current(lake)[1] == ("shipped", D3)

    # Nothing changed: the file stays as it is, and a rebuild from nothing gives the same rows.
    path = current_path(lake, NAME)
    before, stamp = read_current(lake, NAME), path.stat().st_mtime_ns
    only_current = run_range(
        defs, "build_views", D3, D3, instance=instance, asset_selection=[CURRENT]
    )
    assert only_current.success
    assert path.stat().st_mtime_ns == stamp and _metadata(instance)["days_read"] == 0
    shutil.rmtree(path.parent)
    assert run_range(
        defs, "build_views", D3, D3, instance=instance, asset_selection=[CURRENT]
    ).success
    assert _metadata(instance)["days_read"] == 3
    assert before is not None and before.equals(read_current(lake, NAME))

    # Moved on to day 4, and only day 3 built again: the latest version the view's days hold
    # now is day 1's, which the current rows did not hold; then day 4 brings the new one.
    _update(shop, "delivered", "2024-03-04 09:00:00")
    _run(defs, instance, D3, D3)
    assert _current(lake)[1] == ("new", D1)
    assert _metadata(instance)["vanished_keys"] == 1
    _run(defs, instance, D4, D4)
    assert _current(lake) == {1: ("delivered", D4), 2: ("new", D1), 3: ("new", D2)}

    # The DuckDB view answers, with the rows of the documented query over the view's days.
    by_duckdb = _by_duckdb(tmp_path)
    assert by_duckdb.select("order_id", "status").rows() == [
        (1, "delivered"),
        (2, "new"),
        (3, "new"),
    ]
    assert by_duckdb.equals(_latest_by_query(tmp_path).select(by_duckdb.columns))
