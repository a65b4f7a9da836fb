"""Check a view spec against the sources and their column snapshot; every problem at once."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter

from etl_platform.layout import PARTITION_COLUMN
from etl_platform.specs.durations import parse_duration
from etl_platform.specs.expressions import expression_problems
from etl_platform.specs.notifications import view_notification_problems
from etl_platform.specs.source_schema import CURSOR_TYPES, SourceSchema, type_name
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.types import parse_type_name
from etl_platform.specs.views import LookupSpec, PeriodSpec, ViewSpec

_CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z?LW#]+$")
_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: The declared types a period lookup's view column may have.
PERIOD_VIEW_TYPES = ("date", "timestamp")

Problem = tuple[str, str]


def output_names(spec: ViewSpec) -> list[str]:
    """Declared and looked-up output columns, in order (flatten adds more at run time)."""
    names = list(spec.columns)
    if spec.explode:
        names.append(spec.explode.index_column)
    for lookup in spec.lookups:
        names.extend(lookup.outputs.values())
    return names


def validate_view(spec: ViewSpec, sources: SourcesSpec, schema: SourceSchema) -> list[Problem]:
    """Every problem of the spec, section by section. With an unknown source, the sections
    that do not need its columns are still checked."""
    problems = _source_problems(spec, sources, schema)
    source = None if problems else _driving_table(spec, sources, schema)
    names = output_names(spec)
    return [
        *problems,
        *_column_problems(spec, source),
        *_lookup_problems(spec, sources, schema, source),
        *_computed_problems(spec),
        *_flatten_explode_problems(spec, source),
        *_output_name_problems(names),
        *_key_problems(spec, names),
        *_schedule_problems(spec),
        *_report_problems(spec, names),
        *_history_problems(spec, sources),
        *_refresh_problems(spec, sources),
        *view_notification_problems(spec, names),
    ]


def _refresh_problems(spec: ViewSpec, sources: SourcesSpec) -> list[Problem]:
    """A view waits only for providers that sources.yaml declares."""
    known = sorted(sources.providers)
    return [
        (
            f"refresh.{i}",
            f"unknown provider {name!r} (sources.yaml providers: {known or 'none'})",
        )
        for i, name in enumerate(spec.refresh)
        if name not in sources.providers
    ]


def _history_problems(spec: ViewSpec, sources: SourcesSpec) -> list[Problem]:
    """Only the binlog sees a row leave its day (a move or a delete): a batch-read source
    cannot keep each key on its latest day alone."""
    table = sources.tables.get(spec.source)
    if spec.history or table is None or table.is_cdc:
        return []
    return [
        (
            "history",
            f"history: false needs a source read from the binlog; table {spec.source!r} is "
            f"mode: {table.mode} (set mode: cdc in sources.yaml, or keep history: true and "
            "take each key's latest row with QUALIFY, see docs/views.md)",
        )
    ]


def _report_problems(spec: ViewSpec, names: list[str]) -> list[Problem]:
    """A report's grain and measures read output columns known at load (not flatten's); the
    second partitioning names one too. Types are checked with the dataframe layer."""
    problems: list[Problem] = []
    outputs = set(names)
    if bool(spec.grain) != bool(spec.measures):
        field = "measures" if spec.grain else "grain"
        problems.append((field, "a report needs both grain and measures"))
    if spec.across_shards and not spec.grain:
        problems.append(("across_shards", "only a report (grain and measures) has shards to merge"))
    for i, column in enumerate(spec.grain):
        if column not in outputs:
            problems.append((f"grain.{i}", f"{column!r} is not an output column of the view"))
    for name, count in Counter(spec.grain).items():
        if count > 1:
            problems.append(("grain", f"{name!r} is in the grain {count} times"))
    for name, measure in spec.measure_specs.items():
        if name in spec.grain:
            problems.append((f"measures.{name}", f"{name!r} is also a grain column"))
        if name.startswith("_"):
            problems.append(
                (f"measures.{name}", f"{name!r} is reserved: `_` names are the platform's")
            )
        if measure.column and measure.column not in outputs:
            problems.append(
                (f"measures.{name}", f"{measure.column!r} is not an output column of the view")
            )
    if spec.partition_by and spec.partition_by not in outputs:
        problems.append(
            ("partition_by", f"{spec.partition_by!r} is not an output column of the view")
        )
    return problems


@dataclasses.dataclass(frozen=True)
class _DrivingTable:
    """The view's source table as the snapshot has it, its excluded columns left out."""

    name: str
    columns: frozenset[str]
    json_columns: frozenset[str]

    def json_problems(self, field: str, column: str) -> list[Problem]:
        if column not in self.columns:
            return [(field, f"unknown column {column!r} of table {self.name!r}")]
        if column not in self.json_columns:
            return [
                (
                    field,
                    f"column {column!r} is not listed in tables.{self.name}.json of sources.yaml",
                )
            ]
        return []


def _driving_table(spec: ViewSpec, sources: SourcesSpec, schema: SourceSchema) -> _DrivingTable:
    table = sources.tables[spec.source]
    return _DrivingTable(
        name=spec.source,
        columns=frozenset(schema.tables[spec.source]) - set(table.exclude_columns),
        json_columns=frozenset(table.json_columns),
    )


def _source_problems(spec: ViewSpec, sources: SourcesSpec, schema: SourceSchema) -> list[Problem]:
    if spec.source not in sources.tables:
        return [
            ("source", f"unknown table {spec.source!r} (sources.yaml has {sorted(sources.tables)})")
        ]
    if spec.source not in schema.tables:
        return [
            (
                "source",
                f"table {spec.source!r} is not in the schema snapshot; run "
                "`etl-platform sources schema`",
            )
        ]
    return []


def _column_problems(spec: ViewSpec, source: _DrivingTable | None) -> list[Problem]:
    problems: list[Problem] = []
    for name, col in spec.columns.items():
        where = f"columns.{name}"
        problems.extend(_type_problem(f"{where}.type", col.type))
        if col.expr and col.type and _is_json_type(col.type):
            problems.append((f"{where}.type", "a computed column cannot be json"))
        if source and col.from_ and col.from_ not in source.columns:
            problems.append(
                (f"{where}.from", f"unknown column {col.from_!r} of table {source.name!r}")
            )
        if source and col.json_column:
            problems.extend(source.json_problems(f"{where}.json", col.json_column))
        if col.item and not spec.explode:
            problems.append((f"{where}.item", "item columns need an explode section"))
    return problems


def _lookup_problems(
    spec: ViewSpec, sources: SourcesSpec, schema: SourceSchema, source: _DrivingTable | None
) -> list[Problem]:
    problems: list[Problem] = []
    for i, lookup in enumerate(spec.lookups):
        problems.extend(_one_lookup_problems(i, lookup, spec, sources, schema, source))
    return problems


def _one_lookup_problems(
    index: int,
    lookup: LookupSpec,
    spec: ViewSpec,
    sources: SourcesSpec,
    schema: SourceSchema,
    source: _DrivingTable | None,
) -> list[Problem]:
    """One lookup's problems; without a known source, only those of the related table."""
    where = f"lookups.{index}"
    if lookup.table not in sources.tables or lookup.table not in schema.tables:
        return [(f"{where}.table", f"unknown table {lookup.table!r}")]
    problems: list[Problem] = []
    related = set(schema.tables[lookup.table]) - set(sources.tables[lookup.table].exclude_columns)
    missing_shards = (
        set(sources.shards_for(spec.source)) - set(sources.shards_for(lookup.table))
        if source
        else set()
    )
    if missing_shards:
        problems.append(
            (
                f"{where}.table",
                f"table {lookup.table!r} is not extracted from "
                f"shard(s) {sorted(missing_shards)} that carry {spec.source!r}",
            )
        )
    for left, right in lookup.on.items():
        if source:
            problems.extend(_view_side_problems(f"{where}.on.{left}", left, spec, source, index))
        if right not in related:
            problems.append(
                (f"{where}.on.{left}", f"unknown column {right!r} of table {lookup.table!r}")
            )
    for column, out in lookup.columns.items():
        if column not in related:
            problems.append(
                (
                    f"{where}.columns.{column}",
                    f"unknown column {column!r} of table {lookup.table!r}",
                )
            )
        if not isinstance(out, str) and out.type:
            problems.extend(_type_problem(f"{where}.columns.{column}.type", out.type))
    if lookup.period:
        columns = {c: t for c, t in schema.tables[lookup.table].items() if c in related}
        problems.extend(_period_problems(f"{where}.period", lookup.period, lookup.table, columns))
        if source:
            problems.extend(
                _period_view_problems(
                    f"{where}.period.view", lookup.period, spec, source, schema, index
                )
            )
    return problems


def _view_side_problems(
    field: str, column: str, spec: ViewSpec, source: _DrivingTable, index: int
) -> list[Problem]:
    """A lookup reads a view column: a column of the source table, a declared column read from
    the row, or one an earlier lookup brought in (a chain). A later lookup's or a computed
    column does not exist yet when this lookup runs."""
    declared = spec.columns.get(column)
    if declared is not None and declared.expr:
        return [
            (
                field,
                f"{column!r} is a computed column: computed columns are made after the lookups, "
                "so a lookup cannot read one",
            )
        ]
    if declared is not None or column in source.columns:
        return []
    for j, other in enumerate(spec.lookups):
        if column in other.outputs.values():
            if j < index:
                return []
            return [
                (
                    field,
                    f"{column!r} comes from lookups.{j} (table {other.table!r}), which runs "
                    f"after this one: move lookups.{j} before lookups.{index}",
                )
            ]
    return [
        (
            field,
            f"{column!r} is neither a column of table {spec.source!r}, a declared output "
            "column, nor a column an earlier lookup brings in",
        )
    ]


def _computed_problems(spec: ViewSpec) -> list[Problem]:
    """An expression reads the view's columns that exist when it runs: those read from the row
    (and the explode index), every lookup's, and the computed columns declared before it."""
    known = [*spec.read_columns, *(o for lk in spec.lookups for o in lk.outputs.values())]
    if spec.explode:
        known.append(spec.explode.index_column)
    problems: list[Problem] = []
    for name, text in spec.computed.items():
        problems += [(f"columns.{name}.expr", p) for p in expression_problems(text, known)]
        known.append(name)
    return problems


def _is_json_type(text: str) -> bool:
    try:
        return parse_type_name(text).name == "json"
    except ValueError:
        return False


def _period_problems(
    where: str, period: PeriodSpec, table: str, columns: dict[str, str]
) -> list[Problem]:
    """`from` and `to`: distinct date or datetime columns of the looked-up table."""
    problems: list[Problem] = []
    for field, column in zip(("from", "to"), period.bounds, strict=False):
        if column not in columns:
            problems.append((f"{where}.{field}", f"unknown column {column!r} of table {table!r}"))
        else:
            problems.extend(_date_problem(f"{where}.{field}", table, column, columns[column]))
    if period.to == period.from_:
        problems.append((f"{where}.to", f"must differ from `from` ({period.from_!r})"))
    return problems


def _period_view_problems(
    where: str,
    period: PeriodSpec,
    spec: ViewSpec,
    source: _DrivingTable,
    schema: SourceSchema,
    index: int,
) -> list[Problem]:
    """The view side, named like an `on` key: a declared column (its declared type), a column
    of the source table (its MySQL type), or an earlier lookup's column (its table's MySQL
    type); it must be a date or a timestamp."""
    name = period.view
    declared = spec.columns.get(name)
    if declared is not None and not declared.expr:
        if not (declared.from_ or declared.json_column or declared.item):
            return []  # an invalid column, already reported
        try:
            kind = parse_type_name(declared.type).name
        except ValueError:
            return []  # an unknown type, already reported
        if kind in PERIOD_VIEW_TYPES:
            return []
        return [(where, f"column {name!r} is declared {declared.type}, not date or timestamp")]
    side = _view_side_problems(where, name, spec, source, index)
    if side:
        return side
    if name in source.columns:
        return _date_problem(where, source.name, name, schema.tables[source.name][name])
    return _looked_up_date_problem(where, name, spec, schema)


def _looked_up_date_problem(
    where: str, name: str, spec: ViewSpec, schema: SourceSchema
) -> list[Problem]:
    """A period's date brought in by an earlier lookup: its declared type, else its table's."""
    for lookup in spec.lookups:
        for column, out in lookup.outputs.items():
            if out != name:
                continue
            declared = lookup.typed.get(out)
            if declared is not None:
                try:
                    kind = parse_type_name(declared).name
                except ValueError:
                    return []  # an unknown type, already reported
                if kind in PERIOD_VIEW_TYPES:
                    return []
                return [(where, f"column {name!r} is declared {declared}, not date or timestamp")]
            columns = schema.tables.get(lookup.table, {})
            if column in columns:
                return _date_problem(where, lookup.table, column, columns[column])
            return []
    return []


def _date_problem(where: str, table: str, column: str, column_type: str) -> list[Problem]:
    """A period compares dates and instants: a column of another MySQL type is refused."""
    if type_name(column_type) in CURSOR_TYPES:
        return []
    return [
        (
            where,
            f"column {column!r} of table {table!r} is {column_type}, "
            "not a DATE, DATETIME or TIMESTAMP",
        )
    ]


def _flatten_explode_problems(spec: ViewSpec, source: _DrivingTable | None) -> list[Problem]:
    problems: list[Problem] = []
    for i, flat in enumerate(spec.flatten):
        if source:
            problems.extend(source.json_problems(f"flatten.{i}.json", flat.json_column))
        if flat.prefix and not _PLAIN_NAME.match(flat.prefix):
            problems.append((f"flatten.{i}.prefix", f"prefix {flat.prefix!r} is not a plain name"))
    if spec.explode and source:
        problems.extend(source.json_problems("explode.json", spec.explode.json_column))
    return problems


def _output_name_problems(names: list[str]) -> list[Problem]:
    problems: list[Problem] = [
        ("columns", f"output column {name!r} is declared {count} times")
        for name, count in Counter(names).items()
        if count > 1
    ]
    for name in names:
        if name == PARTITION_COLUMN or name.startswith("_"):
            problems.append(
                (
                    f"columns.{name}",
                    f"{name!r} is reserved: `{PARTITION_COLUMN}` is "
                    "the partition column and `_` names are the platform's",
                )
            )
    return problems


def _key_problems(spec: ViewSpec, names: list[str]) -> list[Problem]:
    keyable = set(spec.read_columns) | ({spec.explode.index_column} if spec.explode else set())
    problems: list[Problem] = [
        (
            "unique_key",
            f"{key!r} is a computed column: dedupe runs before columns are computed"
            if key in spec.computed
            else f"{key!r} is not a declared column",
        )
        for key in spec.unique_key
        if key not in keyable
    ]
    if spec.dist_key and spec.dist_key not in names:
        problems.append(("dist_key", f"{spec.dist_key!r} is not an output column"))
    return problems


def _schedule_problems(spec: ViewSpec) -> list[Problem]:
    problems: list[Problem] = []
    if spec.schedule and not _valid_cron(spec.schedule):
        problems.append(("schedule", f"{spec.schedule!r} is not a cron expression"))
    freshness = spec.freshness
    if (
        freshness
        and freshness.warn_after is not None
        and parse_duration(freshness.warn_after) >= parse_duration(freshness.fail_after)
    ):
        problems.append(("freshness.warn_after", "must be shorter than fail_after"))
    return problems


def _type_problem(field: str, text: str) -> list[Problem]:
    try:
        parse_type_name(text)
    except ValueError as e:
        return [(field, str(e))]
    return []


def _valid_cron(text: str) -> bool:
    fields = text.split()
    return len(fields) == 5 and all(_CRON_FIELD.match(f) for f in fields)
