"""Report views: `aggregate` against DuckDB's own GROUP BY on random data, its SQL edge cases
(NULLs, exact decimals, overflow), the check's comparison, the report file and the asset."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import random
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from dagster_duckdb import DuckDBResource

from etl_platform.asset_keys import current_asset_key, report_asset_key
from etl_platform.automation.conditions import WHOLE_REFRESH
from etl_platform.components.report import (
    CHECK,
    build_report_assets,
    detail_report,
    report_check_result,
)
from etl_platform.env import DEFAULTS_DIR
from etl_platform.layout import partition_folder
from etl_platform.load import replaced_file, report_file
from etl_platform.load.current_rows import current_path
from etl_platform.load.lake import Lake
from etl_platform.resources import LakeResource
from etl_platform.specs.loader import load_sources
from etl_platform.specs.views import ViewSpec
from etl_platform.transform.report import (
    ReportOverflow,
    aggregate,
    avg_scale,
    compare,
    detail_sql,
    group_columns,
    report_schema,
)

UTC = dt.UTC
PRICE = pl.Decimal(12, 2)
BIG = pl.Decimal(38, 4)

MEASURES = {
    "n": "count()",
    "buyers": "count_distinct(qty)",
    "revenue": "sum(price)",
    "avg_price": "avg(price)",
    "units": "sum(qty)",
    "avg_qty": "avg(qty)",
    "score_sum": "sum(score)",
    "score_avg": "avg(score)",
    "cheapest": "min(price)",
    "dearest": "max(price)",
    "first_seen": "min(seen)",
    "last_name": "max(name)",
    "u_sum": "sum(u)",
    "f32_sum": "sum(f32)",
    "f32_max": "max(f32)",
    "big_sum": "sum(big)",
    "big_avg": "avg(big)",
}
#: Each measure as DuckDB writes it.
DUCK = {
    "n": "count(*)",
    "buyers": "count(DISTINCT qty)",
    "revenue": "sum(price)",
    "avg_price": "avg(price)",
    "units": "sum(qty)",
    "avg_qty": "avg(qty)",
    "score_sum": "sum(score)",
    "score_avg": "avg(score)",
    "cheapest": "min(price)",
    "dearest": "max(price)",
    "first_seen": "min(seen)",
    "last_name": "max(name)",
    "u_sum": "sum(u)",
    "f32_sum": "sum(f32)",
    "f32_max": "max(f32)",
    "big_sum": "sum(big)",
    "big_avg": "avg(big)",
}
FLOATS = {"avg_qty", "score_sum", "score_avg", "f32_sum"}
DECIMAL_AVGS = {"avg_price": ("revenue", 6), "big_avg": ("big_sum", 4)}


def _spec(grain: list[str], measures: dict[str, str], *, across: bool = False) -> ViewSpec:
    return ViewSpec.model_validate(
        {
            "name": "sales",
            "source": "orders",
            "columns": {"order_id": {"from": "id", "type": "int64"}},
            "unique_key": ["order_id"],
            "grain": grain,
            "measures": measures,
            "across_shards": across,
        }
    )


def _maybe(rng: random.Random, value: object, nulls: float = 0.2) -> object:
    return None if rng.random() < nulls else value


def _rows(seed: int, n: int) -> pl.DataFrame:
    """Random current rows: shards, a text and a date grain with NULLs, measures of every type
    with NULLs, and a group (`zz`) whose measure columns are all NULL."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        region = rng.choice(["north", "south", "east", "Éire", None])
        rows.append(
            {
                "order_id": i,
                "_shard": rng.choice(["shard_00", "shard_01", "shard_02"]),
                "region": region,
                "day": _maybe(rng, dt.date(2024, 3, 1) + dt.timedelta(days=rng.randrange(3))),
                "qty": _maybe(rng, rng.randrange(-(10**6), 10**6)),
                "price": _maybe(rng, Decimal(rng.randrange(-(10**9), 10**9)).scaleb(-2)),
                "score": _maybe(rng, rng.uniform(-1e6, 1e6)),
                "seen": _maybe(
                    rng,
                    dt.datetime(2024, 3, 1, tzinfo=UTC)
                    + dt.timedelta(seconds=rng.randrange(10**6), microseconds=rng.randrange(10**6)),
                ),
                "name": _maybe(rng, rng.choice(["ada", "bo", "Zoë", "", "c|d"])),
                "u": _maybe(rng, rng.randrange(10**12)),
                "f32": _maybe(rng, rng.uniform(-100, 100)),
                "big": _maybe(rng, Decimal(rng.randrange(-(10**30), 10**30)).scaleb(-4)),
            }
        )
    for shard in ("shard_00", "shard_01"):
        rows.append({"order_id": n, "_shard": shard, "region": "zz", "day": None})
    return pl.DataFrame(
        rows,
        schema={
            "order_id": pl.Int64,
            "_shard": pl.String,
            "region": pl.String,
            "day": pl.Date,
            "qty": pl.Int64,
            "price": PRICE,
            "score": pl.Float64,
            "seen": pl.Datetime("us", "UTC"),
            "name": pl.String,
            "u": pl.UInt64,
            "f32": pl.Float32,
            "big": BIG,
        },
    )


def _duckdb_report(rows: pl.DataFrame, groups: list[str]) -> pl.DataFrame:
    keys = ", ".join(groups)
    measures = ", ".join(f"{sql} AS {name}" for name, sql in DUCK.items())
    with duckdb.connect() as con:
        con.register("current_rows", rows.to_arrow())
        table = con.sql(
            f"SELECT {keys}, {measures} FROM current_rows GROUP BY {keys} "
            f"ORDER BY {keys} NULLS LAST"
        ).to_arrow_table()
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _half_away(total: Decimal, count: int, scale: int) -> Decimal:
    with decimal.localcontext() as ctx:
        ctx.prec = 100
        return (total / count).quantize(Decimal(1).scaleb(-scale), decimal.ROUND_HALF_UP)


@pytest.mark.parametrize("across", [False, True])
@pytest.mark.parametrize(("seed", "n"), [(1, 0), (2, 1), (3, 40), (4, 500), (5, 2_000)])
def test_aggregate_matches_duckdbs_group_by(seed: int, n: int, across: bool) -> None:
    spec = _spec(["region", "day"], MEASURES, across=across)
    rows = _rows(seed, n).sample(fraction=1.0, shuffle=True, seed=seed)
    ours = aggregate(rows, spec)
    groups = group_columns(spec)
    theirs = _duckdb_report(rows, groups)
    assert ours.columns == [*groups, *MEASURES]
    # Same groups in the same order: the grain's NULL is a group, sorted last.
    assert ours.select(groups).to_dicts() == theirs.select(groups).to_dicts()
    all_null = ours.filter(pl.col("region") == "zz")
    assert all_null.height == (1 if across else 2)
    assert all_null["revenue"].to_list() == [None] * all_null.height
    for name in MEASURES:
        for mine, duck, row in zip(
            ours[name].to_list(), theirs[name].to_list(), theirs.to_dicts(), strict=True
        ):
            if name in FLOATS:
                assert (mine is None) == (duck is None), name
                if mine is not None:
                    assert math.isclose(mine, duck, rel_tol=1e-9, abs_tol=1e-6), name
            elif name in DECIMAL_AVGS:
                total, scale = DECIMAL_AVGS[name]
                if duck is None:
                    assert mine is None, name
                    continue
                # Exact, from DuckDB's exact sum and count; and as close to its double AVG as
                # half a unit of the last digit.
                column = "price" if name == "avg_price" else "big"
                values = rows.filter(_same_group(groups, row))[column].drop_nulls()
                assert mine == _half_away(row[total], values.len(), scale), name
                assert abs(float(mine) - duck) <= 0.5 * 10**-scale + 1e-15 * abs(duck), name
            else:
                assert mine == duck, name
    assert ours.schema["revenue"] == pl.Decimal(38, 2)
    assert ours.schema["avg_price"] == pl.Decimal(38, 6)
    assert ours.schema["big_avg"] == pl.Decimal(38, 4)  # p = 38: no room for more digits
    assert ours.schema["units"] == pl.Int64
    assert ours.schema["u_sum"] == pl.Int64
    assert ours.schema["cheapest"] == PRICE
    assert ours.schema["f32_sum"] == pl.Float64
    assert ours.schema["f32_max"] == pl.Float32
    assert ours.schema["first_seen"] == pl.Datetime("us", "UTC")


def _same_group(groups: list[str], row: dict) -> pl.Expr:
    return pl.all_horizontal(pl.col(g).eq_missing(pl.lit(row[g], dtype=None)) for g in groups)


def test_decimal_sums_are_exact_where_floats_drift() -> None:
    rows = pl.DataFrame(
        {"_shard": ["s"] * 1000, "g": ["a"] * 1000, "x": [Decimal("0.10")] * 1000},
        schema_overrides={"x": PRICE},
    )
    out = aggregate(rows, _spec(["g"], {"total": "sum(x)", "mean": "avg(x)"}))
    assert out["total"].to_list() == [Decimal("100.00")]
    assert out["mean"].to_list() == [Decimal("0.100000")]
    assert sum([0.10] * 1000) != 100.0  # what a float sum would have given


def test_a_group_with_only_nulls_sums_to_null_as_in_sql() -> None:
    rows = pl.DataFrame(
        {"_shard": ["s", "s"], "g": ["a", "a"], "x": [None, None], "i": [None, None]},
        schema={"_shard": pl.String, "g": pl.String, "x": PRICE, "i": pl.Int32},
    )
    spec = _spec(
        ["g"],
        {
            "n": "count()",
            "distinct": "count_distinct(x)",
            "total": "sum(x)",
            "mean": "avg(x)",
            "units": "sum(i)",
            "avg_units": "avg(i)",
            "low": "min(x)",
        },
    )
    assert aggregate(rows, spec).row(0, named=True) == {
        "_shard": "s",
        "g": "a",
        "n": 2,
        "distinct": 0,
        "total": None,
        "mean": None,
        "units": None,
        "avg_units": None,
        "low": None,
    }


def test_a_decimal_average_rounds_half_away_from_zero_at_scale_plus_four() -> None:
    # 0.05 / 32 = 0.0015625: a tie at 6 digits. Half to even would give 0.001562.
    values = [Decimal("0.05")] + [Decimal("0.00")] * 31
    rows = pl.DataFrame(
        {
            "_shard": ["s"] * 64,
            "g": ["up"] * 32 + ["down"] * 32,
            "x": values + [-v for v in values],
        },
        schema_overrides={"x": PRICE},
    )
    out = aggregate(rows, _spec(["g"], {"mean": "avg(x)"}))
    assert dict(zip(out["g"], out["mean"], strict=True)) == {
        "up": Decimal("0.001563"),
        "down": Decimal("-0.001563"),
    }
    assert avg_scale(pl.Decimal(12, 2)) == 6
    assert avg_scale(pl.Decimal(36, 10)) == 12
    assert avg_scale(pl.Decimal(38, 0)) == 0


def test_an_int_sum_beyond_int64_is_refused_not_wrapped() -> None:
    top = 2**63 - 1
    fits = pl.DataFrame({"_shard": ["s", "s"], "g": [1, 1], "x": [top - 5, 5]})
    spec = _spec(["g"], {"total": "sum(x)", "mean": "avg(x)"})
    assert aggregate(fits, spec)["total"].to_list() == [top]
    over = pl.DataFrame({"_shard": ["s", "s"], "g": [1, 1], "x": [top, 1]})
    with pytest.raises(ReportOverflow, match=r"total = sum\(x\) is beyond int64"):
        aggregate(over, spec)
    # Its average is computed from the exact sum.
    assert aggregate(over, _spec(["g"], {"mean": "avg(x)"}))["mean"].to_list() == [2.0**62]


def test_a_decimal_sum_beyond_38_digits_is_refused() -> None:
    big = Decimal("9" * 38)
    rows = pl.DataFrame(
        {"_shard": ["s", "s"], "g": [1, 1], "x": [big, big]},
        schema_overrides={"x": pl.Decimal(38, 0)},
    )
    with pytest.raises(ReportOverflow, match="decimal sum passed 38 digits"):
        aggregate(rows, _spec(["g"], {"total": "sum(x)"}))


def test_no_rows_give_a_typed_empty_report() -> None:
    spec = _spec(["region", "day"], MEASURES)
    empty = _rows(0, 0).clear()
    out = aggregate(empty, spec)
    assert out.height == 0
    assert out.schema == aggregate(_rows(7, 50), spec).schema
    assert report_schema(spec, empty.schema) == out.schema


def test_the_report_does_not_depend_on_row_order() -> None:
    """Exact measures are the same whatever the order; float sums may differ in their last
    bits (additions in another order), as in any SQL engine."""
    spec = _spec(["region", "day"], MEASURES, across=True)
    rows = _rows(11, 300)
    first = aggregate(rows, spec)
    exact = [c for c in first.columns if c not in FLOATS]
    for seed in range(3):
        again = aggregate(rows.sample(fraction=1.0, shuffle=True, seed=seed), spec)
        assert again.select(exact).equals(first.select(exact))
        for name in FLOATS:
            for a, b in zip(again[name], first[name], strict=True):
                assert a == b or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9), name


# The check's comparison.

SMALL = {"n": "count()", "total": "sum(price)", "mean": "avg(price)", "score": "sum(score)"}


def _detail_of(rows: pl.DataFrame, spec: ViewSpec) -> pl.DataFrame:
    """What `detail_sql` answers, computed by DuckDB over `rows` as one view day."""
    with duckdb.connect() as con:
        con.register("rows", rows.to_arrow())
        sql = detail_sql(spec).replace(
            "read_parquet($files, hive_partitioning = true, union_by_name = true)",
            "(SELECT *, DATE '2024-03-01' AS updated_at, TIMESTAMP '2024-03-01' AS "
            '"_updated_at" FROM rows)',
        )
        frame = pl.from_arrow(con.sql(sql).to_arrow_table())
    assert isinstance(frame, pl.DataFrame)
    return frame


def test_a_report_agrees_with_its_detail() -> None:
    spec = _spec(["region"], SMALL)
    rows = _rows(21, 400)
    diff = compare(aggregate(rows, spec), _detail_of(rows, spec), spec)
    assert diff.passed, diff
    assert diff.groups_compared == aggregate(rows, spec).height


def test_a_changed_measure_a_missing_and_an_extra_group_are_found() -> None:
    spec = _spec(["region"], SMALL)
    rows = _rows(22, 400)
    detail = _detail_of(rows, spec)
    report = aggregate(rows, spec)
    tampered = report.with_columns(
        total=pl.when(pl.col("region") == "north")
        .then(pl.col("total") + pl.lit(Decimal("0.01")))
        .otherwise(pl.col("total"))
    )
    tampered = tampered.filter(pl.col("region").ne_missing("south"))
    extra = tampered.head(1).with_columns(region=pl.lit("nowhere"))
    diff = compare(pl.concat([tampered, extra]), detail, spec)
    assert not diff.passed
    assert (diff.differing, diff.extra) == (3, 1)  # north on each of the three shards
    assert diff.missing == 3
    changed = [s for s in diff.sample if "measures" in s]
    assert {tuple(s["measures"]) for s in changed} == {("total",)}
    assert {s["group"]["region"] for s in changed} == {"north"}
    assert {s["only_in"] for s in diff.sample if "only_in" in s} == {"report", "detail"}


def test_floats_agree_within_a_share_of_their_magnitude() -> None:
    spec = _spec(["region"], {"score": "sum(score)"}, across=True)
    rows = _rows(23, 200)
    report, detail = aggregate(rows, spec), _detail_of(rows, spec)
    nudged = report.with_columns(score=pl.col("score") * (1 + 1e-12))
    assert compare(nudged, detail, spec).passed
    moved = report.with_columns(score=pl.col("score") + 1.0)
    assert compare(moved, detail, spec).differing == report["score"].count()  # NULL + 1: NULL


def test_a_decimal_average_must_be_right_to_its_last_digit() -> None:
    spec = _spec(["region"], {"mean": "avg(price)"}, across=True)
    rows = _rows(24, 200)
    report, detail = aggregate(rows, spec), _detail_of(rows, spec)
    assert compare(report, detail, spec).passed
    off = report.with_columns(mean=pl.col("mean") + pl.lit(Decimal("0.000001")))
    assert (
        compare(off, detail, spec).differing == report.filter(pl.col("mean").is_not_null()).height
    )


def test_a_view_without_files_wants_an_empty_report() -> None:
    spec = _spec(["region"], SMALL)
    report = aggregate(_rows(25, 10), spec)
    assert compare(report.clear(), None, spec).passed
    diff = compare(report, None, spec)
    assert not diff.passed and diff.extra == report.height


def test_a_report_with_other_columns_is_a_problem() -> None:
    spec = _spec(["region"], SMALL)
    report = aggregate(_rows(26, 10), spec).drop("mean")
    diff = compare(report, None, spec)
    assert not diff.passed and "not ['_shard', 'region', 'n', 'total', 'mean', 'score']" in (
        diff.problem or ""
    )


# The report file, the check over day files, and the asset.


def test_a_failed_write_leaves_the_previous_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = pl.DataFrame({"g": [1], "n": [1]})
    path = report_file.write_report(tmp_path, "sales", first)
    assert path == tmp_path / "reports" / "sales" / "report.parquet"

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(replaced_file, "swap_in", crash)
    with pytest.raises(OSError, match="disk full"):
        report_file.write_report(tmp_path, "sales", pl.DataFrame({"g": [2], "n": [2]}))
    assert report_file.read_report(tmp_path, "sales").equals(first)  # type: ignore[union-attr]
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.parquet"]
    assert report_file.read_report(tmp_path, "other") is None


VIEW_SCHEMA = {
    "order_id": pl.Int64,
    "region": pl.String,
    "price": PRICE,
    "_shard": pl.String,
    "_updated_at": pl.Datetime("us", "UTC"),
    "_run_id": pl.String,
}


def _view_day(lake: Path, day: dt.date, rows: list[tuple]) -> None:
    folder = lake / "views" / "sales" / partition_folder(day)
    folder.mkdir(parents=True)
    frame = pl.DataFrame(
        [
            (oid, region, price, shard, dt.datetime.combine(day, dt.time(h), UTC), "r")
            for oid, region, price, shard, h in rows
        ],
        schema=VIEW_SCHEMA,
        orient="row",
    )
    frame.write_parquet(folder / "part-0.parquet")


def _current(lake: Path, rows: pl.DataFrame) -> None:
    path = current_path(lake, "sales")
    path.parent.mkdir(parents=True, exist_ok=True)
    rows.write_parquet(path)


D1, D2 = dt.date(2024, 3, 1), dt.date(2024, 3, 2)
REPORT_SPEC = _spec(["region"], {"orders": "count()", "revenue": "sum(price)"})


def _two_days(lake: Path) -> pl.DataFrame:
    """Order 1 moves from north to south on day 2; order 1 on shard_01 is another order."""
    _view_day(
        lake,
        D1,
        [
            (1, "north", Decimal("10.00"), "shard_00", 9),
            (2, "north", Decimal("5.50"), "shard_00", 10),
            (1, "north", Decimal("7.00"), "shard_01", 11),
        ],
    )
    _view_day(lake, D2, [(1, "south", Decimal("12.00"), "shard_00", 8)])
    return pl.DataFrame(
        [
            (2, "north", Decimal("5.50"), "shard_00"),
            (1, "north", Decimal("7.00"), "shard_01"),
            (1, "south", Decimal("12.00"), "shard_00"),
        ],
        schema={k: VIEW_SCHEMA[k] for k in ("order_id", "region", "price", "_shard")},
        orient="row",
    )


def test_the_detail_takes_the_latest_row_of_each_key_across_days(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    current = _two_days(tmp_path)
    detail = detail_report(REPORT_SPEC, lake)
    assert detail is not None
    got = {(r["_shard"], r["region"]): (r["_detail_0"], r["_detail_1"]) for r in detail.to_dicts()}
    assert got == {
        ("shard_00", "north"): (1, Decimal("5.50")),
        ("shard_00", "south"): (1, Decimal("12.00")),
        ("shard_01", "north"): (1, Decimal("7.00")),
    }
    assert compare(aggregate(current, REPORT_SPEC), detail, REPORT_SPEC).passed
    assert detail_report(REPORT_SPEC, Lake(tmp_path / "empty")) is None


def _materialize(tmp_path: Path, *, check_only: bool = False) -> dg.ExecuteInProcessResult:
    assets = build_report_assets(REPORT_SPEC, load_sources(DEFAULTS_DIR / "sources.yaml"))
    key = report_asset_key("sales")
    selection = (
        dg.AssetSelection.checks(dg.AssetCheckKey(key, CHECK))
        if check_only
        else dg.AssetSelection.assets(key) | dg.AssetSelection.checks_for_assets(key)
    )
    return dg.materialize(
        [assets],
        resources={
            "lake": LakeResource(root=str(tmp_path)),
            "duckdb": DuckDBResource(database=str(tmp_path / "lake.duckdb")),
        },
        selection=selection,
        raise_on_error=False,
    )


def test_the_report_asset_writes_its_file_duckdb_view_and_passing_check(tmp_path: Path) -> None:
    _current(tmp_path, _two_days(tmp_path).with_columns(_day=pl.lit(D2)))
    result = _materialize(tmp_path)
    assert result.success
    [mat] = result.get_asset_materialization_events()
    metadata = mat.materialization.metadata
    assert metadata["dagster/row_count"].value == 3
    assert metadata["grain"].value == ["region"]
    assert metadata["group_by"].value == ["_shard", "region"]
    assert metadata["path"].value == str(tmp_path / "reports" / "sales" / "report.parquet")
    [check] = result.get_asset_check_evaluations()
    assert check.passed and check.metadata["groups_compared"].value == 3
    with duckdb.connect(str(tmp_path / "lake.duckdb"), read_only=True) as con:
        rows = con.sql(
            'SELECT _shard, region, orders, revenue FROM "sales__report" ORDER BY ALL'
        ).fetchall()
    assert rows == [
        ("shard_00", "north", 1, Decimal("5.50")),
        ("shard_00", "south", 1, Decimal("12.00")),
        ("shard_01", "north", 1, Decimal("7.00")),
    ]

    # Tampered with on disk: the check alone finds it, and fails.
    tampered = pl.read_parquet(metadata["path"].value).with_columns(revenue=pl.col("revenue") * 2)
    tampered.write_parquet(metadata["path"].value)
    again = _materialize(tmp_path, check_only=True)
    assert not again.get_asset_materialization_events()
    [failed] = again.get_asset_check_evaluations()
    assert not failed.passed
    assert failed.metadata["groups_differing"].value == 3


def test_a_failing_check_blocks_the_run(tmp_path: Path) -> None:
    current = _two_days(tmp_path)
    _current(tmp_path, current.filter(pl.col("region") == "north"))  # a stale current file
    result = _materialize(tmp_path)
    assert not result.success
    [check] = result.get_asset_check_evaluations()
    assert not check.passed and check.metadata["groups_missing_from_report"].value == 1


def test_without_current_rows_the_asset_says_what_to_materialize(tmp_path: Path) -> None:
    result = _materialize(tmp_path)
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert "materialize views/sales__current first" in str(failure.step_failure_data.error)


def test_a_view_with_no_files_has_an_empty_report_that_passes(tmp_path: Path) -> None:
    _current(
        tmp_path, pl.DataFrame(schema={k: VIEW_SCHEMA[k] for k in ("region", "price", "_shard")})
    )
    result = _materialize(tmp_path)
    assert result.success
    [check] = result.get_asset_check_evaluations()
    assert check.passed
    report = report_file.read_report(tmp_path, "sales")
    assert report is not None and report.height == 0
    assert report.schema["revenue"] == pl.Decimal(38, 2)
    lake = Lake(tmp_path)
    assert report_check_result(REPORT_SPEC, lake).passed


def test_a_view_without_rows_yet_has_a_typed_empty_report(tmp_path: Path) -> None:
    """No view day has rows, so its current rows were never written: the report is empty,
    typed as the spec declares its columns."""
    spec = ViewSpec.model_validate(
        {
            **REPORT_SPEC.model_dump(by_alias=True, exclude_defaults=True),
            "columns": {
                "order_id": {"from": "id", "type": "int64"},
                "region": {"from": "region", "type": "string"},
                "price": {"from": "price", "type": "decimal(12,2)"},
            },
        }
    )
    assets = build_report_assets(spec, load_sources(DEFAULTS_DIR / "sources.yaml"))
    result = dg.materialize(
        [assets],
        resources={
            "lake": LakeResource(root=str(tmp_path)),
            "duckdb": DuckDBResource(database=str(tmp_path / "lake.duckdb")),
        },
    )
    assert result.success
    report = report_file.read_report(tmp_path, "sales")
    assert report is not None and report.height == 0
    assert dict(report.schema) == {
        "_shard": pl.String,
        "region": pl.String,
        "orders": pl.Int64,
        "revenue": pl.Decimal(38, 2),
    }


def test_the_asset_is_wired_like_the_derived_assets() -> None:
    assets = build_report_assets(REPORT_SPEC, load_sources(DEFAULTS_DIR / "sources.yaml"))
    key = report_asset_key("sales")
    spec = assets.specs_by_key[key]
    assert spec.group_name == "reports"
    assert {d.asset_key for d in spec.deps} == {current_asset_key("sales")}
    assert spec.automation_condition == WHOLE_REFRESH
    assert assets.partitions_def is None
    [check] = assets.check_specs
    assert check.name == CHECK and check.blocking
