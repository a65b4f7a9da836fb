"""A table with `partitions: monthly` end to end against MariaDB: its raw asset is partitioned
by month (one step and one event per month), the lake still holds a file per day with rows,
the daily view built from it is exact, and a month read again empties a day whose rows left."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from etl_platform.automation.jobs import MONTHLY_EXTRACT_JOB
from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.runner import destinations_out_of_reach, run_days
from etl_platform.specs.loader import load_sources
from etl_platform_tests.conftest import project_definitions, run_sql

pytestmark = pytest.mark.integration

D = dt.date
FIRST, LAST = D(2024, 1, 10), D(2024, 3, 20)
SALARIES_KEY = dg.AssetKey(["raw", "shard_00", "salaries"])
VIEW_KEY = dg.AssetKey(["views", "salary_history"])

_TABLES = (
    """
    CREATE TABLE salaries (
      emp_no    INT  NOT NULL,
      salary    INT  NOT NULL,
      from_date DATE NOT NULL,
      PRIMARY KEY (emp_no, from_date),
      KEY idx_salaries_from_date (from_date)
    ) ENGINE=InnoDB
    """,
    """
    CREATE TABLE employees (
      emp_no     INT         NOT NULL PRIMARY KEY,
      last_name  VARCHAR(40) NOT NULL,
      updated_at DATETIME(6) NOT NULL,
      KEY idx_employees_updated_at (updated_at)
    ) ENGINE=InnoDB
    """,
)

#: A sparse history over three months: five days with rows out of 71.
SALARIES = [
    (1, 100, D(2024, 1, 10)),
    (2, 200, D(2024, 1, 31)),
    (1, 110, D(2024, 2, 15)),
    (3, 300, D(2024, 2, 15)),
    (2, 210, D(2024, 3, 20)),
]
EMPLOYEES = [
    (1, "Facello", dt.datetime(2024, 1, 10, 8)),
    (2, "Simmel", dt.datetime(2024, 1, 10, 9)),
    (3, "Bamford", dt.datetime(2024, 2, 1, 9)),
]

VIEW = {
    "name": "salary_history",
    "source": "salaries",
    "columns": {
        "emp_no": {"from": "emp_no", "type": "int64"},
        "from_date": {"from": "from_date", "type": "date"},
        "salary": {"from": "salary", "type": "int64"},
    },
    "lookups": [
        {"table": "employees", "on": {"emp_no": "emp_no"}, "columns": {"last_name": "last_name"}}
    ],
    "unique_key": ["emp_no", "from_date"],
}


#: A second shard with other days: on most days one shard has rows and the other none.
SALARIES_01 = [(7, 700, D(2024, 1, 11)), (7, 710, D(2024, 2, 15)), (8, 800, D(2024, 3, 2))]
EMPLOYEES_01 = [(7, "Peac", dt.datetime(2024, 1, 10, 8)), (8, "Piveteau", dt.datetime(2024, 1, 10))]


def _fill(db: MySqlEndpoint, salaries: list, employees: list) -> None:
    run_sql(db, *_TABLES)
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO salaries (emp_no, salary, from_date) VALUES (%s, %s, %s)", salaries
            )
            cur.executemany(
                "INSERT INTO employees (emp_no, last_name, updated_at) VALUES (%s, %s, %s)",
                employees,
            )
        conn.commit()
    finally:
        conn.close()


@pytest.fixture
def shard(scratch_db: MySqlEndpoint) -> MySqlEndpoint:
    _fill(scratch_db, SALARIES, EMPLOYEES)
    return scratch_db


@pytest.fixture
def other_shard(scratch_db: MySqlEndpoint) -> Iterator[MySqlEndpoint]:
    name = f"{scratch_db.database}_01"
    run_sql(scratch_db, f"DROP DATABASE IF EXISTS `{name}`", f"CREATE DATABASE `{name}`")
    db = scratch_db.with_database(name)
    _fill(db, SALARIES_01, EMPLOYEES_01)
    yield db
    run_sql(scratch_db, f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def defs(
    shard: MySqlEndpoint,
    other_shard: MySqlEndpoint,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dg.Definitions:
    return project_definitions(
        tmp_path,
        monkeypatch,
        f"start: {FIRST}\n"
        "extract: {batch_rows: 100, retry: {max_retries: 0, delay_seconds: 0}}\n"
        f"shards:\n  shard_00: {{url_env: ETL_TEST_SHARD_URL, database: {shard.database}}}\n"
        f"  shard_01: {{url_env: ETL_TEST_SHARD_URL, database: {other_shard.database}}}\n"
        "tables:\n"
        "  salaries: {primary_key: [emp_no, from_date], cursor: from_date, partitions: monthly}\n"
        "  employees: {primary_key: [emp_no]}\n",
        {"salary_history": VIEW},
    )


def _materializations(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict[str, int]:
    """Partition -> row count of the asset's latest materialization of each partition."""
    out = {}
    for record in instance.fetch_materializations(key, limit=10_000).records:
        mat = record.asset_materialization
        assert mat is not None and mat.partition is not None
        out.setdefault(mat.partition, mat.metadata["dagster/row_count"].value)
    return out


def _raw_days(lake: Path) -> list[str]:
    return sorted(
        p.name.removeprefix("updated_at=")
        for p in (lake / "raw" / "shard_00" / "salaries").glob("updated_at=*")
        if any(p.glob("*.parquet"))
    )


def test_the_definitions_put_a_monthly_table_in_a_job_of_its_own(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    assert isinstance(graph.get(SALARIES_KEY).partitions_def, dg.MonthlyPartitionsDefinition)
    assert isinstance(graph.get(VIEW_KEY).partitions_def, dg.DailyPartitionsDefinition)
    # A backfill reads a year of a monthly table a run (31 days a run would be one month).
    assert graph.get(SALARIES_KEY).backfill_policy.max_partitions_per_run == 12
    monthly = defs.resolve_job_def(MONTHLY_EXTRACT_JOB).asset_layer.executable_asset_keys
    assert monthly == {SALARIES_KEY, dg.AssetKey(["raw", "shard_01", "salaries"])}
    for job in ("extract_raw", "etl_all", "build_views"):
        assert SALARIES_KEY not in defs.resolve_job_def(job).asset_layer.executable_asset_keys
    # A view's day reads the month that holds it.
    day, month = graph.get(VIEW_KEY).partitions_def, graph.get(SALARIES_KEY).partitions_def
    mapped = graph.get_partition_mapping(VIEW_KEY, SALARIES_KEY)
    upstream = mapped.get_upstream_mapped_partitions_result_for_partitions(
        day.subset_with_partition_keys(["2024-02-15"]), day, month
    )
    assert list(upstream.partitions_subset.get_partition_keys()) == ["2024-02-01"]


def test_a_history_run_reads_months_and_builds_exact_days(
    defs: dg.Definitions, shard: MySqlEndpoint, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    with dg.instance_for_test() as instance:
        # As `etl-platform run` does here: the athena destination is out of reach.
        keys = defs.resolve_job_def("etl_all").asset_layer.executable_asset_keys
        selection = sorted(set(keys) - set(destinations_out_of_reach(defs, "etl_all")))
        runs = run_days(defs, "etl_all", FIRST, LAST, instance=instance, asset_selection=selection)
        assert [run.job_name for run in runs] == [MONTHLY_EXTRACT_JOB, "etl_all"]
        assert all(run.success for run in runs), [
            o.error for run in runs for o in run.outcomes if o.error
        ]
        # One event per month, each with its month's rows; the days of the view stay daily.
        assert _materializations(instance, SALARIES_KEY) == {
            "2024-01-01": 2,
            "2024-02-01": 2,
            "2024-03-01": 1,
        }
        view_days = _materializations(instance, VIEW_KEY)
        assert len(view_days) == (LAST - FIRST).days + 1
        assert sum(view_days.values()) == len(SALARIES) + len(SALARIES_01)
        salaries_run = runs[0]
        (outcome,) = [o for o in salaries_run.outcomes if o.key == "raw/shard_00/salaries"]
        assert outcome.rows == len(SALARIES)
        assert salaries_run.partitions == ("2024-01-01", "2024-03-01")

        # A file per day with rows, none for the 66 empty days.
        assert _raw_days(lake) == ["2024-01-10", "2024-01-31", "2024-02-15", "2024-03-20"]
        rows = pl.read_parquet(lake / "views" / "salary_history" / "*" / "*.parquet")
        got = {(r["emp_no"], r["from_date"]): r["last_name"] for r in rows.to_dicts()}
        assert got == {
            (1, D(2024, 1, 10)): "Facello",
            (2, D(2024, 1, 31)): "Simmel",
            (1, D(2024, 2, 15)): "Facello",
            (3, D(2024, 2, 15)): "Bamford",
            (2, D(2024, 3, 20)): "Simmel",
            (7, D(2024, 1, 11)): "Peac",
            (7, D(2024, 2, 15)): "Peac",
            (8, D(2024, 3, 2)): "Piveteau",
        }

        # Rows leave the source: February read again empties its day, atomically, and the
        # month's event says so.
        run_sql(shard, "DELETE FROM salaries WHERE from_date = '2024-02-15'")
        # Days in the middle of a month name their month (Dagster would round them up).
        again = run_days(
            defs, MONTHLY_EXTRACT_JOB, D(2024, 2, 15), D(2024, 2, 20), instance=instance
        )
        assert [(run.success, run.partitions) for run in again] == [
            (True, ("2024-02-01", "2024-02-01"))
        ]
        assert _materializations(instance, SALARIES_KEY)["2024-02-01"] == 0
        assert _raw_days(lake) == ["2024-01-10", "2024-01-31", "2024-03-20"]


def _lake_tables(root: Path, dataset: str) -> pl.DataFrame:
    files = sorted((root / dataset).glob("*/*.parquet"))
    frames = [pl.read_parquet(f).with_columns(pl.lit(f.parent.name).alias("_dir")) for f in files]
    if not frames:
        return pl.DataFrame()
    rows = pl.concat(frames, how="diagonal_relaxed").drop("_run_id", strict=False)
    return rows.sort(rows.columns)


def test_empty_shard_days_shape_as_if_each_were_shaped(
    defs: dg.Definitions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shard's day without rows is shaped once per run and handed out again: the days, their
    counts and the files are those of shaping every shard-day (on days where one shard has rows
    and the other none, in either order)."""
    from etl_platform.load.lake import Lake
    from etl_platform.specs.loader import load_source_schema
    from etl_platform.specs.source_schema import schema_path_for
    from etl_platform.specs.view_loader import load_views
    from etl_platform.steps import view_days

    lake = tmp_path / "lake"
    with dg.instance_for_test() as instance:
        extract = run_days(defs, "extract_raw", FIRST, LAST, instance=instance)
        assert all(run.success for run in extract)
        states = run_days(
            defs,
            "build_views",
            FIRST,
            LAST,
            instance=instance,
            asset_selection=[
                k for k in defs.resolve_asset_graph().get_all_asset_keys() if k.path[0] == "state"
            ],
        )
        assert all(run.success for run in states)
    sources_file = tmp_path / "sources.yaml"
    sources = load_sources(sources_file)
    (loaded,) = load_views(
        tmp_path / "views", sources, load_source_schema(schema_path_for(sources_file))
    )
    days = [FIRST + dt.timedelta(days=i) for i in range((LAST - FIRST).days + 1)]
    windows = {}
    for name, cached in (("cached", True), ("each", False)):
        root = tmp_path / name
        shutil.copytree(lake, root)
        if not cached:
            monkeypatch.setattr(view_days.EmptyShardDays, "_known", lambda self, shard: None)
        inputs = view_days.ViewInputs(loaded.spec, sources, Lake(root), "run")
        windows[name] = view_days.build_view_days(inputs, days)
        if cached:  # both shards had empty days to hand out again
            assert sorted(inputs.empty_days._shaped) == ["shard_00", "shard_01"]
    cached, each = windows["cached"], windows["each"]
    assert cached.stats == each.stats
    for day in days:
        a, b = cached.days[day], each.days[day]
        assert (a.stats, a.duplicate_keys, a.null_keys, a.missing) == (
            b.stats,
            b.duplicate_keys,
            b.null_keys,
            b.missing,
        ), day
        assert a.preview is not None and b.preview is not None
        assert a.preview.schema == b.preview.schema, day
    for dataset in ("views/salary_history", "views/salary_history__rejects"):
        assert _lake_tables(tmp_path / "cached", dataset).equals(
            _lake_tables(tmp_path / "each", dataset)
        ), dataset
        assert sorted(
            p.relative_to(tmp_path / "cached")
            for p in (tmp_path / "cached" / dataset).rglob("*")
            if p.suffix != ".parquet"
        ) == sorted(
            p.relative_to(tmp_path / "each")
            for p in (tmp_path / "each" / dataset).rglob("*")
            if p.suffix != ".parquet"
        )
    assert sum(s.rows_out for s in cached.stats.values()) == len(SALARIES) + len(SALARIES_01)
