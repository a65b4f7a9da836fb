"""A period lookup end to end against MariaDB: each salary gets the department whose period
(`from_date <= salary.from_date < to_date`) holds it, as `dept_emp` stood at the end of the
salary's day, through extraction, lookup state and the view, run by Dagster."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.runner import extract_lookup_history, run_range
from etl_platform_tests.conftest import project_definitions, run_sql

pytestmark = pytest.mark.integration

D = dt.date
FIRST, LAST = D(2024, 3, 1), D(2024, 3, 5)
SEEN = dt.datetime(2024, 2, 28, 10, 0)

_TABLES = (
    """
    CREATE TABLE salaries (
      emp_no    INT          NOT NULL,
      salary    INT          NOT NULL,
      from_date DATE         NOT NULL,
      to_date   DATE         NOT NULL,
      PRIMARY KEY (emp_no, from_date),
      KEY idx_salaries_from_date (from_date)
    ) ENGINE=InnoDB
    """,
    """
    CREATE TABLE dept_emp (
      emp_no     INT         NOT NULL,
      dept_no    CHAR(4)     NOT NULL,
      from_date  DATE        NOT NULL,
      to_date    DATE        NULL,
      updated_at DATETIME(6) NOT NULL,
      PRIMARY KEY (emp_no, dept_no),
      KEY idx_dept_emp_updated_at (updated_at)
    ) ENGINE=InnoDB
    """,
)

#: (emp_no, dept_no, from_date, to_date, updated_at): several periods per employee.
DEPT_EMP = [
    (10001, "d001", D(2024, 1, 1), D(2024, 3, 3), SEEN),
    (10001, "d002", D(2024, 3, 3), D(9999, 1, 1), SEEN),
    (10002, "d003", D(2024, 1, 1), D(2024, 3, 2), SEEN),  # then a gap until 03-04
    (10002, "d004", D(2024, 3, 4), None, SEEN),  # open-ended
    (10003, "d005", D(2024, 1, 1), D(2024, 12, 31), SEEN),
    (10003, "d006", D(2024, 3, 2), D(2024, 3, 4), SEEN),  # overlaps d005: the later from wins
    (10005, "d007", D(2024, 2, 1), D(2024, 4, 1), SEEN),
    (10005, "d009", D(2024, 2, 1), D(2024, 5, 1), SEEN),  # same from: the later to wins...
    (10005, "d008", D(2024, 2, 1), D(2024, 5, 1), SEEN),  # ...and on a tie, the lower key
    (10006, "d010", D(2024, 1, 1), None, dt.datetime(2024, 3, 3, 12, 0)),  # seen on 03-03
]

#: (emp_no, from_date, salary) -> the department the view must find; 10004 has no dept_emp.
EXPECTED = {
    (10001, D(2024, 3, 1), 100): "d001",
    (10001, D(2024, 3, 3), 101): "d002",  # d001 ends on 03-03: excluded
    (10001, D(2024, 3, 5), 102): "d002",
    (10002, D(2024, 3, 1), 200): "d003",
    (10002, D(2024, 3, 2), 201): None,  # the gap: an orphan
    (10002, D(2024, 3, 4), 202): "d004",
    (10003, D(2024, 3, 1), 300): "d005",
    (10003, D(2024, 3, 2), 301): "d006",
    (10003, D(2024, 3, 4), 302): "d005",
    (10004, D(2024, 3, 3), 400): None,  # no department at all: an orphan
    (10005, D(2024, 3, 2), 500): "d008",
    (10006, D(2024, 3, 2), 600): None,  # d010 was not in the lake as of 03-02: an orphan
    (10006, D(2024, 3, 4), 601): "d010",
}
ORPHANS = {FIRST: 0, D(2024, 3, 2): 2, D(2024, 3, 3): 1, D(2024, 3, 4): 0, LAST: 0}

VIEW = {
    "name": "salary_history",
    "source": "salaries",
    "columns": {
        "emp_no": {"from": "emp_no", "type": "int64"},
        "from_date": {"from": "from_date", "type": "date"},
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
    "unique_key": ["emp_no", "from_date"],
}


@pytest.fixture
def employees(scratch_db: MySqlEndpoint) -> MySqlEndpoint:
    run_sql(scratch_db, *_TABLES)
    conn = scratch_db.connect()
    try:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO dept_emp (emp_no, dept_no, from_date, to_date, updated_at) "
                "VALUES (%s, %s, %s, %s, %s)",
                DEPT_EMP,
            )
            cur.executemany(
                "INSERT INTO salaries (emp_no, from_date, salary, to_date) VALUES (%s, %s, %s, %s)",
                [(e, f, s, D(9999, 1, 1)) for e, f, s in EXPECTED],
            )
        conn.commit()
    finally:
        conn.close()
    return scratch_db


@pytest.fixture
def defs(
    employees: MySqlEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dg.Definitions:
    return project_definitions(
        tmp_path,
        monkeypatch,
        "start: 2024-02-28\n"
        "extract: {batch_rows: 100, retry: {max_retries: 0, delay_seconds: 0}}\n"
        f"shards:\n  shard_00: {{url_env: ETL_TEST_SHARD_URL, database: {employees.database}}}\n"
        "tables:\n"
        "  salaries: {primary_key: [emp_no, from_date], cursor: from_date}\n"
        "  dept_emp: {primary_key: [emp_no, dept_no]}\n",
        {"salary_history": VIEW},
    )


def _orphans_by_day(instance: dg.DagsterInstance, run_id: str) -> dict[dt.date, dict]:
    out = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        mat = record.dagster_event.event_specific_data.materialization
        if mat.asset_key == dg.AssetKey(["views", "salary_history"]):
            out[D.fromisoformat(mat.partition)] = mat.metadata["orphans"].value
    return out


def test_each_salary_gets_the_department_whose_period_holds_it(
    defs: dg.Definitions, employees: MySqlEndpoint, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    with dg.instance_for_test() as instance:
        history = extract_lookup_history(defs, FIRST, instance=instance)
        assert history is not None and history.success
        extracted = run_range(defs, "extract_raw", FIRST, LAST, instance=instance)
        assert extracted.success, [o.error for o in extracted.outcomes if o.error]
        built = run_range(defs, "build_views", FIRST, LAST, instance=instance)
        assert built.success, [o.error for o in built.outcomes if o.error]
        assert _orphans_by_day(instance, built.run_id) == {
            day: {"dept_emp": n} for day, n in ORPHANS.items()
        }

    state = pl.read_parquet(lake / "state" / "shard_00" / "dept_emp" / "versions.parquet")
    assert {"from_date", "to_date", "dept_no"} <= set(state.columns)
    rows = pl.concat(
        pl.read_parquet(lake / "views" / "salary_history" / f"updated_at={day}" / "*.parquet")
        for day in ORPHANS
    )
    got = {
        (r["emp_no"], r["from_date"], r["salary"]): r["dept_no"]
        for r in rows.select("emp_no", "from_date", "salary", "dept_no").to_dicts()
    }
    assert got == EXPECTED
    assert rows.height == len(EXPECTED)
    expected_sql = {
        (e, f, s): d
        for e, f, s, d in run_sql(
            employees,
            "SELECT s.emp_no, s.from_date, s.salary, ("
            "  SELECT de.dept_no FROM dept_emp de WHERE de.emp_no = s.emp_no"
            "  AND de.updated_at < s.from_date + INTERVAL 1 DAY"
            "  AND de.from_date <= s.from_date AND (de.to_date IS NULL OR s.from_date < de.to_date)"
            "  ORDER BY de.from_date DESC, de.to_date IS NULL DESC, de.to_date DESC, de.dept_no"
            "  LIMIT 1) FROM salaries s",
        )
    }
    assert got == expected_sql
