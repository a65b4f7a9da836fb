"""Schema changes on one shard, against the real MariaDB: recorded, refused under `fail`, never a
silent rounding in a view, and a dropped column named.

Two shards carry `orders`; the snapshot is taken from the server as `etl-platform sources schema`
takes it, then shard_01 changes. The server's own SQL gives every expected value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import dagster as dg
import polars as pl
import pyarrow.parquet as pq
import pytest

from etl_platform.definitions import build_definitions
from etl_platform.env import Environment
from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.extract.schema_snapshot import snapshot_schema
from etl_platform.load.lake import Lake
from etl_platform.runner import RangeRun, run_range
from etl_platform.specs.loader import load_sources
from etl_platform.specs.source_schema import render_schema, schema_path_for
from etl_platform_tests.conftest import TEST_MYSQL_URL, run_sql

pytestmark = pytest.mark.integration

DAY = dt.date(2024, 3, 10)
SHARDS = ("shard_00", "shard_01")
VIEW = "orders_view"
RAW = {s: dg.AssetKey(["raw", s, "orders"]) for s in SHARDS}
SELECTION = [
    *RAW.values(),
    dg.AssetKey(["views", VIEW]),
    dg.AssetKey(["views", f"{VIEW}__rejects"]),
]

_CREATE = """
CREATE TABLE orders (
  id          BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  amount      DECIMAL(12,2)   NOT NULL,
  code        VARCHAR(16)     NULL,
  coupon      VARCHAR(32)     NULL,
  updated_at  DATETIME(6)     NOT NULL,
  KEY idx_orders_updated_at (updated_at)
) ENGINE=InnoDB
"""
_ROWS = """
INSERT INTO orders VALUES
  (1, 10.50, '3.25', 'WELCOME', '2024-03-10 08:00:00'),
  (2,  7.00, '12',   NULL,      '2024-03-10 09:30:00'),
  (3,  0.99, '0.5',  'SPRING',  '2024-03-10 23:59:59.999999'),
  (4, 120.00, NULL,  NULL,      '2024-03-10 00:00:00')
"""
_VIEW = f"""
type: etl_platform.components.ViewComponent
attributes:
  name: {VIEW}
  source: orders
  columns:
    order_id: {{from: id, type: uint64}}
    amount: {{from: amount, type: "decimal(12,2)"}}
    code: {{from: code, type: "decimal(12,2)"}}
    coupon: {{from: coupon, type: string}}
  unique_key: [order_id]
  max_reject_ratio: 1
"""


@pytest.fixture
def shards(mysql_server: MySqlEndpoint, request: pytest.FixtureRequest) -> Iterator[dict]:
    """Two databases with the same `orders`, dropped afterwards."""
    tail = "".join(c if c.isalnum() else "_" for c in request.node.name)[-36:]
    databases = {s: f"etl_test_drift{s[-1]}_{tail}" for s in SHARDS}
    for database in databases.values():
        run_sql(
            mysql_server, f"DROP DATABASE IF EXISTS `{database}`", f"CREATE DATABASE `{database}`"
        )
        run_sql(mysql_server.with_database(database), _CREATE, _ROWS)
    yield {s: mysql_server.with_database(d) for s, d in databases.items()}
    for database in databases.values():
        run_sql(mysql_server, f"DROP DATABASE IF EXISTS `{database}`")


@pytest.fixture
def platform(
    shards: dict[str, MySqlEndpoint], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], dg.Definitions]:
    """The real Definitions over a sources.yaml with `on_schema_change: <policy>`, its snapshot
    taken from the server as it is now, and the view."""

    def build(policy: str) -> dg.Definitions:
        path = tmp_path / "sources.yaml"
        path.write_text(
            "start: 2024-01-01\n"
            "extract: {retry: {max_retries: 0, delay_seconds: 0}}\n"
            "shards:\n"
            + "".join(
                f"  {s}: {{url_env: ETL_TEST_SHARD_URL, database: {e.database}}}\n"
                for s, e in shards.items()
            )
            + f"tables:\n  orders: {{primary_key: [id], on_schema_change: {policy}}}\n"
        )
        monkeypatch.setenv("ETL_PLATFORM_SOURCES", str(path))
        monkeypatch.setenv("ETL_PLATFORM_LAKE", str(tmp_path / "lake"))
        monkeypatch.setenv("ETL_TEST_SHARD_URL", TEST_MYSQL_URL)
        monkeypatch.setenv("ETL_PLATFORM_VIEWS_DIR", str(tmp_path / "views"))
        monkeypatch.setenv("ETL_PLATFORM_THREADS", "1")
        schema_path_for(path).write_text(render_schema(snapshot_schema(load_sources(path))))
        (tmp_path / "views" / VIEW).mkdir(parents=True, exist_ok=True)
        (tmp_path / "views" / VIEW / "defs.yaml").write_text(_VIEW)
        return build_definitions(Environment.TEST)

    return build


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


def _run(defs: dg.Definitions, instance: dg.DagsterInstance) -> RangeRun:
    return run_range(defs, "etl_all", DAY, DAY, instance=instance, asset_selection=SELECTION)


def _errors(run: RangeRun) -> dict[str, str]:
    return {o.key: o.error for o in run.outcomes if o.error}


def _drift(instance: dg.DagsterInstance, shard: str) -> dict:
    event = instance.get_latest_materialization_event(RAW[shard])
    return event.asset_materialization.metadata["schema_drift"].value


def _view(tmp_path: Path) -> pl.DataFrame:
    return pl.read_parquet(Lake(tmp_path / "lake").view(VIEW).partition_files(DAY)).sort(
        "_shard", "order_id"
    )


def _rejects(tmp_path: Path) -> list[tuple]:
    rejects = Lake(tmp_path / "lake").rejects(VIEW)
    assert rejects.is_written(DAY)
    files = rejects.partition_files(DAY)
    if not files:  # a day of no rejects has no file
        return []
    frame = pl.concat([pl.read_parquet(f) for f in files])
    return sorted(frame.select("_shard", "key", "column", "raw_value", "reason").rows())


def _baseline(platform, instance, policy: str = "evolve") -> dg.Definitions:
    """The first run, before any change: no drift, no rejects."""
    defs = platform(policy)
    run = _run(defs, instance)
    assert run.success, _errors(run)
    for shard in SHARDS:
        assert _drift(instance, shard) == {
            "compared": True,
            "added": {},
            "dropped": {},
            "changed": {},
        }
    return defs


def _columns(shard: MySqlEndpoint, table: str = "orders") -> dict[str, str]:
    return dict(
        run_sql(
            shard,
            "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
            params=(table,),
        )
    )


def test_an_added_column_is_recorded_and_read(platform, instance, shards, tmp_path) -> None:
    defs = _baseline(platform, instance)
    run_sql(shards["shard_01"], "ALTER TABLE orders ADD COLUMN note VARCHAR(64) NULL")
    run_sql(shards["shard_01"], "UPDATE orders SET note = CONCAT('n', id)")
    run = _run(defs, instance)
    assert run.success, _errors(run)
    assert _drift(instance, "shard_01") == {
        "compared": True,
        "added": {"note": _columns(shards["shard_01"])["note"]},
        "dropped": {},
        "changed": {},
    }
    assert _drift(instance, "shard_00")["added"] == {}
    # evolve: the raw day carries the live columns, the new one with the server's values.
    folder = tmp_path / "lake" / "raw" / "shard_01" / "orders" / f"updated_at={DAY}"
    raw = pq.read_table(folder)
    assert "note" in raw.column_names
    expected = dict(run_sql(shards["shard_01"], "SELECT id, note FROM orders"))
    assert dict(zip(raw["id"].to_pylist(), raw["note"].to_pylist(), strict=True)) == expected
    view = _view(tmp_path)
    ids = sorted(r[0] for r in run_sql(shards["shard_01"], "SELECT id FROM orders"))
    assert view.filter(pl.col("_shard") == "shard_01")["order_id"].to_list() == ids
    assert "note" not in view.columns and _rejects(tmp_path) == []


def test_a_wider_decimal_rejects_what_would_round(platform, instance, shards, tmp_path) -> None:
    defs = _baseline(platform, instance)
    before = _columns(shards["shard_01"])["amount"]
    run_sql(
        shards["shard_01"],
        "ALTER TABLE orders MODIFY amount DECIMAL(14,4) NOT NULL",
        "UPDATE orders SET amount = 1.2345 WHERE id = 1",
    )
    run_sql(shards["shard_01"], "UPDATE orders SET amount = 2.5000 WHERE id = 2")
    run = _run(defs, instance)
    assert run.success, _errors(run)
    assert _drift(instance, "shard_01")["changed"] == {
        "amount": {"snapshot": before, "live": _columns(shards["shard_01"])["amount"]}
    }
    # What does not fit decimal(12,2) without rounding, as the server says, is a reject with the
    # server's text of the value; the rest is in the view, exactly.
    rounding = run_sql(
        shards["shard_01"],
        "SELECT CAST(id AS CHAR), CAST(amount AS CHAR) FROM orders "
        "WHERE amount <> ROUND(amount, 2)",
    )
    assert rounding == [("1", "1.2345")]
    assert _rejects(tmp_path) == [
        (
            "shard_01",
            f'{{"id":{i}}}',
            "amount",
            raw,
            f"column amount: {raw} does not fit decimal(12,2) without rounding",
        )
        for i, raw in rounding
    ]
    exact = run_sql(
        shards["shard_01"], "SELECT id, amount FROM orders WHERE amount = ROUND(amount, 2)"
    )
    view = _view(tmp_path).filter(pl.col("_shard") == "shard_01")
    assert dict(view.select("order_id", "amount").rows()) == dict(exact)
    assert dict(exact)[2] == Decimal("2.5")


def test_text_that_would_round_is_a_reject(platform, instance, shards, tmp_path) -> None:
    defs = _baseline(platform, instance)
    run_sql(shards["shard_01"], "UPDATE orders SET code = '1.2399' WHERE id = 3")
    run_sql(shards["shard_01"], "UPDATE orders SET code = 'n/a' WHERE id = 4")
    run = _run(defs, instance)
    assert run.success, _errors(run)
    assert _drift(instance, "shard_01")["compared"] is True
    assert not any(_drift(instance, "shard_01")[k] for k in ("added", "dropped", "changed"))
    # The server's own reading: a decimal that DECIMAL(12,2) would round, and text that is no
    # number at all (MariaDB's CAST reads 'n/a' as 0 with a warning).
    rows = dict(run_sql(shards["shard_01"], "SELECT id, code FROM orders WHERE code IS NOT NULL"))
    rounds = {
        r[0]
        for r in run_sql(
            shards["shard_01"],
            "SELECT id FROM orders WHERE code REGEXP '^-?[0-9]+(\\\\.[0-9]+)?$' "
            "AND CAST(code AS DECIMAL(30,10)) <> ROUND(CAST(code AS DECIMAL(30,10)), 2)",
        )
    }
    not_numbers = {
        r[0]
        for r in run_sql(
            shards["shard_01"],
            "SELECT id FROM orders WHERE code IS NOT NULL "
            "AND code NOT REGEXP '^-?[0-9]+(\\\\.[0-9]+)?$'",
        )
    }
    assert (rounds, not_numbers) == ({3}, {4})
    expected = sorted(
        [
            (
                "shard_01",
                f'{{"id":{i}}}',
                "code",
                rows[i],
                f'column code: "{rows[i]}" does not fit decimal(12,2) without rounding',
            )
            for i in rounds
        ]
        + [
            (
                "shard_01",
                f'{{"id":{i}}}',
                "code",
                rows[i],
                f'column code: "{rows[i]}" is not a number',
            )
            for i in not_numbers
        ]
    )
    assert _rejects(tmp_path) == expected
    view = _view(tmp_path).filter(pl.col("_shard") == "shard_01")
    ids = {r[0] for r in run_sql(shards["shard_01"], "SELECT id FROM orders")}
    assert view["order_id"].to_list() == sorted(ids - rounds - not_numbers)


def test_a_dropped_column_fails_the_view_naming_it(platform, instance, shards, tmp_path) -> None:
    defs = _baseline(platform, instance)
    run_sql(shards["shard_01"], "ALTER TABLE orders DROP COLUMN coupon")
    assert "coupon" not in _columns(shards["shard_01"])
    run = _run(defs, instance)
    errors = _errors(run)
    assert not run.success
    # evolve: the extract records the drop and succeeds; the view cannot read the column.
    assert not any(k.startswith("raw") for k in errors), errors
    assert _drift(instance, "shard_01")["dropped"] == {"coupon": "varchar(32)"}
    assert set(errors) == {f"view__{VIEW}"}
    assert errors[f"view__{VIEW}"].endswith(
        f"Failure: view {VIEW}: raw/shard_01/orders day {DAY} has no column coupon "
        "(dropped at the source? see the schema_drift metadata of raw/shard_01/orders)"
    )


def test_the_fail_policy_refuses_every_change_by_name(platform, instance, shards, tmp_path) -> None:
    defs = _baseline(platform, instance, policy="fail")
    folder = tmp_path / "lake" / "raw" / "shard_01" / "orders" / f"updated_at={DAY}"
    before = pq.read_table(folder)
    old = _columns(shards["shard_01"])
    run_sql(
        shards["shard_01"],
        "ALTER TABLE orders ADD COLUMN note VARCHAR(64) NULL, "
        "MODIFY amount DECIMAL(14,4) NOT NULL, DROP COLUMN coupon",
    )
    new = _columns(shards["shard_01"])
    run = _run(defs, instance)
    errors = _errors(run)
    assert not run.success
    assert set(errors) >= {"raw__shard_01__orders"}
    assert "raw__shard_00__orders" not in errors  # the other shard is unchanged and goes on
    message = errors["raw__shard_01__orders"]
    assert (
        "Failure: shard shard_01 table `orders` differs from the schema snapshot "
        "(on_schema_change: fail)"
    ) in message
    for change in (
        f"note added ({new['note']})",
        f"coupon dropped (was {old['coupon']})",
        f"amount changed from {old['amount']} to {new['amount']}",
    ):
        assert change in message, message
    # Nothing was written: the day is the one the first run wrote.
    assert pq.read_table(folder).equals(before)
    failure = next(
        r.dagster_event.step_failure_data
        for r in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
        if r.dagster_event.step_key == "raw__shard_01__orders"
    )
    assert failure.user_failure_data.metadata["schema_drift"].value == {
        "compared": True,
        "added": {"note": new["note"]},
        "dropped": {"coupon": old["coupon"]},
        "changed": {"amount": {"snapshot": old["amount"], "live": new["amount"]}},
    }


def test_without_a_snapshot_nothing_is_compared(platform, instance, tmp_path) -> None:
    defs = platform("fail")
    (tmp_path / "sources.schema.yaml").unlink()
    run = run_range(defs, "etl_all", DAY, DAY, instance=instance, asset_selection=[*RAW.values()])
    assert run.success, _errors(run)
    assert _drift(instance, "shard_00") == {
        "compared": False,
        "reason": f"no schema snapshot at {tmp_path / 'sources.schema.yaml'}",
    }
