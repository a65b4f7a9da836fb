"""The live columns against the schema snapshot: added, dropped, retyped; and where the
extractor finds the snapshot."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl_platform.extract.drift import SchemaDrift, compare_columns, normalized_type, not_compared
from etl_platform.extract.schema_snapshot import snapshot_columns
from etl_platform.specs.sources import TableSpec

SNAPSHOT = {
    "id": "bigint(20) unsigned",
    "amount": "decimal(12,2)",
    "code": "varchar(16)",
    "coupon": "varchar(32)",
    "blob_col": "blob",
    "updated_at": "datetime(6)",
}


def test_added_dropped_and_retyped_columns_are_told_apart() -> None:
    live = {
        "id": "bigint(20) unsigned",
        "amount": "decimal(14,4)",
        "code": "varchar(16)",
        "updated_at": "datetime(6)",
        "note": "varchar(64)",
    }
    drift = compare_columns(SNAPSHOT, live, exclude=["blob_col"])
    assert drift == SchemaDrift(
        added={"note": "varchar(64)"},
        dropped={"coupon": "varchar(32)"},
        changed={"amount": ("decimal(12,2)", "decimal(14,4)")},
    )
    assert drift.changes() == [
        "note added (varchar(64))",
        "coupon dropped (was varchar(32))",
        "amount changed from decimal(12,2) to decimal(14,4)",
    ]
    assert drift.as_json() == {
        "compared": True,
        "added": {"note": "varchar(64)"},
        "dropped": {"coupon": "varchar(32)"},
        "changed": {"amount": {"snapshot": "decimal(12,2)", "live": "decimal(14,4)"}},
    }


def test_the_same_columns_are_no_drift_and_excluded_columns_never_drift() -> None:
    live = {n: t for n, t in SNAPSHOT.items() if n != "blob_col"} | {"geo": "point"}
    drift = compare_columns(SNAPSHOT, live, exclude=("blob_col", "geo"))
    assert not drift and drift.changes() == []
    assert drift.as_json() == {"compared": True, "added": {}, "dropped": {}, "changed": {}}
    assert not_compared("no snapshot") == {"compared": False, "reason": "no snapshot"}


@pytest.mark.parametrize(
    ("snapshot", "live", "same"),
    [
        ("int(11)", "int", True),  # MariaDB prints a display width, MySQL 8 does not
        ("bigint(20) unsigned", "BIGINT UNSIGNED", True),
        ("year(4)", "year", True),
        ("tinyint(1)", "tinyint", False),  # a boolean to the extractor, not a number
        ("tinyint(4)", "tinyint", True),
        ("decimal(12,2)", "decimal(14,4)", False),
        ("varchar(16)", "varchar(64)", False),
        ("enum('a','b')", "enum('a','b','c')", False),
    ],
)
def test_only_meaningless_differences_in_the_type_text_are_ignored(
    snapshot: str, live: str, same: bool
) -> None:
    assert (normalized_type(snapshot) == normalized_type(live)) is same
    assert bool(compare_columns({"c": snapshot}, {"c": live})) is not same


def test_the_snapshot_is_read_when_it_exists_and_says_why_not_otherwise(tmp_path: Path) -> None:
    path = tmp_path / "sources.schema.yaml"
    assert snapshot_columns(path, "orders") == (None, f"no schema snapshot at {path}")
    path.write_text("tables:\n  orders:\n    id: 'bigint(20)'\n    amount: 'decimal(12,2)'\n")
    assert snapshot_columns(path, "orders") == ({"id": "bigint(20)", "amount": "decimal(12,2)"}, "")
    assert snapshot_columns(path, "customers") == (
        None,
        f"table customers is not in the schema snapshot {path}",
    )
    path.write_text("tables:\n  orders:\n    id: 'bigint(20)'\n    note: 'text'\n")
    assert snapshot_columns(path, "orders")[0] == {"id": "bigint(20)", "note": "text"}


def test_on_schema_change_is_evolve_by_default_and_only_evolve_or_fail() -> None:
    assert TableSpec(primary_key=["id"]).on_schema_change == "evolve"
    assert TableSpec(primary_key=["id"], on_schema_change="fail").on_schema_change == "fail"
    with pytest.raises(ValueError, match="evolve"):
        TableSpec(primary_key=["id"], on_schema_change="ignore")
