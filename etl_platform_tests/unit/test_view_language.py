"""Chained lookups, inner joins, typed lookup columns, computed and required columns: the
transform on small frames, and the spec's problems named by field at load."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
import yaml

from etl_platform.specs.errors import SpecErrors
from etl_platform.specs.source_schema import SourceSchema
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.view_loader import VIEW_COMPONENT_TYPE, load_views
from etl_platform.specs.views import ViewSpec
from etl_platform.steps.view_days import source_columns_needed
from etl_platform.transform.view_shape import shape_shard
from etl_platform.transform.view_types import view_type_check

UTC = dt.UTC
T = dt.datetime(2024, 3, 1, 12, tzinfo=UTC)

SOURCES = SourcesSpec.model_validate(
    {
        "start": "2024-01-01",
        "shards": {"s0": {"url_env": "SHARD_URL"}},
        "tables": {
            "rental": {"primary_key": ["rental_id"], "cursor": "last_update"},
            "inventory": {"primary_key": ["inventory_id"], "cursor": "last_update"},
            "film": {"primary_key": ["film_id"], "cursor": "last_update"},
        },
    }
)
SCHEMA = SourceSchema.model_validate(
    {
        "tables": {
            "rental": {
                "rental_id": "int(11)",
                "inventory_id": "mediumint(8) unsigned",
                "rental_date": "datetime",
                "amount": "decimal(5,2)",
                "last_update": "timestamp",
            },
            "inventory": {
                "inventory_id": "mediumint(8) unsigned",
                "film_id": "smallint(5) unsigned",
                "store_id": "tinyint(3) unsigned",
                "last_update": "timestamp",
            },
            "film": {
                "film_id": "smallint(5) unsigned",
                "title": "varchar(128)",
                "rental_rate": "decimal(4,2)",
                "release_date": "date",
                "last_update": "timestamp",
            },
        }
    }
)

CHAIN = {
    "name": "rentals",
    "source": "rental",
    "columns": {
        "rental_id": {"from": "rental_id", "type": "int64"},
        "inventory_id": {"from": "inventory_id", "type": "int64"},
        "amount": {"from": "amount", "type": "decimal(5,2)"},
    },
    "lookups": [
        {
            "table": "inventory",
            "on": {"inventory_id": "inventory_id"},
            "columns": {"film_id": "film_id", "store_id": {"as": "store", "type": "int32"}},
        },
        {"table": "film", "on": {"film_id": "film_id"}, "columns": {"title": "title"}},
    ],
    "unique_key": ["rental_id"],
}


def _spec(**changes: object) -> ViewSpec:
    return ViewSpec.model_validate({**CHAIN, **changes})


def _rental(*rows: tuple[int, int | None, str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "rental_id": [r[0] for r in rows],
            "inventory_id": [r[1] for r in rows],
            "amount": [Decimal(r[2]) for r in rows],
            "last_update": [T] * len(rows),
        },
        schema_overrides={"inventory_id": pl.UInt32, "amount": pl.Decimal(5, 2)},
    )


INVENTORY = pl.DataFrame(
    {"inventory_id": [10, 11, 12], "film_id": [100, 101, 999], "store_id": [1, 2, 300]},
    schema={"inventory_id": pl.UInt32, "film_id": pl.UInt16, "store_id": pl.UInt16},
).with_columns(last_update=pl.lit(T))
FILM = pl.DataFrame(
    {"film_id": [100, 101], "title": ["ALIEN", "BRAZIL"]},
    schema={"film_id": pl.UInt16, "title": pl.String},
).with_columns(last_update=pl.lit(T))


def _shape(spec: ViewSpec, raw: pl.DataFrame):
    return shape_shard(
        spec,
        raw,
        shard="s0",
        primary_key=["rental_id"],
        cursor="last_update",
        related={"inventory": INVENTORY, "film": FILM},
        related_cursors={"inventory": "last_update", "film": "last_update"},
        run_id="r",
    )


def test_a_chained_lookup_joins_on_what_the_earlier_lookup_brought_in() -> None:
    shaped = _shape(_spec(), _rental((1, 10, "2.99"), (2, 11, "0.99"), (3, 77, "4.99")))
    assert shaped.rows.select("rental_id", "film_id", "store", "title").rows() == [
        (1, 100, 1, "ALIEN"),
        (2, 101, 2, "BRAZIL"),
        (3, None, None, None),
    ]
    assert shaped.rows.schema["store"] == pl.Int32
    # Row 3's inventory is unknown (an orphan); its film key is then NULL: no second orphan.
    assert shaped.stats.orphans == {"inventory": 1, "film": 0}
    assert shaped.stats.balanced(exploded=False)


def test_a_chained_lookup_needs_no_source_column_for_the_brought_in_key() -> None:
    assert "film_id" not in source_columns_needed(_spec(), SOURCES)


def test_an_inner_join_leaves_orphans_out_as_rejects_with_the_reason() -> None:
    lookups = [dict(CHAIN["lookups"][0], join="inner"), CHAIN["lookups"][1]]
    shaped = _shape(
        _spec(lookups=lookups), _rental((1, 10, "2.99"), (3, 77, "4.99"), (4, None, "1"))
    )
    assert shaped.rows["rental_id"].to_list() == [1]
    rejects = shaped.rejects.sort("key").to_dicts()
    assert [(json.loads(r["key"]), r["column"], r["reason"]) for r in rejects] == [
        ({"rental_id": 3}, "inventory_id", 'no inventory row for {"inventory_id":77}'),
        ({"rental_id": 4}, "inventory_id", 'no inventory row for {"inventory_id":null}'),
    ]
    assert shaped.stats.orphans["inventory"] == 1  # a NULL key is no orphan, but is left out
    assert shaped.stats.rejected == 2 and shaped.stats.balanced(exploded=False)


def test_a_looked_up_value_that_does_not_fit_its_type_is_a_reject() -> None:
    lookups = [
        dict(CHAIN["lookups"][0], columns={"store_id": {"as": "store", "type": "uint8"}}),
    ]
    shaped = _shape(_spec(lookups=lookups), _rental((1, 10, "2.99"), (5, 12, "1.00")))
    assert shaped.rows["rental_id"].to_list() == [1]
    [reject] = shaped.rejects.to_dicts()
    assert reject["column"] == "store" and reject["raw_value"] == "300"
    assert "300 does not fit uint8" in reject["reason"]


def test_a_required_column_rejects_a_null_row() -> None:
    columns = dict(CHAIN["columns"])
    lookups = [
        CHAIN["lookups"][0],
        dict(CHAIN["lookups"][1], columns={"title": {"nullable": False}}),
    ]
    shaped = _shape(
        _spec(columns=columns, lookups=lookups), _rental((1, 10, "2.99"), (6, 12, "1.00"))
    )
    assert shaped.rows["rental_id"].to_list() == [1]
    [reject] = shaped.rejects.to_dicts()
    assert reject["column"] == "title"
    assert reject["reason"] == "column title is NULL; the view declares it nullable: false"
    assert shaped.stats.balanced(exploded=False)


def test_a_computed_column_reads_looked_up_columns_and_is_typed() -> None:
    columns = {
        **CHAIN["columns"],
        "label": {"expr": "CONCAT(UPPER(title), '#', store)", "type": "string"},
        "doubled": {"expr": "amount * 2", "type": "decimal(7,2)"},
    }
    shaped = _shape(_spec(columns=columns), _rental((1, 10, "2.99"), (2, 11, "0.99")))
    assert shaped.rows.select("label", "doubled").rows() == [
        ("ALIEN#1", Decimal("5.98")),
        ("BRAZIL#2", Decimal("1.98")),
    ]
    assert list(shaped.rows.columns[:5]) == [
        "rental_id",
        "inventory_id",
        "amount",
        "label",
        "doubled",
    ]


def _write(root: Path, attributes: dict) -> Path:
    folder = root / attributes["name"]
    folder.mkdir()
    path = folder / "defs.yaml"
    path.write_text(yaml.safe_dump({"type": VIEW_COMPONENT_TYPE, "attributes": attributes}))
    return path


def _problems(root: Path, attributes: dict) -> list[tuple[str, str]]:
    _write(root, attributes)
    with pytest.raises(SpecErrors) as info:
        load_views(root, SOURCES, SCHEMA)
    return [(f, r) for e in info.value.errors for f, r in e.problems]


def test_the_chain_loads(tmp_path: Path) -> None:
    _write(tmp_path, CHAIN)
    [loaded] = load_views(tmp_path, SOURCES, SCHEMA)
    assert loaded.spec.lookups[0].outputs == {"film_id": "film_id", "store_id": "store"}


def test_a_chain_in_the_wrong_order_says_which_lookup_must_come_first(tmp_path: Path) -> None:
    attributes = dict(CHAIN, lookups=list(reversed(CHAIN["lookups"])))
    assert _problems(tmp_path, attributes) == [
        (
            "attributes.lookups.0.on.film_id",
            "'film_id' comes from lookups.1 (table 'inventory'), which runs after this one: "
            "move lookups.1 before lookups.0",
        )
    ]


def test_bad_view_language_fields_are_named(tmp_path: Path) -> None:
    attributes = dict(
        CHAIN,
        columns={
            **CHAIN["columns"],
            "total": {"expr": "amount * rate", "type": "decimal(9,2)"},
            "gross": {"expr": "amount", "type": "json"},
        },
        lookups=[
            dict(CHAIN["lookups"][0], columns={"store_id": {"as": "store", "type": "int33"}}),
            dict(CHAIN["lookups"][1], on={"total": "film_id"}, join="outer"),
        ],
        unique_key=["total"],
    )
    problems = dict(_problems(tmp_path, attributes))
    assert set(problems) == {
        "attributes.lookups.1.join",
        "attributes.lookups.0.columns.store_id.type",
        "attributes.columns.total.expr",
        "attributes.columns.gross.type",
        "attributes.unique_key",
    }
    assert "unknown column 'rate'" in problems["attributes.columns.total.expr"]
    assert "int33" in problems["attributes.lookups.0.columns.store_id.type"]
    assert "computed column" in problems["attributes.unique_key"]


def test_a_computed_column_of_the_wrong_types_is_refused_at_load(tmp_path: Path) -> None:
    attributes = dict(
        CHAIN,
        columns={
            **CHAIN["columns"],
            "shout": {"expr": "UPPER(title)", "type": "string"},  # a looked-up string: fine
            "bad": {"expr": "LOWER(amount) || store", "type": "string"},
        },
    )
    _write(tmp_path, attributes)
    with pytest.raises(SpecErrors) as info:
        load_views(tmp_path, SOURCES, SCHEMA, view_type_check(SCHEMA))
    [(field, reason)] = [(f, r) for e in info.value.errors for f, r in e.problems]
    assert field == "attributes.columns.bad.expr"
    assert "position" in reason


def _type_problems(root: Path, attributes: dict) -> list[tuple[str, str]]:
    _write(root, attributes)
    with pytest.raises(SpecErrors) as info:
        load_views(root, SOURCES, SCHEMA, view_type_check(SCHEMA))
    return [(f, r) for e in info.value.errors for f, r in e.problems]


def test_a_lookup_key_that_cannot_be_compared_is_refused_at_load(tmp_path: Path) -> None:
    first = dict(CHAIN["lookups"][0], columns={"film_id": {"as": "film_id", "type": "string"}})
    attributes = dict(CHAIN, lookups=[first, CHAIN["lookups"][1]])
    [(field, reason)] = _type_problems(tmp_path, attributes)
    assert field == "attributes.lookups.1.on.film_id"
    assert reason.startswith("'film_id' is String and film.film_id is UInt16: they cannot be")


def test_a_report_and_a_second_partitioning_load(tmp_path: Path) -> None:
    attributes = dict(
        CHAIN,
        columns={**CHAIN["columns"], "day": {"expr": "DATE(rented_at)", "type": "date"}},
        lookups=[CHAIN["lookups"][0]],
        grain=["day", "store"],
        measures={
            "rentals": "count()",
            "revenue": "sum(amount)",
            "films": "count_distinct(film_id)",
        },
        across_shards=True,
        partition_by="day",
    )
    attributes["columns"]["rented_at"] = {"from": "rental_date", "type": "timestamp"}
    _write(tmp_path, attributes)
    [loaded] = load_views(tmp_path, SOURCES, SCHEMA, view_type_check(SCHEMA))
    assert loaded.spec.is_report and loaded.spec.needs_current
    assert loaded.spec.measure_specs["revenue"].column == "amount"


def test_bad_report_fields_are_named(tmp_path: Path) -> None:
    attributes = dict(
        CHAIN,
        grain=["nope", "rental_id", "rental_id"],
        measures={"rental_id": "sum(amount)", "_n": "count()"},
    )
    assert dict(_problems(tmp_path, attributes)) == {
        "attributes.grain.0": "'nope' is not an output column of the view",
        "attributes.grain": "'rental_id' is in the grain 2 times",
        "attributes.measures.rental_id": "'rental_id' is also a grain column",
        "attributes.measures._n": "'_n' is reserved: `_` names are the platform's",
    }


def test_a_measure_is_one_function_of_one_column(tmp_path: Path) -> None:
    attributes = dict(CHAIN, grain=["store"], measures={"n": "count(rental_id)"})
    [(field, reason)] = _problems(tmp_path, attributes)
    assert field == "attributes.measures.n"
    assert "count() takes no column" in reason


def test_report_types_are_checked_at_load(tmp_path: Path) -> None:
    attributes = dict(CHAIN, grain=["store"], measures={"t": "sum(title)"}, partition_by="amount")
    assert dict(_type_problems(tmp_path, attributes)) == {
        "attributes.measures.t": "sum() needs a number (int, float or decimal); 'title' is String",
        "attributes.partition_by": "'amount' is Decimal(precision=5, scale=2), not a date or "
        "timestamp",
    }


def test_a_report_needs_grain_and_measures(tmp_path: Path) -> None:
    problems = dict(_problems(tmp_path, dict(CHAIN, grain=["store"], across_shards=True)))
    assert problems == {"attributes.measures": "a report needs both grain and measures"}
