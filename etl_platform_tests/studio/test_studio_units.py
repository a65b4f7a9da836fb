"""The studio's parts without a browser: the draft's round trip and edits, the publish checks,
the JSON key statistics and lookup key suggestions, the token gate, and a preview that writes
nothing to the lake."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from etl_platform.env import DEFAULTS_DIR
from etl_platform.specs.loader import load_source_schema, load_sources
from etl_platform.specs.source_schema import schema_path_for
from etl_platform.studio.app import StudioConfig, create_app
from etl_platform.studio.catalog import Catalog, key_stats
from etl_platform.studio.checks import check_draft
from etl_platform.studio.draft import Draft, DraftError
from etl_platform.studio.preview import preview_day
from etl_platform.studio.publish import (
    PublishRefused,
    publish_view,
    reload_location,
    unified_diff,
    view_file,
)
from etl_platform_tests.studio.conftest import DAY, Project

DEMO = DEFAULTS_DIR / "views" / "orders_enriched" / "defs.yaml"


def _catalog() -> Catalog:
    os.environ.setdefault("ETL_PLATFORM_DEMO_START", "2024-01-01")
    sources = load_sources(DEFAULTS_DIR / "sources.yaml")
    return Catalog(sources, load_source_schema(schema_path_for(DEFAULTS_DIR / "sources.yaml")))


def test_a_view_file_round_trips_byte_for_byte_comments_included() -> None:
    text = DEMO.read_text()
    assert Draft.from_text(text).text() == text


def test_an_edit_keeps_comments_and_puts_a_new_field_in_spec_order() -> None:
    draft = Draft.from_text(DEMO.read_text())
    draft.apply({"op": "set_column_type", "name": "version", "type": "int32"})
    draft.apply({"op": "set", "field": "dist_key", "value": "order_id"})
    text = draft.text()
    assert "# the customer row as it was at the end of the day" in text
    assert "version: {from: version, type: int32}" in text
    keys = list(draft.attributes)
    assert keys.index("dist_key") == keys.index("destinations") + 1


def test_a_new_draft_is_written_in_the_demo_layout() -> None:
    draft = Draft.new()
    for op in (
        {"op": "set", "field": "source", "value": "orders"},
        {"op": "set", "field": "name", "value": "v"},
        {"op": "add_column", "name": "total", "spec": {"from": "total", "type": "decimal(12,2)"}},
        {"op": "set_list", "field": "unique_key", "values": ["total"]},
        {"op": "set", "field": "schedule", "value": "*/15 * * * *"},
    ):
        draft.apply(op)
    assert draft.text() == (
        "type: etl_platform.components.ViewComponent\n"
        "attributes:\n"
        "  name: v\n"
        "  source: orders\n"
        "  columns:\n"
        '    total: {from: total, type: "decimal(12,2)"}\n'
        "  unique_key: [total]\n"
        '  schedule: "*/15 * * * *"\n'
    )


def test_the_platform_validator_names_the_field() -> None:
    catalog = _catalog()
    text = DEMO.read_text().replace("tax: {json: payload", "tax: {jsn: payload")
    spec, problems = check_draft(text, "orders_enriched", catalog.sources, catalog.schema)
    assert spec is None
    assert ("attributes.columns.tax.jsn", "unknown field; did you mean 'json'?") in problems


@pytest.mark.parametrize(
    "name",
    ["../x", "a/b", "", "1abc", "x" * 65, "/etc"],
    ids=["dots", "slash", "empty", "digit", "long", "abs"],
)
def test_a_name_that_is_not_a_plain_identifier_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(PublishRefused, match="not a plain name"):
        view_file(tmp_path, name)


def test_a_symlinked_view_folder_leading_outside_is_refused(tmp_path: Path) -> None:
    views, outside = tmp_path / "views", tmp_path / "outside"
    views.mkdir()
    outside.mkdir()
    (views / "sneaky").symlink_to(outside)
    with pytest.raises(PublishRefused, match="outside the views folder"):
        view_file(views, "sneaky")


def test_publish_writes_the_file_whole_and_shows_the_diff(tmp_path: Path) -> None:
    text = DEMO.read_text()
    done = publish_view(tmp_path, "orders_enriched", text, dagster_url=None)
    assert done.path.read_text() == text and "+  name: orders_enriched" in done.diff
    assert "ETL_PLATFORM_DAGSTER_URL is not set" in done.reload
    assert [p.name for p in done.path.parent.iterdir()] == ["defs.yaml"]  # no staged file left
    again = publish_view(tmp_path, "orders_enriched", text, dagster_url=None)
    assert again.diff == "" and again.reload == "unchanged: no reload"
    assert unified_diff("a\n", "b\n", "v").splitlines()[2:] == ["@@ -1 +1 @@", "-a", "+b"]


def test_a_reload_of_an_unreachable_webserver_is_reported_not_raised() -> None:
    from etl_platform.demo.mariadb_server import free_port

    said = reload_location(f"http://127.0.0.1:{free_port()}")
    assert said.startswith("reload of etl_platform failed:")


def test_key_stats_count_rows_and_types_seen() -> None:
    texts = ['{"a": {"b": "1.50"}, "c": 1}', '{"a": {"b": 2.25}}', "not json", None]
    stats = {s["path"]: s for s in key_stats(texts)}
    assert stats["a.b"]["count"] == 2 and stats["a.b"]["rows"] == 4
    assert stats["a.b"]["kinds"] == ["number", "string"] and stats["a.b"]["type"].startswith(
        "decimal"
    )
    assert stats["c"]["count"] == 1 and stats["c"]["type"] == "int64"


def test_lookup_keys_match_by_name_and_type() -> None:
    catalog = _catalog()
    orders = catalog.schema.tables["orders"]
    pairs = catalog.lookup_keys("customers", dict(orders))
    assert pairs[0] == {"left": "customer_id", "right": "id", "why": "customer_id, integer"}
    assert all(p["left"] != "status" for p in pairs)
    columns = {c["name"]: c for c in catalog.columns("orders")}
    assert columns["total"]["arrow"] == "decimal128(12, 2)" and columns["payload"]["json"]


def test_off_the_loopback_every_request_needs_the_token(tmp_path: Path) -> None:
    config = StudioConfig(
        catalog=_catalog(),
        views_dir=tmp_path,
        lake_root=tmp_path,
        token="s3cret-token-of-16+",
        allowed_hosts=("*",),
    )
    client = TestClient(create_app(config), follow_redirects=False)
    assert client.get("/").status_code == 303
    assert client.get("/api/tables").status_code == 401
    assert client.post("/login", data={"token": "wrong"}).status_code == 401
    signed = client.post("/login", data={"token": "s3cret-token-of-16+"})
    assert signed.status_code == 303
    page = client.get("/")
    assert page.status_code == 200 and "s3cret" not in page.text
    assert client.get("/api/tables").status_code == 200


def test_a_foreign_host_name_is_refused(tmp_path: Path) -> None:
    config = StudioConfig(catalog=_catalog(), views_dir=tmp_path, lake_root=tmp_path)
    client = TestClient(create_app(config), base_url="http://evil.example")
    assert client.get("/api/tables").status_code == 400


def test_the_studio_refuses_to_listen_off_the_loopback_without_a_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from etl_platform.cli import main

    monkeypatch.delenv("ETL_PLATFORM_STUDIO_TOKEN", raising=False)
    assert main(["studio", "--host", "0.0.0.0"]) == 1


@pytest.mark.integration
def test_a_preview_reads_the_lake_and_writes_nothing(studio_project: Project) -> None:
    sources = load_sources(studio_project.sources)
    schema = load_source_schema(schema_path_for(studio_project.sources))
    text = DEMO.read_text()
    spec, problems = check_draft(text, "orders_enriched", sources, schema)
    assert spec is not None, problems
    before = {p: p.stat().st_mtime for p in studio_project.lake.rglob("*")}
    answer = preview_day(spec, sources, studio_project.lake, DAY, ["shard_01"])
    assert {p: p.stat().st_mtime for p in studio_project.lake.rglob("*")} == before
    counts = answer["counts"]
    assert answer["shards"] == ["shard_01"] and counts["in"] > 0
    assert counts["in"] == counts["out"] + counts["rejected"] + counts["duplicates"]
    assert len(answer["rejects"]) == counts["rejected"] and answer["reject_columns"][-1] == "reason"
    missing = preview_day(
        spec, sources, studio_project.lake, DAY + dt.timedelta(days=1), ["shard_00"]
    )
    assert "no shard has its inputs" in missing["error"]


REPORT_DEMO = DEFAULTS_DIR / "views" / "daily_orders" / "defs.yaml"


def _new(*ops: dict[str, object]) -> Draft:
    draft = Draft.new()
    for op in (
        {"op": "set", "field": "name", "value": "v"},
        {"op": "set", "field": "source", "value": "orders"},
        {"op": "add_column", "name": "total", "spec": {"from": "total", "type": "decimal(12,2)"}},
        {
            "op": "add_column",
            "name": "created_at",
            "spec": {"from": "created_at", "type": "timestamp"},
        },
        {"op": "set_list", "field": "unique_key", "values": ["total"]},
        *ops,
    ):
        draft.apply(op)
    return draft


def _problems(draft: Draft) -> list[tuple[str, str]]:
    catalog = _catalog()
    return check_draft(draft.text(), "v", catalog.sources, catalog.schema)[1]


def test_a_computed_column_is_written_quoted_and_its_expression_edited_in_place() -> None:
    draft = _new(
        {"op": "add_column", "name": "day", "spec": {"expr": "DATE(created_att)", "type": "date"}}
    )
    assert '    day: {expr: "DATE(created_att)", type: date}\n' in draft.text()
    assert _problems(draft) == [
        (
            "attributes.columns.day.expr",
            "at position 6: unknown column 'created_att' (did you mean 'created_at'?)",
        )
    ]
    draft.apply({"op": "set_column_expr", "name": "day", "expr": "DATE(created_at)"})
    draft.apply({"op": "set_column_type", "name": "day", "type": "date"})
    assert '    day: {expr: "DATE(created_at)", type: date}\n' in draft.text()
    assert _problems(draft) == []
    edited = Draft.from_text(draft.text())  # it reads back as it was written
    assert edited.form()["columns"]["day"] == {"expr": "DATE(created_at)", "type": "date"}


def test_a_report_and_a_second_partitioning_are_written_in_spec_order() -> None:
    draft = _new(
        {"op": "add_column", "name": "day", "spec": {"expr": "DATE(created_at)", "type": "date"}},
        {"op": "set_list", "field": "grain", "values": ["day"]},
        {"op": "set_measure", "name": "revenue", "function": "sum", "column": "total"},
        {"op": "set_measure", "name": "orders", "function": "count", "column": ""},
        {"op": "set_flag", "field": "across_shards", "value": True},
        {"op": "set", "field": "partition_by", "value": "day"},
    )
    assert draft.text().split("  unique_key: [total]\n")[1] == (
        "  grain: [day]\n"
        "  measures:\n"
        "    revenue: sum(total)\n"
        "    orders: count()\n"
        "  across_shards: true\n"
        "  partition_by: day\n"
    )
    assert _problems(draft) == []
    draft.apply({"op": "set_list", "field": "grain", "values": ["day", "nope"]})
    draft.apply({"op": "set_measure", "name": "revenue", "function": "sum", "column": "totl"})
    assert _problems(draft) == [
        ("attributes.grain.1", "'nope' is not an output column of the view"),
        ("attributes.measures.revenue", "'totl' is not an output column of the view"),
    ]
    for field in ("grain", "partition_by"):
        draft.apply({"op": "set_list" if field == "grain" else "set", "field": field})
    draft.apply({"op": "remove_measure", "name": "revenue"})
    draft.apply({"op": "remove_measure", "name": "orders"})
    draft.apply({"op": "set_flag", "field": "across_shards", "value": False})
    assert draft.text().endswith("  unique_key: [total]\n")


def test_editing_a_report_keeps_the_files_comments_and_field_order() -> None:
    text = REPORT_DEMO.read_text()
    draft = Draft.from_text(text)
    order = list(draft.attributes)
    draft.apply({"op": "set_list", "field": "grain", "values": ["order_day", "currency"]})
    draft.apply({"op": "set_measure", "name": "revenue", "function": "max", "column": "total"})
    draft.apply({"op": "set_measure", "name": "smallest", "function": "min", "column": "total"})
    draft.apply({"op": "remove_measure", "name": "customers"})
    draft.apply({"op": "set", "field": "partition_by", "value": "created_at"})
    draft.apply({"op": "set_column_expr", "name": "order_day", "expr": "DATE(created_at)"})
    edited = draft.text()
    assert list(draft.attributes) == order
    assert "  grain: [order_day, currency]\n" in edited
    assert "    revenue: max(total)\n" in edited and "customers:" not in edited
    assert "    largest_total: max(total)\n    smallest: min(total)\n" in edited
    assert "# one row per day, currency and status over all shards" in edited
    assert "partition_by: created_at            # views/daily_orders__by_order_day/" in edited
    assert edited.replace("[order_day, currency]", "[order_day, currency, status]") != text
    assert _problems(Draft.from_text(edited.replace("daily_orders", "v"))) == []


def test_description_domain_owners_history_and_refresh_round_trip() -> None:
    draft = _new(
        {"op": "set", "field": "description", "value": "Orders: one row each"},
        {"op": "set", "field": "domain", "value": "sales"},
        {"op": "set_list", "field": "owners", "values": ["ana@example.com", " team:finance"]},
        {"op": "set_flag", "field": "history", "value": False},
        {"op": "set_list", "field": "refresh", "values": ["no_such_provider"]},
    )
    text = draft.text()
    assert text.split("attributes:\n")[1].startswith(
        "  name: v\n"
        "  description: 'Orders: one row each'\n"
        "  domain: sales\n"
        "  owners: [ana@example.com, team:finance]\n"
        "  source: orders\n"
    )
    assert text.endswith("  history: false\n  refresh: [no_such_provider]\n")
    assert Draft.from_text(text).form()["owners"] == ["ana@example.com", "team:finance"]
    # The demo's orders are read in batches and it declares no such provider: both are named.
    assert dict(_problems(draft)).keys() == {"attributes.history", "attributes.refresh.0"}
    draft.apply({"op": "set_list", "field": "owners", "values": ["ana"]})
    assert "attributes.owners.0" in dict(_problems(draft))
    draft.apply({"op": "set_flag", "field": "history", "value": True})  # the default
    draft.apply({"op": "set_list", "field": "refresh", "values": []})
    draft.apply({"op": "set", "field": "domain", "value": ""})
    assert "history" not in draft.attributes and "refresh" not in draft.attributes
    assert "domain" not in draft.attributes


def test_a_flag_or_list_the_form_does_not_set_is_refused() -> None:
    with pytest.raises(DraftError, match="checkbox"):
        Draft.new().apply({"op": "set_flag", "field": "nullable", "value": True})
    with pytest.raises(DraftError, match="a measure needs a name"):
        Draft.new().apply({"op": "set_measure", "name": "", "function": "sum"})
    with pytest.raises(DraftError, match="no computed column"):
        _new().apply({"op": "set_column_expr", "name": "total", "expr": "1"})


def test_the_page_is_told_the_output_columns_and_the_providers(tmp_path: Path) -> None:
    catalog = _catalog()
    outputs = catalog.output_columns(Draft.from_text(REPORT_DEMO.read_text()).form())
    kinds = {o["name"]: o["kind"] for o in outputs}
    assert [n for n, k in kinds.items() if k in ("date", "timestamp")] == [
        "created_at",
        "order_day",
    ]
    enriched = {
        o["name"]: o["kind"]
        for o in catalog.output_columns(Draft.from_text(DEMO.read_text()).form())
    }
    assert enriched["customer_tier"] == "string" and list(enriched)[-1] == "customer_name"
    config = StudioConfig(catalog=catalog, views_dir=tmp_path, lake_root=tmp_path)
    client = TestClient(create_app(config), base_url="http://127.0.0.1")
    answer = client.post("/api/draft", json={"yaml": REPORT_DEMO.read_text(), "ops": []}).json()
    assert answer["outputs"] == outputs and answer["problems"] == []
    page = client.get("/").text
    for control in ("cc-expr", "ms-add", "f-partition_by", "f-across_shards", "f-history"):
        assert f'id="{control}"' in page
    assert 'data-providers="customer_risk"' in page  # the demo's one: offered for refresh
