"""A report view's rows: its measures per `_shard` (unless `across_shards`) and grain value,
computed from the view's current rows (one row per key), never patched.

The semantics are SQL's, so a report reads like the GROUP BY an analyst would write:

- the grain's NULL is a group of its own;
- `count()` counts rows; `count_distinct(c)` distinct non-null values; both int64;
- `sum(c)`, `min(c)`, `max(c)`, `avg(c)` ignore NULLs; a group whose `c` is all NULL gets NULL;
- `sum` of decimal(p,s) is decimal(38,s), exact; of integers int64, computed in 128 bits and
  refused (`ReportOverflow`) rather than wrapped when a group's sum leaves int64; of floats
  float64;
- `avg` of decimal(p,s) is exact too, as MySQL computes it: decimal(38, s+4) (fewer extra
  digits when p > 34, so that it fits 38 digits), rounded half away from zero; of integers and
  floats float64 (integers summed exactly first);
- `min` and `max` keep the column's type.

Rows come out sorted by the group columns (NULLs last). Every measure but a float sum or
average is the same whatever the order of the input; those may differ in their last bits, as
additions in another order do in any SQL engine.

The check `report_matches_detail` recomputes the same groups with DuckDB over the view's day
files (`detail_sql`) and compares them with the report (`compare`).
"""

from __future__ import annotations

import dataclasses
import decimal
from collections.abc import Mapping

import polars as pl

from etl_platform.identifiers import quote_ansi
from etl_platform.layout import PARTITION_COLUMN
from etl_platform.specs.views import Measure, ViewSpec
from etl_platform.transform.dtypes import parse_type, storage_dtype

SHARD = "_shard"
#: The cursor column of every view row: the latest version of a key wins.
CURSOR = "_updated_at"
#: Extra digits of a decimal average, as MySQL's `div_precision_increment`.
AVG_EXTRA_DIGITS = 4
#: Digits a decimal holds at most (Parquet's and Arrow's decimal128).
MAX_DIGITS = 38
_INT64 = (-(2**63), 2**63 - 1)


class ReportOverflow(ValueError):
    """A group's sum does not fit the measure's type: refused, never wrapped."""


def group_columns(spec: ViewSpec) -> list[str]:
    """`_shard` (unless the report merges shards), then the grain in its order."""
    return [*([] if spec.across_shards else [SHARD]), *spec.grain]


def input_columns(spec: ViewSpec) -> list[str]:
    """The current rows' columns a report reads: its groups and its measures' columns."""
    columns = group_columns(spec)
    for measure in spec.measure_specs.values():
        if measure.column and measure.column not in columns:
            columns.append(measure.column)
    return columns


def avg_scale(dtype: pl.Decimal) -> int:
    """The scale of a decimal column's average: s + 4, or less when p + 4 passes 38 digits
    (an average never has more integer digits than its column)."""
    precision = dtype.precision or MAX_DIGITS
    return dtype.scale + max(0, min(AVG_EXTRA_DIGITS, MAX_DIGITS - precision))


def aggregate(rows: pl.DataFrame, spec: ViewSpec) -> pl.DataFrame:
    """The report of `rows` (current rows holding at least `input_columns(spec)`): one row
    per group, the group columns then the measures in declared order. No rows in, a typed
    frame of no rows out."""
    groups = group_columns(spec)
    if not spec.grain or not spec.measures:
        raise ValueError(f"view {spec.name!r} is not a report: it needs grain and measures")
    schema = rows.schema
    measures = spec.measure_specs
    exprs = [_measure(m, schema).alias(name) for name, m in measures.items()]
    try:
        out = rows.lazy().select(input_columns(spec)).group_by(groups).agg(exprs).collect()
    except pl.exceptions.ComputeError as e:
        if "overflow" not in str(e):
            raise
        decimals = [n for n, m in measures.items() if m.function in ("sum", "avg")]
        raise ReportOverflow(
            f"report {spec.name!r}: a decimal sum passed {MAX_DIGITS} digits in some group "
            f"(one of {decimals}): {str(e).splitlines()[0]}"
        ) from None
    out = _int64_sums(out, spec, schema)
    return out.select(*groups, *measures).sort(groups, nulls_last=True)


def report_schema(spec: ViewSpec, input_schema: Mapping[str, pl.DataType]) -> pl.Schema:
    """The report's columns and types for current rows of `input_schema`."""
    return aggregate(pl.DataFrame(schema=dict(input_schema)), spec).schema


def declared_input_schema(spec: ViewSpec) -> dict[str, pl.DataType] | None:
    """The report's input columns with the types the spec declares, for the typed empty
    report of a view with no rows yet; None when one has no declared type (a looked-up column
    without `type:`)."""
    declared: dict[str, pl.DataType] = {SHARD: pl.String()}
    declared |= {name: storage_dtype(parse_type(c.type)) for name, c in spec.columns.items()}
    if spec.explode:
        declared[spec.explode.index_column] = pl.Int32()
    for lookup in spec.lookups:
        declared |= {name: storage_dtype(parse_type(t)) for name, t in lookup.typed.items()}
    columns = input_columns(spec)
    if any(c not in declared for c in columns):
        return None
    return {c: declared[c] for c in columns}


def _measure(measure: Measure, schema: Mapping[str, pl.DataType]) -> pl.Expr:
    if measure.function == "count":
        return pl.len().cast(pl.Int64)
    assert measure.column is not None
    column = pl.col(measure.column)
    dtype = schema[measure.column]
    present = column.count() > 0  # SQL: an all-NULL group sums to NULL, not 0
    if measure.function == "count_distinct":
        return column.drop_nulls().n_unique().cast(pl.Int64)
    if measure.function in ("min", "max"):
        return column.min() if measure.function == "min" else column.max()
    if measure.function == "sum":
        if isinstance(dtype, pl.Decimal):
            return pl.when(present).then(column.sum().cast(pl.Decimal(MAX_DIGITS, dtype.scale)))
        if dtype.is_integer():
            return pl.when(present).then(column.cast(pl.Int128).sum())  # int64 after a check
        return pl.when(present).then(column.cast(pl.Float64).sum())
    if measure.function == "avg":
        if isinstance(dtype, pl.Decimal):
            return _decimal_avg(column.sum(), column.count(), dtype)
        if dtype.is_integer():
            total = column.cast(pl.Int128).sum().cast(pl.Float64)
            return pl.when(present).then(total / column.count().cast(pl.Float64))
        return column.cast(pl.Float64).mean()
    raise ValueError(f"unknown measure function {measure.function!r}")


def _decimal_avg(total: pl.Expr, count: pl.Expr, dtype: pl.Decimal) -> pl.Expr:
    """sum / count at `avg_scale`, rounded half away from zero, in 128-bit integers: polars'
    decimal division rounds half to even, and a float would drift."""
    scale = avg_scale(dtype)
    shift = 10 ** (scale - dtype.scale)
    unscaled = total.to_physical()  # the sum's digits as an int128, at the column's scale
    n = count.cast(pl.Int128)
    magnitude = unscaled.abs()
    whole, rest = magnitude // n, (magnitude % n) * shift
    rounded = whole * shift + rest // n + ((rest % n) * 2 >= n).cast(pl.Int128)
    one_unit = pl.lit(decimal.Decimal(1).scaleb(-scale), dtype=pl.Decimal(MAX_DIGITS, scale))
    value = (rounded * unscaled.sign()).cast(pl.Decimal(MAX_DIGITS, 0)) * one_unit
    return pl.when(n > 0).then(value.cast(pl.Decimal(MAX_DIGITS, scale)))


def _int64_sums(
    out: pl.DataFrame, spec: ViewSpec, schema: Mapping[str, pl.DataType]
) -> pl.DataFrame:
    """Integer sums, computed in 128 bits, back to int64; a group beyond int64 is refused."""
    casts = []
    for name, m in spec.measure_specs.items():
        if m.function != "sum" or m.column is None or not schema[m.column].is_integer():
            continue
        low, high = out[name].min(), out[name].max()
        if (low is not None and low < _INT64[0]) or (high is not None and high > _INT64[1]):
            raise ReportOverflow(
                f"report {spec.name!r}: measure {name} = sum({m.column}) is beyond int64 in "
                f"some group (from {low} to {high}); declare {m.column} as decimal(38,0) to "
                "sum it exactly"
            )
        casts.append(pl.col(name).cast(pl.Int64))
    return out.with_columns(casts) if casts else out


# The check: the same groups recomputed from the view's day files, then compared.

#: Floats may differ by the order of additions: at most this much of the sum of |values|.
FLOAT_RELATIVE = 1e-8
#: A double's relative precision, for DuckDB's AVG of a decimal (it answers a double).
DOUBLE_RELATIVE = 1e-15
#: Groups that differ listed in the check's metadata.
SAMPLE_GROUPS = 10


def _scale_name(i: int) -> str:
    return f"_scale_{i}"


def _detail_name(i: int) -> str:
    return f"_detail_{i}"


def detail_sql(spec: ViewSpec) -> str:
    """DuckDB SQL over the view's day files (bound as `$files`, a glob): the latest row per
    `_shard` + unique key across days, grouped like the report. Each measure `i` comes out as
    `_detail_i`, with `_scale_i` (the sum or average of |values|) for a float tolerance."""
    q = quote_ansi
    key = ", ".join(q(c) for c in [SHARD, *spec.unique_key])
    groups = ", ".join(q(c) for c in group_columns(spec))
    columns = []
    for i, measure in enumerate(spec.measure_specs.values()):
        columns.append(f"{_measure_sql(measure)} AS {q(_detail_name(i))}")
        if measure.function in ("sum", "avg"):
            assert measure.column is not None
            columns.append(f"{measure.function}(abs({q(measure.column)})) AS {q(_scale_name(i))}")
    return (
        "WITH latest AS (SELECT * FROM read_parquet($files, hive_partitioning = true, "
        "union_by_name = true) QUALIFY row_number() OVER ("
        f"PARTITION BY {key} ORDER BY {q(CURSOR)} DESC NULLS LAST, "
        f"{q(PARTITION_COLUMN)} DESC) = 1) "
        f"SELECT {groups}, {', '.join(columns)} FROM latest GROUP BY {groups}"
    )


def _measure_sql(measure: Measure) -> str:
    if measure.function == "count":
        return "count(*)"
    assert measure.column is not None
    column = quote_ansi(measure.column)
    if measure.function == "count_distinct":
        return f"count(DISTINCT {column})"
    return f"{measure.function}({column})"


@dataclasses.dataclass(frozen=True)
class ReportDiff:
    """How a report compares with its detail: groups on one side only, groups whose
    measures differ, and a sample of them."""

    groups_compared: int
    missing: int = 0  # in the detail, not in the report
    extra: int = 0  # in the report, not in the detail
    differing: int = 0  # in both, some measure differs
    sample: list[dict] = dataclasses.field(default_factory=list)
    problem: str | None = None

    @property
    def passed(self) -> bool:
        return not (self.missing or self.extra or self.differing or self.problem)


def compare(report: pl.DataFrame, detail: pl.DataFrame | None, spec: ViewSpec) -> ReportDiff:
    """Compare a report with `detail` (the result of `detail_sql`; None: the view has no
    files, so the report must have no rows). Integers, decimals, dates and texts must be
    equal; float sums and averages agree within `FLOAT_RELATIVE` of the sum (or average) of
    |values|; a decimal average within half a unit of its last digit of DuckDB's (a double)."""
    groups, measures = group_columns(spec), list(spec.measure_specs)
    wanted = [*groups, *measures]
    if report.columns != wanted:
        return ReportDiff(
            groups_compared=0, problem=f"the report has columns {report.columns}, not {wanted}"
        )
    if detail is None:
        extra = report.head(SAMPLE_GROUPS).select(groups).to_dicts()
        return ReportDiff(
            groups_compared=report.height,
            extra=report.height,
            sample=[{"group": _plain(g), "only_in": "report"} for g in extra],
        )
    kinds = {name: _kind(spec.measure_specs[name], report.schema[name]) for name in measures}
    detail = detail.with_columns(
        *(pl.col(c).cast(report.schema[c], strict=False) for c in groups),
        *(
            pl.col(_detail_name(i)).cast(report.schema[name], strict=False)
            for i, name in enumerate(measures)
            if kinds[name] == "exact"
        ),
    )
    joined = report.with_columns(_in_report=pl.lit(True)).join(
        detail.with_columns(_in_detail=pl.lit(True)),
        on=groups,
        how="full",
        nulls_equal=True,
        coalesce=True,
    )
    in_report, in_detail = pl.col("_in_report").is_not_null(), pl.col("_in_detail").is_not_null()
    agree = [
        _agrees(kinds[name], name, i, report.schema[name]).alias(name)
        for i, name in enumerate(measures)
    ]
    flagged = joined.with_columns(
        _agree=pl.struct(agree),
        _differs=in_report & in_detail & ~pl.all_horizontal(agree),
    )
    bad = flagged.filter(~in_report | ~in_detail | pl.col("_differs")).sort(groups, nulls_last=True)
    return ReportDiff(
        groups_compared=joined.height,
        missing=flagged.filter(~in_report).height,
        extra=flagged.filter(~in_detail).height,
        differing=flagged.filter(pl.col("_differs")).height,
        sample=[_sample_row(r, groups, measures) for r in bad.head(SAMPLE_GROUPS).to_dicts()],
    )


def _kind(measure: Measure, dtype: pl.DataType) -> str:
    """How a measure is compared: `exact`; `float` (a float sum or average, within a share
    of the |values|); `decimal_avg` (DuckDB's AVG of a decimal is a double)."""
    if measure.function not in ("sum", "avg"):
        return "exact"
    if dtype.is_float():
        return "float"
    return "decimal_avg" if measure.function == "avg" else "exact"


def _agrees(kind: str, name: str, i: int, dtype: pl.DataType) -> pl.Expr:
    ours, theirs = pl.col(name), pl.col(_detail_name(i))
    if kind == "exact":
        return ours.eq_missing(theirs)
    ours, theirs = ours.cast(pl.Float64), theirs.cast(pl.Float64)
    if kind == "decimal_avg":
        assert isinstance(dtype, pl.Decimal)
        allowed = 0.5 * 10.0**-dtype.scale + DOUBLE_RELATIVE * theirs.abs()
    else:
        allowed = FLOAT_RELATIVE * pl.col(_scale_name(i)).cast(pl.Float64)
    close = ((ours - theirs).abs() <= allowed).fill_null(False)
    return ours.eq_missing(theirs) | close


def _sample_row(row: dict, groups: list[str], measures: list[str]) -> dict:
    group = _plain({c: row[c] for c in groups})
    if row["_in_report"] is None:
        return {"group": group, "only_in": "detail"}
    if row["_in_detail"] is None:
        return {"group": group, "only_in": "report"}
    return {
        "group": group,
        "measures": {
            name: {"report": _text(row[name]), "detail": _text(row[_detail_name(i)])}
            for i, name in enumerate(measures)
            if not row["_agree"][name]
        },
    }


def _plain(values: dict) -> dict:
    return {k: _text(v) for k, v in values.items()}


def _text(value: object) -> object:
    """A JSON-ready value: numbers and texts as they are, decimals and dates as text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
