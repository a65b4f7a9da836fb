"""A period lookup's columns are checked when definitions load, each problem named by field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from etl_platform.specs.errors import SpecErrors
from etl_platform.specs.source_schema import SourceSchema
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.view_loader import VIEW_COMPONENT_TYPE, load_views

SOURCES = SourcesSpec.model_validate(
    {
        "start": "2024-01-01",
        "shards": {"s0": {"url_env": "SHARD_URL"}},
        "tables": {
            "salaries": {"primary_key": ["emp_no", "from_date"], "cursor": "from_date"},
            "dept_emp": {"primary_key": ["emp_no", "dept_no"], "exclude_columns": ["note"]},
        },
    }
)
SCHEMA = SourceSchema.model_validate(
    {
        "tables": {
            "salaries": {
                "emp_no": "int(11)",
                "salary": "int(11)",
                "from_date": "date",
                "to_date": "date",
                "paid_at": "datetime(6)",
            },
            "dept_emp": {
                "emp_no": "int(11)",
                "dept_no": "char(4)",
                "from_date": "date",
                "to_date": "date",
                "moved_at": "timestamp",
                "note": "date",
                "updated_at": "datetime",
            },
        }
    }
)
PERIOD = {"view": "from_date", "from": "from_date", "to": "to_date"}


def _view(period: dict, **columns: dict) -> dict:
    return {
        "name": "v",
        "source": "salaries",
        "columns": {
            "emp_no": {"from": "emp_no", "type": "int64"},
            "from_date": {"from": "from_date", "type": "date"},
            **columns,
        },
        "lookups": [
            {
                "table": "dept_emp",
                "on": {"emp_no": "emp_no"},
                "period": period,
                "columns": {"dept_no": "dept_no"},
            }
        ],
        "unique_key": ["emp_no", "from_date"],
    }


def _write(root: Path, attributes: dict) -> Path:
    folder = root / "v"
    folder.mkdir()
    path = folder / "defs.yaml"
    path.write_text(yaml.safe_dump({"type": VIEW_COMPONENT_TYPE, "attributes": attributes}))
    return path


def _problems(root: Path, attributes: dict) -> list[tuple[str, str, str]]:
    path = _write(root, attributes)
    with pytest.raises(SpecErrors) as info:
        load_views(root, SOURCES, SCHEMA)
    assert [e.path for e in info.value.errors] == [str(path)]
    return [(e.path, f, r) for e in info.value.errors for f, r in e.problems]


@pytest.mark.parametrize(
    "attributes",
    [
        _view(PERIOD),
        _view({"view": "from_date", "from": "from_date"}),
        _view({"view": "to_date", "from": "moved_at", "to": "to_date"}),  # an undeclared column
        _view({"view": "paid", "from": "from_date"}, paid={"from": "paid_at", "type": "timestamp"}),
        _view({"view": "paid_at", "from": "from_date", "to": "moved_at"}),
    ],
    ids=["from-to", "from-only", "source-column", "declared-timestamp", "datetime-timestamp"],
)
def test_a_good_period_loads(tmp_path: Path, attributes: dict) -> None:
    _write(tmp_path, attributes)
    [loaded] = load_views(tmp_path, SOURCES, SCHEMA)
    period = loaded.spec.lookups[0].period
    assert period is not None
    assert (period.view, period.from_, period.to) == (
        attributes["lookups"][0]["period"]["view"],
        attributes["lookups"][0]["period"]["from"],
        attributes["lookups"][0]["period"].get("to"),
    )


@pytest.mark.parametrize(
    ("attributes", "field", "reason"),
    [
        (
            _view({**PERIOD, "view": "nope"}),
            "attributes.lookups.0.period.view",
            "'nope' is neither a column of table 'salaries', a declared output column, nor a "
            "column an earlier lookup brings in",
        ),
        (
            _view({**PERIOD, "view": "salary"}),
            "attributes.lookups.0.period.view",
            "column 'salary' of table 'salaries' is int(11), not a DATE, DATETIME or TIMESTAMP",
        ),
        (
            _view({**PERIOD, "view": "pay"}, pay={"from": "salary", "type": "int64"}),
            "attributes.lookups.0.period.view",
            "column 'pay' is declared int64, not date or timestamp",
        ),
        (
            _view({**PERIOD, "from": "start"}),
            "attributes.lookups.0.period.from",
            "unknown column 'start' of table 'dept_emp'",
        ),
        (
            _view({**PERIOD, "from": "note"}),
            "attributes.lookups.0.period.from",
            "unknown column 'note' of table 'dept_emp'",
        ),
        (
            _view({**PERIOD, "from": "dept_no"}),
            "attributes.lookups.0.period.from",
            "column 'dept_no' of table 'dept_emp' is char(4), not a DATE, DATETIME or TIMESTAMP",
        ),
        (
            _view({**PERIOD, "to": "end"}),
            "attributes.lookups.0.period.to",
            "unknown column 'end' of table 'dept_emp'",
        ),
        (
            _view({**PERIOD, "to": "emp_no"}),
            "attributes.lookups.0.period.to",
            "column 'emp_no' of table 'dept_emp' is int(11), not a DATE, DATETIME or TIMESTAMP",
        ),
        (
            _view({**PERIOD, "to": "from_date"}),
            "attributes.lookups.0.period.to",
            "must differ from `from` ('from_date')",
        ),
        (
            _view({"view": "from_date", "to": "to_date"}),
            "attributes.lookups.0.period.from",
            "Field required",
        ),
        (
            _view({**PERIOD, "until": "to_date"}),
            "attributes.lookups.0.period.until",
            "unknown field",
        ),
    ],
    ids=[
        "unknown-view-column",
        "view-source-column-not-a-date",
        "view-declared-column-not-a-date",
        "unknown-from",
        "excluded-from",
        "from-not-a-date",
        "unknown-to",
        "to-not-a-date",
        "to-is-from",
        "no-from",
        "unknown-field",
    ],
)
def test_a_bad_period_names_the_file_field_and_reason(
    tmp_path: Path, attributes: dict, field: str, reason: str
) -> None:
    problems = _problems(tmp_path, attributes)
    assert [(f, r.split(" (check")[0]) for _, f, r in problems] == [(field, reason)], problems
