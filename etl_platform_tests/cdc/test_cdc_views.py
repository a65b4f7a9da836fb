"""Views on changes, through Dagster: the capture reports the raw days it adds to, the views'
automation asks for those days, and the views built from day files plus change files equal
what MariaDB's own join says, for `history: false` and with history."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from etl_platform.asset_keys import capture_asset_key, raw_asset_key, view_asset_key
from etl_platform.automation.alert_messages import calls_for_post
from etl_platform.cdc.capture import ShardCapture
from etl_platform.cdc.dagster_events import DagsterReporter
from etl_platform.cdc.handover import extract_history
from etl_platform.components.data_lag import lag_evaluation, latest_data_as_of
from etl_platform.definitions import build_definitions
from etl_platform.env import Environment
from etl_platform.extract.schema_snapshot import snapshot_schema
from etl_platform.load.lake import Lake
from etl_platform.runner import run_range
from etl_platform.specs.loader import load_sources
from etl_platform.specs.source_schema import render_schema
from etl_platform.specs.view_loader import VIEW_COMPONENT_TYPE
from etl_platform.specs.views import ViewSpec
from etl_platform_tests.cdc.harness import (
    RunningCapture,
    Writer,
    create_database,
    sources_for,
    wait_caught_up,
    write_sources,
)
from etl_platform_tests.conftest import run_sql

pytestmark = pytest.mark.integration

TODAY = dt.datetime.now(dt.UTC).date()
FIRST = TODAY - dt.timedelta(days=3)
CUSTOMERS = """
CREATE TABLE customers (
  id INT NOT NULL PRIMARY KEY, name VARCHAR(40) NOT NULL, updated_at DATETIME(6) NOT NULL
)
"""


def _view(name: str, *, history: bool) -> dict:
    return {
        "name": name,
        "source": "orders",
        "lookups": [
            {"table": "customers", "on": {"customer_id": "id"}, "columns": {"name": "name"}}
        ],
        "columns": {
            "order_id": {"from": "id", "type": "uint32"},
            "status": {"from": "status", "type": "string"},
            "amount": {"from": "amount", "type": "decimal(12,2)"},
            "customer_id": {"from": "customer_id", "type": "int32"},
        },
        "unique_key": ["order_id"],
        "history": history,
        "freshness": {"warn_after": "2m", "fail_after": "10m"},
    }


def _view_rows(lake: Path, view: str) -> list[tuple]:
    files = lake / "views" / view / "*" / "*.parquet"
    with duckdb.connect() as conn:
        return conn.execute(
            f"SELECT order_id, status, CAST(amount AS VARCHAR), name "
            f"FROM read_parquet('{files}') ORDER BY order_id, _updated_at"
        ).fetchall()


def _source_rows(db) -> list[tuple]:
    return [
        (r[0], r[1], str(r[2]), r[3])
        for r in run_sql(
            db,
            "SELECT o.id, o.status, o.amount, c.name FROM orders o "
            "LEFT JOIN customers c ON c.id = o.customer_id ORDER BY o.id",
        )
    ]


def test_views_follow_the_binlog(binlog_server, tmp_path: Path, monkeypatch) -> None:
    db = create_database(binlog_server, "cdc_views")
    run_sql(db, "ALTER TABLE orders ADD COLUMN customer_id INT")
    run_sql(db, CUSTOMERS)
    # Customers date from the views' first day: the lookups find them on every day.
    early = dt.datetime.combine(FIRST, dt.time(0, 0, 1))
    run_sql(db, "INSERT INTO customers VALUES (1, 'Ada', %s), (2, 'Bo', %s)", params=(early, early))
    path = write_sources(
        tmp_path,
        ["cdc_views"],
        start=FIRST,
        batch_seconds=0.1,
        extra_tables={"customers": "{primary_key: [id], cursor: updated_at, mode: cdc}"},
    )
    sources = sources_for(path, binlog_server, monkeypatch)
    (tmp_path / "sources.schema.yaml").write_text(
        render_schema(snapshot_schema(load_sources(path)))
    )
    for view in (_view("orders_latest", history=False), _view("orders_days", history=True)):
        spec = tmp_path / "views" / view["name"] / "defs.yaml"
        spec.parent.mkdir(parents=True)
        spec.write_text(yaml.safe_dump({"type": VIEW_COMPONENT_TYPE, "attributes": view}))
    monkeypatch.setenv("ETL_PLATFORM_SOURCES", str(path))
    monkeypatch.setenv("ETL_PLATFORM_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("ETL_PLATFORM_VIEWS_DIR", str(tmp_path / "views"))
    defs = build_definitions(Environment.TEST)
    graph = defs.resolve_asset_graph()
    assert capture_asset_key("s0") in graph.get_all_asset_keys()
    assert graph.get(capture_asset_key("s0")).freshness_policy is not None
    assert dg.AssetCheckKey(capture_asset_key("s0"), "tables_captured") in graph.asset_check_keys
    lake = Lake(tmp_path / "lake")
    writer = Writer(db, seed=31)
    writer.run(transactions=15)
    run_sql(db, "UPDATE orders SET customer_id = 1 + id % 3")  # 3: no such customer

    view_only = dg.AssetSelection.assets(view_asset_key("orders_latest"))
    with dg.instance_for_test() as instance:
        before = dg.evaluate_automation_conditions(defs, instance, asset_selection=view_only)
        reporter = DagsterReporter(instance, every=0)
        capture = ShardCapture(
            sources,
            "s0",
            lake,
            db,
            on_flush=reporter,
            on_handover=lambda t, at: extract_history(lake, sources, "s0", t, db, at),
        )
        with RunningCapture(capture):
            Writer(db, seed=32, next_id=1_000, touch_from=1).run(transactions=25)
            run_sql(db, "INSERT INTO customers VALUES (3, 'Cy', %s)", params=(early,))
            run_sql(db, "UPDATE orders SET customer_id = 3 WHERE id % 4 = 0")
            wait_caught_up(lake, "s0", db)
        reporter.flush()
        # The capture's own asset says where it is and how far behind.
        capture_event = instance.get_latest_materialization_event(capture_asset_key("s0"))
        metadata = capture_event.asset_materialization.metadata
        assert metadata["lag_seconds"].value < 60 and "binlog." in metadata["position"].value
        reported = instance.get_materialized_partitions(raw_asset_key("s0", "orders"))
        assert TODAY.isoformat() in reported

        # The views' automation asks for the days the capture reported.
        tick = dg.evaluate_automation_conditions(
            defs, instance, asset_selection=view_only, cursor=before.cursor
        )
        assert TODAY.isoformat() in tick.get_requested_partitions(view_asset_key("orders_latest"))

        built = run_range(defs, "build_views", FIRST, TODAY, instance=instance)
        assert built.success, [o.error for o in built.outcomes if o.error]

        # The capture's check, run as the UI runs it: nothing stopped.
        check = dg.AssetCheckKey(capture_asset_key("s0"), "tables_captured")
        job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_check_selection={check})
        ran = job.execute_in_process(instance=instance)
        evaluations = ran.get_asset_check_evaluations()
        assert [(e.check_name, e.passed) for e in evaluations] == [("tables_captured", True)]
        # Its freshness is the data's lag: what the captures had landed when it was built.
        sensor = defs.resolve_sensor_def("view_data_lag")
        result = sensor(dg.build_sensor_context(instance=instance))
        lags = {e.asset_key: e for e in result.asset_events}
        latest = lags[view_asset_key("orders_latest")]
        assert latest.passed and latest.metadata["lag_seconds"].value < 60
        spec = ViewSpec.model_validate(_view("orders_latest", history=False))
        as_of = latest_data_as_of(instance, spec)
        late = lag_evaluation(spec, as_of, as_of + dt.timedelta(minutes=11))
        assert not late.passed and late.severity == dg.AssetCheckSeverity.ERROR
        assert calls_for_post(late) and "11 min ago" in late.description
        warned = lag_evaluation(spec, as_of, as_of + dt.timedelta(minutes=3))
        assert not warned.passed and not calls_for_post(warned)

        # A batch re-read of today through Dagster (a backfill of the raw asset), then the
        # views again: the same rows.
        run_sql(
            db,
            "UPDATE orders SET status = 're-read' WHERE DATE(updated_at) = UTC_DATE() LIMIT 3",
        )
        again = run_range(defs, "extract_raw", TODAY, TODAY, instance=instance)
        assert again.success, [o.error for o in again.outcomes if o.error]
        rebuilt = run_range(defs, "build_views", TODAY, TODAY, instance=instance)
        assert rebuilt.success, [o.error for o in rebuilt.outcomes if o.error]

    expected = _source_rows(db)
    assert [r[1] for r in expected].count("re-read") == 3
    assert _view_rows(lake.root, "orders_latest") == expected
    # With history, every key's latest row is there too, and older days keep what stood.
    days = _view_rows(lake.root, "orders_days")
    assert set(expected) <= set(days)
    assert len(days) >= len(expected)
