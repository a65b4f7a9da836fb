"""Check a view spec against the sources and their column snapshot; every problem at once."""

from __future__ import annotations

import re
from collections import Counter

from etl_platform.specs.source_schema import SourceSchema
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.views import PARTITION_COLUMN, ViewSpec

_CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z?LW#]+$")

Problem = tuple[str, str]


def output_names(spec: ViewSpec) -> list[str]:
    """Declared and looked-up output columns, in order (flatten adds more at run time)."""
    names = list(spec.columns)
    if spec.explode:
        names.append(spec.explode.index_column)
    for lookup in spec.lookups:
        names.extend(lookup.columns.values())
    return names


def validate_view(spec: ViewSpec, sources: SourcesSpec, schema: SourceSchema) -> list[Problem]:
    problems: list[Problem] = []
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
    table = sources.tables[spec.source]
    source_columns = set(schema.tables[spec.source]) - set(table.exclude_columns)
    json_columns = set(table.json_columns)

    def check_json(field: str, column: str) -> None:
        if column not in source_columns:
            problems.append((field, f"unknown column {column!r} of table {spec.source!r}"))
        elif column not in json_columns:
            problems.append(
                (
                    field,
                    f"column {column!r} is not listed in tables.{spec.source}.json of sources.yaml",
                )
            )

    for name, col in spec.columns.items():
        where = f"columns.{name}"
        problems.extend(_type_problem(f"{where}.type", col.type))
        if col.from_ and col.from_ not in source_columns:
            problems.append(
                (f"{where}.from", f"unknown column {col.from_!r} of table {spec.source!r}")
            )
        if col.json_column:
            check_json(f"{where}.json", col.json_column)
        if col.item and not spec.explode:
            problems.append((f"{where}.item", "item columns need an explode section"))

    for i, lookup in enumerate(spec.lookups):
        where = f"lookups.{i}"
        if lookup.table not in sources.tables or lookup.table not in schema.tables:
            problems.append((f"{where}.table", f"unknown table {lookup.table!r}"))
            continue
        related = set(schema.tables[lookup.table]) - set(
            sources.tables[lookup.table].exclude_columns
        )
        missing_shards = set(sources.shards_for(spec.source)) - set(
            sources.shards_for(lookup.table)
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
            if left not in source_columns and left not in spec.columns:
                problems.append(
                    (
                        f"{where}.on.{left}",
                        f"{left!r} is neither a column of table "
                        f"{spec.source!r} nor a declared output column",
                    )
                )
            if right not in related:
                problems.append(
                    (f"{where}.on.{left}", f"unknown column {right!r} of table {lookup.table!r}")
                )
        for column in lookup.columns:
            if column not in related:
                problems.append(
                    (
                        f"{where}.columns.{column}",
                        f"unknown column {column!r} of table {lookup.table!r}",
                    )
                )

    for i, flat in enumerate(spec.flatten):
        check_json(f"flatten.{i}.json", flat.json_column)
        if flat.prefix and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", flat.prefix):
            problems.append((f"flatten.{i}.prefix", f"prefix {flat.prefix!r} is not a plain name"))
    if spec.explode:
        check_json("explode.json", spec.explode.json_column)

    names = output_names(spec)
    for name, count in Counter(names).items():
        if count > 1:
            problems.append(("columns", f"output column {name!r} is declared {count} times"))
    for name in names:
        if name == PARTITION_COLUMN or name.startswith("_"):
            problems.append(
                (
                    f"columns.{name}",
                    f"{name!r} is reserved: `{PARTITION_COLUMN}` is "
                    "the partition column and `_` names are the platform's",
                )
            )
    keyable = set(spec.columns) | ({spec.explode.index_column} if spec.explode else set())
    for key in spec.unique_key:
        if key not in keyable:
            problems.append(("unique_key", f"{key!r} is not a declared column"))
    if spec.dist_key and spec.dist_key not in names:
        problems.append(("dist_key", f"{spec.dist_key!r} is not an output column"))
    if spec.schedule and not _valid_cron(spec.schedule):
        problems.append(("schedule", f"{spec.schedule!r} is not a cron expression"))
    if spec.freshness and spec.freshness.warn_after is not None:
        from etl_platform.specs.views import parse_duration

        if parse_duration(spec.freshness.warn_after) >= parse_duration(spec.freshness.fail_after):
            problems.append(("freshness.warn_after", "must be shorter than fail_after"))
    return problems


def _type_problem(field: str, text: str) -> list[Problem]:
    from etl_platform.transform.dtypes import parse_type

    try:
        parse_type(text)
    except ValueError as e:
        return [(field, str(e))]
    return []


def _valid_cron(text: str) -> bool:
    fields = text.split()
    return len(fields) == 5 and all(_CRON_FIELD.match(f) for f in fields)
