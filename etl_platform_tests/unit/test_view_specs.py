from pathlib import Path

import pytest
import yaml

from etl_platform.env import DEFAULTS_DIR
from etl_platform.specs.errors import SpecErrors
from etl_platform.specs.loader import load_source_schema, load_sources
from etl_platform.specs.view_loader import VIEW_COMPONENT_TYPE, load_views

SOURCES = load_sources(DEFAULTS_DIR / "sources.yaml")
SCHEMA = load_source_schema(DEFAULTS_DIR / "sources.schema.yaml")


def _write_view(root: Path, name: str, attributes: dict, type_: str = VIEW_COMPONENT_TYPE) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    path = folder / "defs.yaml"
    path.write_text(yaml.safe_dump({"type": type_, "attributes": attributes}, allow_unicode=True))
    return path


def test_the_demo_views_validate() -> None:
    views = load_views(DEFAULTS_DIR / "views", SOURCES, SCHEMA)
    assert sorted(v.spec.name for v in views) == [
        "customer_profiles",
        "daily_orders",
        "order_activity",
        "order_items",
        "order_status_history",
        "orders_enriched",
    ]


GOOD = {
    "name": "v",
    "source": "orders",
    "columns": {"order_id": {"from": "id", "type": "uint64"}},
    "unique_key": ["order_id"],
}


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"source": "ordrs"}, "attributes.source", "unknown table 'ordrs'"),
        (
            {"columns": {"x": {"from": "nope", "type": "int64"}}, "unique_key": ["x"]},
            "attributes.columns.x.from",
            "unknown column 'nope' of table 'orders'",
        ),
        (
            {"columns": {"x": {"json": "payload", "path": "a..b", "type": "string"}}},
            "attributes.columns.x.path",
            "bad JSON path 'a..b'",
        ),
        (
            {"columns": {"x": {"from": "id", "type": "money"}}, "unique_key": ["x"]},
            "attributes.columns.x.type",
            "money",
        ),
        (
            {"columns": {"x": {"json": "status", "path": "a", "type": "string"}}, "unique_key": []},
            "attributes.unique_key",
            "at least 1 item",
        ),
        (
            {
                "columns": {"x": {"json": "status", "path": "a", "type": "string"}},
                "unique_key": ["x"],
            },
            "attributes.columns.x.json",
            "column 'status' is not listed in tables.orders.json",
        ),
        (
            {"columns": {"order-id": {"from": "id", "type": "int64"}}},
            "attributes.columns.order-id.[key]",
            "not a plain name",
        ),
        (
            {
                "lookups": [
                    {
                        "table": "customers",
                        "on": {"customer_id": "idx"},
                        "columns": {"email": "order_id"},
                    }
                ]
            },
            "attributes.lookups.0.on.customer_id",
            "unknown column 'idx' of table 'customers'",
        ),
        (
            {
                "lookups": [
                    {
                        "table": "customers",
                        "on": {"customer_id": "id"},
                        "columns": {"email": "order_id"},
                    }
                ]
            },
            "attributes.columns",
            "output column 'order_id' is declared 2 times",
        ),
        (
            {
                "columns": {"updated_at": {"from": "updated_at", "type": "timestamp"}},
                "unique_key": ["updated_at"],
            },
            "attributes.columns.updated_at",
            "is reserved",
        ),
        ({"unique_key": ["nope"]}, "attributes.unique_key", "'nope' is not a declared column"),
        ({"colums": {}}, "attributes.colums", "unknown field"),
        ({"schedule": "every 5 minutes"}, "attributes.schedule", "not a cron expression"),
        (
            {"freshness": {"warn_after": "2h", "fail_after": "1h"}},
            "attributes.freshness.warn_after",
            "shorter than fail_after",
        ),
        (
            {"columns": {"x": {"item": "sku", "type": "string"}}, "unique_key": ["x"]},
            "attributes.columns.x.item",
            "need an explode section",
        ),
    ],
    ids=[
        "unknown-table",
        "unknown-column",
        "bad-json-path",
        "bad-type",
        "empty-key",
        "not-a-json-column",
        "not-a-plain-name",
        "unknown-lookup-column",
        "duplicate-output",
        "reserved-name",
        "key-not-an-output",
        "unknown-field",
        "bad-cron",
        "bad-freshness",
        "item-without-explode",
    ],
)
def test_a_bad_spec_names_the_file_field_and_reason(
    tmp_path: Path, change: dict, field: str, reason: str
) -> None:
    path = _write_view(tmp_path, "v", {**GOOD, **change})
    with pytest.raises(SpecErrors) as info:
        load_views(tmp_path, SOURCES, SCHEMA)
    problems = [(e.path, f, r) for e in info.value.errors for f, r in e.problems]
    assert any(p == str(path) and f == field and reason in r for p, f, r in problems), problems


def test_all_problems_of_all_files_come_at_once(tmp_path: Path) -> None:
    a = _write_view(tmp_path, "a", {**GOOD, "name": "a", "source": "nope"})
    b = _write_view(
        tmp_path,
        "b",
        {
            **GOOD,
            "name": "b",
            "unique_key": ["x"],
            "columns": {"y": {"from": "zz", "type": "int64"}},
        },
    )
    c = _write_view(tmp_path, "c", {**GOOD, "name": "c"}, type_="something.Else")
    _write_view(tmp_path, "d", {**GOOD, "name": "d"})
    with pytest.raises(SpecErrors) as info:
        load_views(tmp_path, SOURCES, SCHEMA)
    text = str(info.value)
    assert f"{a}: attributes.source: unknown table 'nope'" in text
    assert f"{b}: attributes.columns.y.from: unknown column 'zz'" in text
    assert f"{b}: attributes.unique_key: 'x' is not a declared column" in text
    assert f"{c}: type: must be {VIEW_COMPONENT_TYPE}" in text
    assert "4 problem(s) in 3 file(s)" in text


def test_the_name_must_match_the_folder(tmp_path: Path) -> None:
    path = _write_view(tmp_path, "folder_name", GOOD)
    with pytest.raises(SpecErrors, match=f"{path}: attributes.name: 'v' must match its folder"):
        load_views(tmp_path, SOURCES, SCHEMA)


def test_an_unquoted_decimal_in_a_flow_mapping_gets_a_hint(tmp_path: Path) -> None:
    folder = tmp_path / "v"
    folder.mkdir()
    (folder / "defs.yaml").write_text(
        f"type: {VIEW_COMPONENT_TYPE}\nattributes:\n  name: v\n  source: orders\n"
        "  columns:\n    total: {from: total, type: decimal(12,2)}\n  unique_key: [total]\n"
        "  lookups:\n    - {table: customers, on: {customer_id: id}, columns: {email: e}}\n"
    )
    with pytest.raises(SpecErrors) as info:
        load_views(tmp_path, SOURCES, SCHEMA)
    assert 'quote a type like decimal(p,s) inside {...}, e.g. type: "decimal(12,2)"' in str(
        info.value
    )
    assert "lookups.0.on" not in str(info.value)  # `on:` stays a key, not YAML 1.1's True


def _problems(tmp_path: Path) -> list[tuple[str, str]]:
    with pytest.raises(SpecErrors) as info:
        load_views(tmp_path, SOURCES, SCHEMA)
    return [(f, r) for e in info.value.errors for f, r in e.problems]


def test_a_bad_duration_does_not_hide_the_files_other_problems(tmp_path: Path) -> None:
    _write_view(
        tmp_path,
        "v",
        {
            **GOOD,
            "columns": {
                "order_id": {"from": "id", "type": "uint64"},
                "amount": {"from": "amount_x", "type": "decimal(12,2)"},
            },
            "unique_key": ["order_key"],
            "freshness": {"fail_after": "1 day"},
            "schedule": "every hour",
        },
    )
    problems = _problems(tmp_path)
    assert [f for f, _ in problems] == [
        "attributes.freshness.fail_after",
        "attributes.columns.amount.from",
        "attributes.unique_key",
        "attributes.schedule",
    ]
    assert "bad duration '1 day'" in problems[0][1]


def test_an_invalid_part_is_reported_once_and_the_rest_still_checked(tmp_path: Path) -> None:
    _write_view(
        tmp_path,
        "folder",
        {
            **GOOD,
            "columns": {
                "order_id": {"from": "id", "type": "uint64"},
                "grand": {"json": "payload", "path": "a..b", "type": "string"},
                "tier": {"from": "tier", "type": "string"},
            },
            "unique_key": ["order_id", "grand"],  # names the invalid column: no second problem
            "lookups": [
                {"table": "customers", "on": {"customer_id": "id"}, "columns": 5},
                {"table": "customers", "on": {"customer_id": "idx"}, "columns": {"email": "e"}},
            ],
            "explode": {"json": "payload"},
            "dist_key": "nope",
        },
    )
    problems = _problems(tmp_path)
    fields = [f for f, _ in problems]
    assert fields == [
        "attributes.lookups.0.columns",
        "attributes.columns.grand.path",
        "attributes.explode.path",
        "attributes.name",
        "attributes.columns.tier.from",
        "attributes.lookups.1.on.customer_id",
        "attributes.dist_key",
    ], problems


def test_an_unknown_source_still_checks_what_does_not_need_its_columns(tmp_path: Path) -> None:
    _write_view(
        tmp_path,
        "v",
        {**GOOD, "source": "nope", "unique_key": ["x"], "schedule": "soon"},
        type_="something.Else",
    )
    assert [f for f, _ in _problems(tmp_path)] == [
        "type",
        "attributes.source",
        "attributes.unique_key",
        "attributes.schedule",
    ]


def test_a_domain_groups_the_view_and_owners_are_emails_or_teams(tmp_path: Path) -> None:
    """At a hundred views the UI's groups follow the spec's domain; a bad owner is named."""
    from etl_platform.components.views import build_view_assets

    spec = {**GOOD, "domain": "sales", "owners": ["ana@example.com", "team:orders"]}
    _write_view(tmp_path, "v", spec)
    (view,) = load_views(tmp_path, SOURCES, SCHEMA)
    assets = build_view_assets(view.spec, SOURCES)
    specs = {key.to_user_string(): s for key, s in assets.specs_by_key.items()}
    assert specs["views/v"].group_name == "views_sales"
    assert specs["views/v__rejects"].group_name == "views_sales"
    assert list(specs["views/v"].owners) == ["ana@example.com", "team:orders"]

    _write_view(tmp_path, "w", {**GOOD, "name": "w", "owners": ["ana"]})
    with pytest.raises(SpecErrors, match=r"owners\.0.*'ana' is not an email nor `team:<name>`"):
        load_views(tmp_path, SOURCES, SCHEMA)
