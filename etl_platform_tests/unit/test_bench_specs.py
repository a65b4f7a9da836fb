"""The employees bench's sources and views load as the platform loads them: a bench whose
specs rot fails here, not an hour into a measurement."""

from pathlib import Path

from etl_platform.specs.loader import load_checked_sources, load_source_schema
from etl_platform.specs.view_loader import load_views

BENCH = Path(__file__).resolve().parents[2] / "bench" / "employees"


def test_the_employees_bench_specs_load() -> None:
    sources = load_checked_sources(BENCH / "sources.yaml")
    assert sources.tables["departments"].is_snapshot
    schema = load_source_schema(BENCH / "sources.schema.yaml")
    views = {v.spec.name: v.spec for v in load_views(BENCH / "views", sources, schema)}
    assert set(views) == {"salary_history", "dept_history"}
    period = views["salary_history"].lookups[1].period
    assert period is not None and (period.view, period.from_, period.to) == (
        "from_date",
        "from_date",
        "to_date",
    )
