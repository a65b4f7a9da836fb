"""Period lookups: the related row whose period holds a date of the view row, one at most."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.views import PeriodSpec, ViewSpec
from etl_platform.steps.lookup_versions import state_columns
from etl_platform.steps.view_days import source_columns_needed
from etl_platform.transform.lookups import apply_lookup
from etl_platform.transform.view_shape import columns_kept, shape_shard

D = dt.date
WITH_TO = PeriodSpec.model_validate({"view": "at", "from": "from_date", "to": "to_date"})
NEXT_FROM = PeriodSpec.model_validate({"view": "at", "from": "from_date"})


def _dept_emp(rows: list[tuple]) -> pl.DataFrame:
    """(emp_no, dept_no, from_date, to_date) rows, in the state's shape: key first."""
    return pl.DataFrame(
        rows,
        schema={
            "emp_no": pl.Int64,
            "dept_no": pl.String,
            "from_date": pl.Date,
            "to_date": pl.Date,
        },
        orient="row",
    ).with_columns(updated_at=pl.lit(dt.datetime(2024, 1, 1, tzinfo=dt.UTC)))


def _lookup(
    view: pl.DataFrame, related: pl.DataFrame, period: PeriodSpec = WITH_TO
) -> tuple[list[str | None], int]:
    out, orphans = apply_lookup(
        view,
        related,
        on={"emp_no": "emp_no"},
        columns={"dept_no": "dept"},
        related_cursor="updated_at",
        period=period,
    )
    assert out.columns == [*view.columns, "dept"]
    assert out.drop("dept").equals(view)  # rows kept, in order, never multiplied
    return out["dept"].to_list(), orphans


def _view(rows: list[tuple], at: pl.DataType = pl.Date) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"emp_no": pl.Int64, "at": at}, orient="row")


TWO_PERIODS = _dept_emp(
    [
        (1, "d001", D(2024, 1, 1), D(2024, 3, 1)),
        (1, "d002", D(2024, 3, 1), D(2024, 6, 1)),
    ]
)


def test_the_period_is_half_open_from_included_to_excluded() -> None:
    view = _view(
        [
            (1, D(2023, 12, 31)),
            (1, D(2024, 1, 1)),
            (1, D(2024, 2, 29)),
            (1, D(2024, 3, 1)),
            (1, D(2024, 5, 31)),
            (1, D(2024, 6, 1)),
        ]
    )
    assert _lookup(view, TWO_PERIODS) == ([None, "d001", "d001", "d002", "d002", None], 2)


def test_a_null_to_never_ends() -> None:
    related = _dept_emp(
        [
            (1, "d001", D(2024, 1, 1), D(2024, 3, 1)),
            (1, "d002", D(2024, 3, 1), None),
        ]
    )
    view = _view([(1, D(2024, 3, 1)), (1, D(9999, 12, 31)), (1, D(2023, 1, 1))])
    assert _lookup(view, related) == (["d002", "d002", None], 1)


def test_a_null_from_holds_nothing() -> None:
    related = _dept_emp([(1, "d001", None, None)])
    assert _lookup(_view([(1, D(2024, 3, 1))]), related) == ([None], 1)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (
            [(1, "d001", D(2024, 1, 1), D(2025, 1, 1)), (1, "d002", D(2024, 2, 1), D(2024, 4, 1))],
            "d002",
        ),
        (
            [(1, "d001", D(2024, 2, 1), D(2024, 4, 1)), (1, "d002", D(2024, 2, 1), D(2024, 5, 1))],
            "d002",
        ),
        (
            [(1, "d001", D(2024, 2, 1), D(2025, 1, 1)), (1, "d002", D(2024, 2, 1), None)],
            "d002",
        ),
        (
            [(1, "d003", D(2024, 2, 1), D(2024, 5, 1)), (1, "d002", D(2024, 2, 1), D(2024, 5, 1))],
            "d002",
        ),
    ],
    ids=["latest-from", "same-from-latest-to", "same-from-null-to-is-latest", "then-key-asc"],
)
def test_overlapping_periods_are_decided_whatever_the_row_order(
    rows: list[tuple], expected: str
) -> None:
    view = _view([(1, D(2024, 3, 15))])
    for related in (_dept_emp(rows), _dept_emp(rows[::-1])):
        assert _lookup(view, related) == ([expected], 0)


def test_gaps_and_missing_related_rows_are_null_orphans() -> None:
    related = _dept_emp(
        [
            (1, "d001", D(2024, 1, 1), D(2024, 2, 1)),
            (1, "d002", D(2024, 3, 1), D(2024, 4, 1)),
        ]
    )
    view = _view([(1, D(2024, 1, 15)), (1, D(2024, 2, 15)), (7, D(2024, 1, 15))])
    assert _lookup(view, related) == (["d001", None, None], 2)


def test_a_null_date_or_key_looks_nothing_up_and_is_no_orphan() -> None:
    view = _view([(1, None), (None, D(2024, 1, 15)), (1, D(2024, 1, 15))])
    assert _lookup(view, TWO_PERIODS) == ([None, None, "d001"], 0)


def test_equal_keys_and_dates_all_get_their_period() -> None:
    view = _view([(1, D(2024, 3, 2)), (1, D(2024, 1, 2)), (1, D(2024, 3, 2))])
    assert _lookup(view, TWO_PERIODS) == (["d002", "d001", "d002"], 0)


def test_a_datetime_view_column_against_date_bounds_takes_the_dates_as_midnight() -> None:
    utc = pl.Datetime("us", "UTC")
    view = _view(
        [
            (1, dt.datetime(2024, 2, 29, 23, 59, 59, tzinfo=dt.UTC)),
            (1, dt.datetime(2024, 3, 1, 0, 0, tzinfo=dt.UTC)),
            (1, dt.datetime(2024, 6, 1, 0, 0, 0, 1, tzinfo=dt.UTC)),
        ],
        at=utc,
    )
    assert _lookup(view, TWO_PERIODS) == (["d001", "d002", None], 1)


def test_a_date_view_column_against_datetime_bounds_is_its_midnight() -> None:
    related = _dept_emp([(1, "d001", None, None)]).with_columns(
        from_date=pl.lit(dt.datetime(2024, 3, 1, 12, 0), dtype=pl.Datetime("ms")),
        to_date=pl.lit(dt.datetime(2024, 3, 5, 0, 0), dtype=pl.Datetime("us", "UTC")),
    )
    view = _view([(1, D(2024, 3, 1)), (1, D(2024, 3, 2)), (1, D(2024, 3, 5))])
    assert _lookup(view, related) == ([None, "d001", None], 2)


def test_a_text_column_is_refused_not_compared() -> None:
    view = _view([(1, D(2024, 3, 1))]).with_columns(pl.col("at").cast(pl.String))
    with pytest.raises(ValueError, match="column `at` is String, not a date or datetime"):
        _lookup(view, TWO_PERIODS)


def test_without_to_a_period_runs_until_the_next_from_of_the_same_key() -> None:
    related = _dept_emp(
        [
            (1, "d003", D(2024, 3, 1), None),
            (2, "d009", D(2024, 2, 1), None),
            (1, "d001", D(2024, 1, 1), D(2024, 1, 2)),  # `to` is not read
            (1, "d004", D(2024, 3, 1), None),  # same `from` as d003: the lowest key wins
        ]
    )
    view = _view(
        [
            (1, D(2023, 12, 31)),
            (1, D(2024, 1, 1)),
            (1, D(2024, 2, 29)),
            (1, D(2024, 3, 1)),
            (2, D(2024, 2, 29)),
            (2, D(2024, 1, 31)),
            (1, None),
        ]
    )
    depts, orphans = _lookup(view, related, NEXT_FROM)
    assert (depts, orphans) == ([None, "d001", "d001", "d003", "d009", None, None], 2)
    assert _lookup(view, related.reverse(), NEXT_FROM) == (depts, orphans)


def test_plain_lookups_ignore_periods() -> None:
    related = _dept_emp([(1, "d001", D(2024, 1, 1), D(2024, 3, 1))])
    out, orphans = apply_lookup(
        _view([(1, D(2030, 1, 1))]),
        related,
        on={"emp_no": "emp_no"},
        columns={"dept_no": "dept"},
        related_cursor="updated_at",
    )
    assert (out["dept"].to_list(), orphans) == (["d001"], 0)


SALARY_HISTORY = ViewSpec.model_validate(
    {
        "name": "salary_history",
        "source": "salaries",
        "columns": {
            "emp": {"from": "emp_no", "type": "int64"},
            "salary": {"from": "salary", "type": "int64"},
        },
        "lookups": [
            {
                "table": "dept_emp",
                "on": {"emp_no": "emp_no"},
                "period": {"view": "from_date", "from": "from_date", "to": "to_date"},
                "columns": {"dept_no": "dept_no"},
            }
        ],
        "unique_key": ["emp", "salary"],
    }
)
SOURCES = SourcesSpec.model_validate(
    {
        "start": "2024-01-01",
        "shards": {"s0": {"url_env": "SHARD_URL"}},
        "tables": {
            "salaries": {"primary_key": ["emp_no", "from_date"], "cursor": "from_date"},
            "dept_emp": {"primary_key": ["emp_no", "dept_no"]},
        },
    }
)


def test_the_state_keeps_the_bounds_and_the_view_reads_its_date() -> None:
    assert state_columns("dept_emp", [SALARY_HISTORY], SOURCES) == [
        "emp_no", "dept_no", "updated_at", "from_date", "to_date",
    ]  # fmt: skip
    assert source_columns_needed(SALARY_HISTORY, SOURCES) == [
        "emp_no", "from_date", "salary",
    ]  # fmt: skip
    assert columns_kept(SALARY_HISTORY, ["emp_no", "from_date"]) == [
        "emp", "salary", "emp_no", "from_date", "_shard", "_updated_at",
    ]  # fmt: skip


def test_a_view_day_looks_up_periods_by_an_undeclared_source_date() -> None:
    salaries = pl.DataFrame(
        {
            "emp_no": [1, 1, 1, 2],
            "salary": [100, 110, 120, 200],
            "from_date": [D(2024, 2, 29), D(2024, 3, 1), D(2024, 6, 1), D(2024, 3, 1)],
        }
    )
    shaped = shape_shard(
        SALARY_HISTORY,
        salaries,
        shard="s0",
        primary_key=["emp_no", "from_date"],
        cursor="from_date",
        related={"dept_emp": TWO_PERIODS},
        related_cursors={"dept_emp": "updated_at"},
        run_id="r1",
    )
    assert shaped.rows.select("emp", "salary", "dept_no").rows() == [
        (1, 100, "d001"),
        (1, 110, "d002"),
        (1, 120, None),
        (2, 200, None),
    ]
    assert shaped.stats.orphans == {"dept_emp": 2}
    assert shaped.rows.columns == ["emp", "salary", "dept_no", "_shard", "_updated_at", "_run_id"]
