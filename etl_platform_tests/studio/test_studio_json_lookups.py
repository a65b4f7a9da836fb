"""The studio's controls for what was YAML-only: flatten, explode and `item:` columns, period
lookups, typed looked-up columns, `nullable: false`; each edit round-trips through the draft
(the demo's comments kept) and the platform's validator. The JSON key sample: the keys of an
array's elements, any shard, and the lake's raw days when the shard cannot be reached."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from etl_platform.demo.mariadb_server import free_port
from etl_platform.env import DEFAULTS_DIR
from etl_platform.specs.loader import load_source_schema, load_sources
from etl_platform.specs.source_schema import schema_path_for
from etl_platform.studio.app import StudioConfig, create_app
from etl_platform.studio.catalog import Catalog, key_stats
from etl_platform.studio.draft import Draft, DraftError
from etl_platform.studio.json_sample import SampleUnavailable, lake_texts
from etl_platform_tests.studio.conftest import DAY, Project, dead_shard_sources
from etl_platform_tests.studio.test_studio_units import _catalog, _new, _problems

VIEWS = DEFAULTS_DIR / "views"


def _demo(name: str) -> str:
    return (VIEWS / name / "defs.yaml").read_text()


def _renamed(draft: Draft, name: str) -> Draft:
    """The demo's file under the name `_problems` checks it as."""
    return Draft.from_text(draft.text().replace(f"name: {name}", "name: v"))


def test_flatten_entries_are_added_edited_and_removed_in_place() -> None:
    text = _demo("customer_profiles")
    draft = Draft.from_text(text)
    draft.apply({"op": "set_flatten", "index": 0, "json": "profile", "prefix": "p_"})
    edited = draft.text()
    assert (
        "    - {json: profile, prefix: p_}                             # profile_locale" in edited
    )
    assert "# zero dates arrive as NULL" in edited
    assert _problems(_renamed(draft, "customer_profiles")) == []
    draft.apply({"op": "set_flatten", "index": 0, "json": "profile", "max_depth": "9"})
    assert _problems(_renamed(draft, "customer_profiles")) == [
        ("attributes.flatten.0.max_depth", "Input should be less than or equal to 8")
    ]
    draft.apply({"op": "remove_flatten", "index": 0})
    assert "flatten" not in draft.attributes
    draft.apply({"op": "add_flatten", "json": "profile", "prefix": "profile_", "max_depth": 2})
    assert draft.text() == text.replace("         # profile_locale, profile_address_city, ...", "")

    new = _new({"op": "add_flatten", "json": "payload", "prefix": "pl_", "max_depth": "1"})
    assert "  flatten:\n    - {json: payload, prefix: pl_, max_depth: 1}\n  unique_key:" in (
        new.text()
    )
    assert _problems(new) == []
    new.apply({"op": "add_flatten", "json": "total"})
    assert _problems(new) == [
        (
            "attributes.flatten.1.json",
            "column 'total' is not listed in tables.orders.json of sources.yaml",
        )
    ]
    with pytest.raises(DraftError, match="needs a JSON column"):
        new.apply({"op": "add_flatten", "json": ""})
    with pytest.raises(DraftError, match="no flatten entry 5"):
        new.apply({"op": "remove_flatten", "index": 5})


def test_an_explode_and_its_item_columns_round_trip() -> None:
    draft = _new(
        {"op": "set_explode", "json": "payload", "path": "items", "index_column": "item_index"},
        {"op": "add_column", "name": "sku", "spec": {"item": "sku", "type": "string"}},
        {"op": "add_column", "name": "price", "spec": {"item": "price", "type": "decimal(10,2)"}},
        {"op": "set_list", "field": "unique_key", "values": ["total", "item_index"]},
    )
    text = draft.text()
    assert (
        '    sku: {item: sku, type: string}\n    price: {item: price, type: "decimal(10,2)"}\n'
        in (text)
    )
    assert "  explode: {json: payload, path: items, index_column: item_index}\n" in text
    assert text.index("explode:") > text.index("columns:")  # where ViewSpec declares it
    assert _problems(draft) == []
    draft.apply({"op": "set_explode", "json": "payload", "path": "items", "index_column": "i"})
    assert _problems(draft) == [("attributes.unique_key", "'item_index' is not a declared column")]
    draft.apply({"op": "set_explode", "json": ""})
    assert "explode" not in draft.attributes
    assert any("item" in why for field, why in _problems(draft) if "columns.sku" in field)

    demo = Draft.from_text(_demo("order_items"))
    demo.apply({"op": "set_explode", "json": "payload", "path": "items", "index_column": "n"})
    edited = demo.text()
    assert "  explode: {json: payload, path: items, index_column: n}\n" in edited
    assert "# an item column: looked up after the explode" in edited
    assert list(demo.attributes)[3] == "explode"  # where the file had it


def test_required_columns_write_nullable_false_and_drop_it_again() -> None:
    text = _demo("orders_enriched")
    draft = Draft.from_text(text)
    draft.apply({"op": "set_column_nullable", "name": "order_id", "nullable": False})
    draft.apply({"op": "set_column_nullable", "name": "grand_total", "nullable": False})
    edited = draft.text()
    assert "    order_id: {from: id, type: uint64, nullable: false}\n" in edited
    assert (
        'grand_total: {json: payload, path: totals.grand_total, type: "decimal(12,2)", '
        'nullable: false} # "39.80" or 39.8' in edited
    )
    assert _problems(_renamed(draft, "orders_enriched")) == []
    for name in ("order_id", "grand_total"):
        draft.apply({"op": "set_column_nullable", "name": name, "nullable": True})
    assert draft.text() == text
    with pytest.raises(DraftError, match="no column 'nope'"):
        draft.apply({"op": "set_column_nullable", "name": "nope", "nullable": False})


def test_looked_up_columns_take_a_type_and_nullable_in_place() -> None:
    text = _demo("order_activity")
    draft = Draft.from_text(text)
    for op in (
        {"column": "total", "as": "order_total", "type": "decimal(14,2)", "nullable": False},
        {"column": "status", "as": "order_status", "type": "string", "nullable": True},
        {"column": "customer_id", "as": "customer_id", "type": "", "nullable": True},
    ):
        draft.apply({"op": "set_lookup_column", "index": 0, **op})
    edited = draft.text()
    assert "        customer_id: customer_id          # the next lookup joins on it\n" in edited
    assert "        status: {as: order_status, type: string}\n" in edited
    assert '        total: {as: order_total, type: "decimal(14,2)", nullable: false}\n' in edited
    assert _problems(_renamed(draft, "order_activity")) == []
    draft.apply({"op": "set_lookup_column", "index": 0, "column": "total", "as": "order_total"})
    draft.apply({"op": "set_lookup_column", "index": 0, "column": "status", "as": "order_status"})
    # No type and not required: the plain output name again.
    assert draft.text() == text.replace('{as: order_total, type: "decimal(12,2)"}', "order_total")
    draft.apply({"op": "set_lookup_column", "index": 1, "column": "tier", "type": "int32"})
    assert "columns: {tier: {as: tier, type: int32}, full_name: customer_name}" in draft.text()
    assert "attributes.columns.customer_label.expr" in dict(
        _problems(_renamed(draft, "order_activity"))
    )
    draft.apply({"op": "remove_lookup_column", "index": 1, "column": "tier"})
    assert "columns: {full_name: customer_name}" in draft.text()

    new = _new(
        {
            "op": "add_lookup",
            "table": "customers",
            "on": {"customer_id": "id"},
            "columns": {
                "email": {"as": "email", "type": "", "nullable": False},
                "tier": {"as": "customer_tier", "type": "", "nullable": True},
            },
        },
        {
            "op": "add_column",
            "name": "customer_id",
            "spec": {"from": "customer_id", "type": "uint64"},
        },
    )
    assert "columns: {email: {as: email, nullable: false}, tier: customer_tier}" in new.text()
    assert _problems(new) == []
    with pytest.raises(DraftError, match="no lookup 3"):
        new.apply({"op": "set_lookup_column", "index": 3, "column": "x"})


def test_a_period_goes_after_on_and_is_edited_and_removed_in_place() -> None:
    text = _demo("orders_enriched")
    draft = Draft.from_text(text)
    draft.apply({"op": "set_lookup_period", "index": 0, "view": "created_at", "from": "created_at"})
    edited = draft.text()
    assert (
        "      on: {customer_id: id}\n"
        "      period: {view: created_at, from: created_at}\n"
        "      columns: {email: customer_email" in edited
    )
    assert "# the customer row as it was at the end of the day" in edited
    assert _problems(_renamed(draft, "orders_enriched")) == []
    draft.apply(
        {
            "op": "set_lookup_period",
            "index": 0,
            "view": "created_at",
            "from": "birth_date",
            "to": "email",
        }
    )
    assert "period: {view: created_at, from: birth_date, to: email}" in draft.text()
    problems = dict(_problems(_renamed(draft, "orders_enriched")))
    assert any(f.startswith("attributes.lookups.0.period") for f in problems), problems
    draft.apply({"op": "set_lookup_period", "index": 0, "view": "", "from": ""})
    assert draft.text() == text


def test_the_sample_lists_the_keys_of_array_elements() -> None:
    texts = [
        '{"items": [{"sku": "A", "qty": 2, "price": "1.50"}, {"sku": "B", "qty": 1}], "n": 1}',
        '{"items": [{"sku": "C", "qty": 3, "price": 2.25}, "not an object"]}',
        '{"items": "no array here"}',
    ]
    stats = {s["path"]: s for s in key_stats(texts)}
    assert "array" in stats["items"]["kinds"] and "items" not in stats["n"]
    items = {s["path"]: s for s in stats["items"]["items"]}
    assert items["sku"]["count"] == 3 and items["sku"]["rows"] == 3
    assert items["qty"]["type"] == "int64" and items["price"]["type"].startswith("decimal")
    assert items["price"]["count"] == 2 and items["price"]["kinds"] == ["number", "string"]


def test_period_columns_offer_dates_of_the_view_and_of_the_related_table() -> None:
    catalog = _catalog()
    form = Draft.from_text(_demo("order_activity")).form()
    periods = catalog.period_columns(form)
    assert periods["view"] == ["occurred_at", "updated_at"]  # not the computed event_day
    assert periods["related"] == {
        "customers": ["birth_date", "legacy_signup", "created_at", "updated_at"],
        "orders": ["created_at", "updated_at"],
    }


@pytest.mark.integration
def test_an_unreachable_shard_is_sampled_from_the_lake(
    studio_project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ETL_TEST_DEAD_URL", f"mysql://root@127.0.0.1:{free_port()}/")
    sources_file = dead_shard_sources(tmp_path)
    sources = load_sources(sources_file)
    catalog = Catalog(sources, load_source_schema(schema_path_for(sources_file)))
    texts, days = lake_texts(studio_project.lake, "shard_01", "orders", "payload", limit=20)
    assert len(texts) == 20 and days == [DAY]
    every, _ = lake_texts(studio_project.lake, "shard_01", "orders", "payload")
    assert 20 < len(every) < 500 and every[-20:] == texts  # the day's last rows

    answer = catalog.json_keys("orders", "payload", "shard_01", studio_project.lake)
    assert answer["from"] == "lake" and answer["shard"] == "shard_01"
    assert answer["source"].startswith(
        f"the lake's raw/shard_01/orders, the last {len(every)} rows of {DAY} "
    )
    assert "shard shard_01 cannot be reached" in answer["source"]
    keys = {k["path"]: k for k in answer["keys"]}
    assert keys["totals.grand_total"]["type"] == "decimal(12,2)"
    assert {i["path"] for i in keys["items"]["items"]} == {"sku", "qty", "price"}

    reachable = catalog.json_keys("orders", "payload", "shard_00", studio_project.lake)
    assert reachable["from"] == "shard"
    assert reachable["source"] == "shard shard_00, the latest 400 rows by updated_at"

    with pytest.raises(SampleUnavailable, match="the lake has no raw rows of orders"):
        catalog.json_keys("orders", "payload", "shard_01", tmp_path / "no_lake")
    broken = tmp_path / "broken"
    day_dir = broken / "raw" / "shard_01" / "orders" / f"updated_at={DAY}"
    day_dir.mkdir(parents=True)
    (day_dir / "part-0.parquet").write_bytes(b"PAR1 not a parquet file")
    with pytest.raises(SampleUnavailable, match="reading the lake failed"):
        catalog.json_keys("orders", "payload", "shard_01", broken)

    config = StudioConfig(catalog=catalog, views_dir=tmp_path, lake_root=studio_project.lake)
    client = TestClient(create_app(config), base_url="http://127.0.0.1")
    got = client.get("/api/tables/orders/json/payload", params={"shard": "shard_01"})
    assert got.status_code == 200 and got.json()["from"] == "lake"
    assert client.get("/api/tables/orders/json/payload?shard=shard_09").status_code == 404
    empty = StudioConfig(catalog=catalog, views_dir=tmp_path, lake_root=tmp_path / "no_lake")
    down = TestClient(create_app(empty), base_url="http://127.0.0.1")
    refused = down.get("/api/tables/orders/json/payload", params={"shard": "shard_01"})
    assert refused.status_code == 502 and "cannot be reached" in refused.json()["error"]


def test_a_type_set_over_a_quoted_one_is_written_plain() -> None:
    draft = _new({"op": "set_column_type", "name": "total", "type": "string"})
    assert "    total: {from: total, type: string}\n" in draft.text()  # was "decimal(12,2)"
    draft.apply({"op": "set_column_type", "name": "total", "type": "decimal(14,2)"})
    assert '    total: {from: total, type: "decimal(14,2)"}\n' in draft.text()
