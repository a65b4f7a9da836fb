"""Silent traps of a view spec, caught: a misspelt field names the field meant, a unique key
that removes most rows warns, and a run's query hint names the views that run wrote."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Literal

import dagster as dg
import duckdb
import pydantic
import pytest
import yaml

from etl_platform.cli import runs
from etl_platform.cli.check_report import (
    WrittenView,
    check_lines,
    view_query_lines,
    views_summary_query,
    written_views,
)
from etl_platform.components.view_checks import (
    KEEPS_ROWS_CHECK,
    MAX_DUPLICATE_RATIO,
    view_check_results,
    view_check_specs,
)
from etl_platform.env import DEFAULTS_DIR
from etl_platform.runner import FailedCheck
from etl_platform.specs.errors import allowed_fields, problems_from_validation
from etl_platform.specs.loader import load_source_schema, load_sources
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.view_loader import VIEW_COMPONENT_TYPE, check_view_file
from etl_platform.specs.views import ColumnSpec, LookupSpec, ViewSpec
from etl_platform.steps.view_days import ViewWindow
from etl_platform.transform.view_shape import ShardStats

FIRST, LAST = dt.date(2025, 3, 1), dt.date(2025, 3, 3)

VIEW = {
    "name": "v",
    "source": "orders",
    "columns": {"order_id": {"from": "id", "type": "uint64"}},
    "unique_key": ["order_id"],
}


def _problems(model: type[pydantic.BaseModel], data: dict) -> dict[str, str]:
    with pytest.raises(pydantic.ValidationError) as info:
        model.model_validate(data)
    return dict(problems_from_validation(info.value, model))


# 1. An unknown field names the closest field allowed where it was written.


@pytest.mark.parametrize(
    ("change", "field", "meant"),
    [
        ({"colums": {}}, "colums", "columns"),
        ({"uniqe_key": ["order_id"]}, "uniqe_key", "unique_key"),
        ({"columns": {"order_id": {"from": "id", "tpye": "x"}}}, "columns.order_id.tpye", "type"),
        (
            {"columns": {"order_id": {"from": "id", "type": "uint64", "nulable": False}}},
            "columns.order_id.nulable",
            "nullable",
        ),
        (
            {"lookups": [{"table": "customers", "on": {"a": "id"}, "colums": {"email": "e"}}]},
            "lookups.0.colums",
            "columns",
        ),
        (
            {
                "lookups": [
                    {"table": "customers", "on": {"a": "id"}, "columns": {"e": "e"}, "jion": "x"}
                ]
            },
            "lookups.0.jion",
            "join",
        ),
        (
            {
                "lookups": [
                    {
                        "table": "customers",
                        "on": {"a": "id"},
                        "columns": {"e": "e"},
                        "period": {"view": "d", "from": "f", "frm": "g"},
                    }
                ]
            },
            "lookups.0.period.frm",
            "from",
        ),
        ({"explode": {"json": "payload", "path": "items", "pth": 1}}, "explode.pth", "path"),
        (
            {"freshness": {"fail_after": "1d", "warnafter": "1h"}},
            "freshness.warnafter",
            "warn_after",
        ),
    ],
    ids=[
        "top",
        "top-underscore",
        "column",
        "column-new-field",
        "lookup",
        "lookup-new-field",
        "period-alias",
        "explode",
        "freshness",
    ],
)
def test_an_unknown_view_field_names_the_field_meant(change: dict, field: str, meant: str) -> None:
    problems = _problems(ViewSpec, {**VIEW, **change})
    assert problems[field] == f"unknown field; did you mean {meant!r}?"


def test_a_lookup_column_mapping_is_a_union_member_of_its_own() -> None:
    """`columns: {email: {as: ..., type: ...}}`: pydantic names the member it tried."""
    lookup = {"table": "customers", "on": {"a": "id"}, "columns": {"email": {"as": "e", "tpye": 1}}}
    problems = _problems(ViewSpec, {**VIEW, "lookups": [lookup]})
    (where,) = [f for f, r in problems.items() if f.endswith(".tpye")]
    assert where.startswith("lookups.0.columns.email.")
    assert problems[where] == "unknown field; did you mean 'type'?"


def test_the_names_come_from_the_models() -> None:
    """A field added to a model is offered at once: nothing is listed by hand."""
    column = allowed_fields(ViewSpec, ("columns", "x"), every_name=False)
    assert column == [f.alias or n for n, f in ColumnSpec.model_fields.items()]
    lookup = allowed_fields(ViewSpec, ("lookups", 0), every_name=False)
    assert lookup == [f.alias or n for n, f in LookupSpec.model_fields.items()]
    assert allowed_fields(ViewSpec, (), every_name=False) == list(ViewSpec.model_fields)
    # populate_by_name: the field's own name is accepted too, so it may be offered.
    assert {"from", "from_", "json", "json_column"} <= set(
        allowed_fields(ViewSpec, ("columns", "x"))
    )
    assert allowed_fields(ViewSpec, ("columns", "x", "nope")) == []
    assert allowed_fields(ViewSpec, ("nope",)) == []


def test_a_model_of_its_own_is_walked_the_same_way() -> None:
    class Inner(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        as_: str = pydantic.Field(alias="as")
        kind: Literal["a", "b"]

    class Outer(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        by_name: dict[str, str | Inner]
        listed: list[Inner] = []
        maybe: Annotated[Inner | None, pydantic.Field(default=None)]
        pair: tuple[Inner, int] | None = None

    assert allowed_fields(Outer, ("by_name", "k", "Inner")) == ["as", "kind"]
    assert allowed_fields(Outer, ("by_name", "k")) == ["as", "kind"]  # the tag left out
    assert allowed_fields(Outer, ("listed", 3)) == ["as", "kind"]
    assert allowed_fields(Outer, ("maybe",)) == ["as", "kind"]
    assert allowed_fields(Outer, ("pair", 0)) == ["as", "kind"]
    assert allowed_fields(Outer, ("pair", 1)) == []
    problems = _problems(
        Outer,
        {
            "by_name": {"k": {"as": "x", "kind": "a", "knd": 1}},
            "listed": [{"as": "x", "kind": "a", "a_s": 1}],
            "maybe": {"as": "x", "kind": "a", "kinds": 1},
        },
    )
    assert problems["by_name.k.Inner.knd"] == "unknown field; did you mean 'kind'?"
    assert problems["listed.0.a_s"] == "unknown field; did you mean 'as'?"
    assert problems["maybe.kinds"] == "unknown field; did you mean 'kind'?"


def test_a_name_close_to_nothing_lists_the_fields_there() -> None:
    problems = _problems(ViewSpec, {**VIEW, "explode": {"json": "p", "path": "i", "zzz": 1}})
    assert problems["explode.zzz"] == (
        "unknown field (check the spelling; the fields here: json, path, index_column)"
    )


def test_without_the_model_the_reason_stays_generic() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        ViewSpec.model_validate({**VIEW, "colums": {}})
    assert dict(problems_from_validation(info.value))["colums"] == (
        "unknown field (check the spelling; see the README for the fields)"
    )


def test_a_comma_split_decimal_keeps_its_hint() -> None:
    column = {"json": "payload", "path": "t", "type": "decimal(12", "2)": None}
    problems = _problems(ViewSpec, {**VIEW, "columns": {"total": column}})
    assert problems["columns.total.2)"].startswith("a comma split this mapping")


def test_sources_suggest_too(tmp_path: Path) -> None:
    problems = _problems(
        SourcesSpec,
        {
            "start": "2024-01-01",
            "shards": {"s": {"url_env": "X", "hots": "h"}},
            "tables": {"t": {"primary_key": ["id"], "jsno": [], "null_cursor": {"falback": "c"}}},
            "extract": {"retry": {"max_retrie": 1}},
        },
    )
    assert problems["shards.s.hots"] == "unknown field; did you mean 'host'?"
    assert problems["tables.t.jsno"] == "unknown field; did you mean 'json'?"
    assert problems["tables.t.null_cursor.CursorFallback.falback"] == (
        "unknown field; did you mean 'fallback'?"
    )
    assert problems["extract.retry.max_retrie"] == "unknown field; did you mean 'max_retries'?"
    # Through the loader, as `sources validate` reads a file.
    from etl_platform.specs.errors import SpecError

    path = tmp_path / "sources.yaml"
    path.write_text(
        "start: 2024-01-01\nshards: {s: {url_env: X}}\ntables: {t: {primary_key: [id], jsno: []}}\n"
    )
    with pytest.raises(SpecError, match=r"tables\.t\.jsno: unknown field; did you mean 'json'\?"):
        load_sources(path)


def test_a_view_file_names_the_field_meant(tmp_path: Path) -> None:
    """As `views validate` and definitions report it: the file, the field, the suggestion."""
    path = tmp_path / "v" / "defs.yaml"
    path.parent.mkdir()
    lookup = {"table": "customers", "on": {"customer_id": "id"}, "colums": {"email": "email"}}
    attributes = {**VIEW, "lookups": [lookup]}
    path.write_text(yaml.safe_dump({"type": VIEW_COMPONENT_TYPE, "attributes": attributes}))
    sources = load_sources(DEFAULTS_DIR / "sources.yaml")
    schema = load_source_schema(DEFAULTS_DIR / "sources.schema.yaml")
    spec, problems = check_view_file(path, sources, schema)
    assert spec is None
    assert ("attributes.lookups.0.colums", "unknown field; did you mean 'columns'?") in problems


# 2. A unique key that removes most rows warns.


def _window(**shards: ShardStats) -> ViewWindow:
    window = ViewWindow()
    for shard, stats in shards.items():
        window.add(shard, stats)
    return window


def _keeps_rows(spec: ViewSpec, window: ViewWindow) -> dg.AssetCheckResult:
    (result,) = [r for r in view_check_results(spec, window) if r.check_name == KEEPS_ROWS_CHECK]
    return result


def test_every_view_has_the_warning_check_naming_its_key() -> None:
    spec = ViewSpec.model_validate({**VIEW, "unique_key": ["order_id"]})
    (check,) = [c for c in view_check_specs(spec) if c.name == KEEPS_ROWS_CHECK]
    assert not check.blocking
    assert "_shard + order_id" in (check.description or "")
    assert "report view" in (check.description or "")
    assert f"{MAX_DUPLICATE_RATIO:.0%}" in (check.description or "")
    assert MAX_DUPLICATE_RATIO == 0.5
    assert {r.check_name for r in view_check_results(spec, ViewWindow())} == {
        c.name for c in view_check_specs(spec)
    }


def test_a_unique_key_that_removes_most_rows_warns() -> None:
    spec = ViewSpec.model_validate({**VIEW, "unique_key": ["order_id"]})
    # Over the run's days and shards: 70 of 120 rows in were duplicates.
    window = _window(
        s0=ShardStats(rows_in=100, rejected=2, duplicates=60, rows_out=38),
        s1=ShardStats(rows_in=20, duplicates=10, rows_out=10),
    )
    result = _keeps_rows(spec, window)
    assert not result.passed
    assert result.severity == dg.AssetCheckSeverity.WARN
    meta = {k: v.value for k, v in result.metadata.items()}
    assert meta["ratio"] == pytest.approx(70 / 120)
    assert (meta["rows_in"], meta["duplicates"], meta["max_duplicate_ratio"]) == (120, 70, 0.5)
    assert meta["key"] == ["_shard", "order_id"]
    assert "elements" not in meta
    assert "_shard + order_id removed 70 of 120 rows in" in (result.description or "")
    # The blocking checks do not mind: the rows balance and the key is unique.
    blocking = {r.check_name: r.passed for r in view_check_results(spec, window)}
    assert blocking["rows_balance"] and blocking["unique_key_unique"]


@pytest.mark.parametrize(("duplicates", "passed"), [(0, True), (50, True), (51, False)])
def test_half_the_rows_is_the_limit(duplicates: int, passed: bool) -> None:
    spec = ViewSpec.model_validate(VIEW)
    window = _window(s0=ShardStats(rows_in=100, duplicates=duplicates, rows_out=100 - duplicates))
    assert _keeps_rows(spec, window).passed is passed


def test_no_rows_passes() -> None:
    result = _keeps_rows(ViewSpec.model_validate(VIEW), ViewWindow())
    assert result.passed
    assert result.metadata["ratio"].value == 0.0


def test_an_exploded_view_counts_its_elements() -> None:
    spec = ViewSpec.model_validate(
        {
            **VIEW,
            "columns": {"sku": {"item": "sku", "type": "string"}},
            "explode": {"json": "payload", "path": "items"},
            "unique_key": ["sku"],
        }
    )
    # 10 orders with 40 items, 30 of them dropped: 75% of the elements, more than the orders.
    many = _window(s0=ShardStats(rows_in=10, elements=40, duplicates=30, rows_out=10))
    result = _keeps_rows(spec, many)
    assert not result.passed
    meta = {k: v.value for k, v in result.metadata.items()}
    assert (meta["ratio"], meta["elements"], meta["rows_in"], meta["duplicates"]) == (
        0.75,
        40,
        10,
        30,
    )
    assert "removed 30 of 40 elements" in (result.description or "")
    # 10 orders with 40 items, 8 dropped: 20% of the elements (80% of the orders).
    few = _window(s0=ShardStats(rows_in=10, elements=40, duplicates=8, rows_out=32))
    assert _keeps_rows(spec, few).passed


def test_only_selected_checks_report() -> None:
    spec = ViewSpec.model_validate(VIEW)
    key = dg.AssetCheckKey(dg.AssetKey(["views", "v"]), KEEPS_ROWS_CHECK)
    (only,) = view_check_results(spec, ViewWindow(), {key})
    assert only.check_name == KEEPS_ROWS_CHECK


def test_the_run_says_what_the_warning_means() -> None:
    check = FailedCheck(
        dg.AssetKey(["views", "v"]),
        KEEPS_ROWS_CHECK,
        False,
        {
            "ratio": 0.625,
            "rows_in": 800,
            "duplicates": 500,
            "max_duplicate_ratio": 0.5,
            "key": ["_shard", "customer_id"],
        },
    )
    assert check_lines(check, first=FIRST, last=LAST, duckdb_file="x") == [
        "  WARN views/v unique_key_keeps_rows: dedupe removed 62.50% > 50.00% of the rows in "
        "(500 of 800) on _shard + customer_id: is that one row's key? An aggregate belongs in "
        "a report view"
    ]
    exploded = FailedCheck(
        check.asset,
        check.name,
        False,
        {**check.metadata, "elements": 1000, "duplicates": 900, "ratio": 0.9},
    )
    (line,) = check_lines(exploded, first=FIRST, last=LAST, duckdb_file="x")
    assert "90.00% > 50.00% of the elements (900 of 1,000)" in line


# 3. A run's query hint names the views that run wrote.


def _keys(*names: str) -> list[dg.AssetKey]:
    return [dg.AssetKey(n.split("/")) for n in names]


def test_the_views_a_run_wrote() -> None:
    keys = _keys(
        "raw/shard_00/orders",
        "state/shard_00/customers",
        "views/shipments",
        "views/shipments__rejects",
        "views/returns__rejects",
        "views/audits",
        "athena/shipments",
        "views/audits__current",
        "views/audits__by_audit_day",
        "reports/audits",
    )
    assert written_views(keys) == [
        WrittenView("audits", rows=True, rejects=False),
        WrittenView("returns", rows=False, rejects=True),
        WrittenView("shipments", rows=True, rejects=True),
    ]
    assert written_views(_keys("raw/shard_00/orders", "state/shard_00/customers")) == []


def test_the_hint_names_the_runs_views_not_the_demos() -> None:
    views = written_views(_keys("views/shipments", "views/shipments__rejects"))
    lines = view_query_lines(views, first=FIRST, last=LAST, duckdb_file="lake.duckdb")
    assert lines == [
        "Query with DuckDB: .venv/bin/python -c \"import duckdb; duckdb.connect('lake.duckdb', "
        'read_only=True).sql(\\"SELECT * FROM shipments WHERE updated_at BETWEEN '
        "DATE '2025-03-01' AND DATE '2025-03-03' LIMIT 10\\\").show()\"",
        "The views this run wrote, 2025-03-01 .. 2025-03-03: rows, and rejects "
        "(in <view>__rejects):",
    ]
    summary = views_summary_query(views, first=FIRST, last=LAST)
    assert summary is not None
    assert "FROM shipments WHERE" in summary and "FROM shipments__rejects WHERE" in summary
    assert "orders_enriched" not in "\n".join(lines) + summary


def test_a_run_of_rejects_alone_points_at_them() -> None:
    views = written_views(_keys("views/shipments__rejects"))
    (query, _) = view_query_lines(views, first=FIRST, last=LAST, duckdb_file="x")
    assert "FROM shipments__rejects WHERE" in query


def test_a_run_without_views_has_no_hint() -> None:
    assert view_query_lines([], first=FIRST, last=LAST, duckdb_file="x") == []
    assert views_summary_query([], first=FIRST, last=LAST) is None


def _lake(path: Path) -> str:
    """A DuckDB file with two views' tables as the lake's catalog would name them."""
    database = str(path / "lake.duckdb")
    with duckdb.connect(database) as conn:
        for name, days in (
            ("shipments", [FIRST, FIRST, LAST, LAST + dt.timedelta(days=1)]),
            ("shipments__rejects", [LAST]),
            ("audits", [FIRST]),
            ("audits__rejects", []),
        ):
            conn.execute(f"CREATE TABLE {name} (updated_at DATE)")
            for day in days:
                conn.execute(f"INSERT INTO {name} VALUES (?)", [day])
    return database


def test_the_summary_counts_the_runs_days(tmp_path: Path) -> None:
    database = _lake(tmp_path)
    views = written_views(
        _keys("views/shipments", "views/shipments__rejects", "views/audits", "raw/s/t")
    )
    summary = views_summary_query(views, first=FIRST, last=LAST)
    assert summary is not None
    with duckdb.connect(database, read_only=True) as conn:
        assert conn.sql(summary).fetchall() == [("audits", 1, None), ("shipments", 3, 1)]


def test_the_run_prints_its_own_views(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    database = _lake(tmp_path)
    monkeypatch.setattr(runs, "_duckdb_file", lambda: database)
    runs._print_view_queries(
        _keys("raw/s/orders", "views/shipments", "views/shipments__rejects"), first=FIRST, last=LAST
    )
    out = capsys.readouterr().out
    assert "SELECT * FROM shipments WHERE" in out
    assert re.search(r"│ shipments\s+│\s+3 │\s+1 │", out), out
    assert "orders_enriched" not in out and "audits" not in out
    runs._print_view_queries(_keys("raw/s/orders", "state/s/customers"), first=FIRST, last=LAST)
    assert capsys.readouterr().out == ""
