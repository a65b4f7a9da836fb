"""The view spec: one YAML file per business view, written by analysts.

The model checks the shape of the file; `validate_view` checks it against the sources and their
schema snapshot (tables, columns, JSON columns, types), so a bad spec is refused when definitions
load, with the file and the field named.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Annotated, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, model_validator

from etl_platform.specs.durations import Duration
from etl_platform.specs.notifications import NotificationRule
from etl_platform.specs.sources import Identifier

_PATH_SEGMENT = re.compile(r"^[A-Za-z0-9_\-$@]+$")
_OWNER = re.compile(r"^([^@\s]+@[^@\s]+\.[^@\s]+|team:[A-Za-z0-9_\-]+)$")


def _owner(value: str) -> str:
    if not _OWNER.match(value):
        raise ValueError(f"owner {value!r} is not an email nor `team:<name>`")
    return value


#: Who answers for a view, as Dagster shows asset owners: an email or `team:<name>`.
Owner = Annotated[str, pydantic.AfterValidator(_owner)]

#: Columns every view row carries; names starting with `_` are the platform's.
SYSTEM_COLUMNS = ("_shard", "_updated_at", "_run_id")


def _json_path(value: str) -> str:
    parts = value.split(".")
    if not value or not all(_PATH_SEGMENT.match(p) for p in parts):
        raise ValueError(
            f"bad JSON path {value!r}: use dot-separated object keys, e.g. totals.grand_total"
        )
    return value


JsonPath = Annotated[str, pydantic.AfterValidator(_json_path)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ColumnSpec(_Strict):
    """One typed output column: a source column, a JSON path, an exploded element, or an
    expression over the view's other columns (`expr`, computed after the lookups)."""

    from_: Identifier | None = Field(default=None, alias="from")
    json_column: Identifier | None = Field(default=None, alias="json")
    path: JsonPath | None = None
    item: JsonPath | None = None
    expr: str | None = None
    type: str
    nullable: bool = True

    @model_validator(mode="after")
    def _one_source(self) -> ColumnSpec:
        given = [
            k
            for k, v in (
                ("from", self.from_),
                ("json", self.json_column),
                ("item", self.item),
                ("expr", self.expr),
            )
            if v
        ]
        if len(given) != 1:
            raise ValueError("give exactly one of from, json (with path), item, or expr")
        if self.json_column and not self.path:
            raise ValueError("json needs path")
        if self.path and not self.json_column:
            raise ValueError("path needs json")
        return self


class PeriodSpec(_Strict):
    """Pick, among the related rows that match `on`, the one whose period holds a date of the
    view row: `from <= view < to`. Without `to`, a period runs until the next `from` of the
    same key; a null `to` is open-ended."""

    view: Identifier
    from_: Identifier = Field(alias="from")
    to: Identifier | None = None

    @property
    def bounds(self) -> list[str]:
        """The related columns the period reads: `from`, then `to` when given."""
        return [self.from_, *([self.to] if self.to else [])]


class LookupColumnSpec(_Strict):
    """A looked-up column with its output name, and optionally a type it is cast to (a value
    that does not fit is a reject) and `nullable: false` (a row without a value is a reject)."""

    as_: Identifier | None = Field(default=None, alias="as")
    type: str | None = None
    nullable: bool = True


class LookupSpec(_Strict):
    """Columns of a related row on the same shard, as it was at the end of the day.

    `on` may name a column that an earlier lookup brought in (a chain: rental -> inventory ->
    film). `join: inner` leaves the rows without a related row out of the view (as rejects)."""

    table: Identifier
    on: dict[Identifier, Identifier] = Field(min_length=1)
    period: PeriodSpec | None = None
    columns: dict[Identifier, Identifier | LookupColumnSpec] = Field(min_length=1)
    join: Literal["left", "inner"] = "left"

    @property
    def outputs(self) -> dict[str, str]:
        """Related column -> output column name."""
        return {
            column: out if isinstance(out, str) else (out.as_ or column)
            for column, out in self.columns.items()
        }

    @property
    def typed(self) -> dict[str, str]:
        """Output column -> declared type, for the looked-up columns given one."""
        return {
            self.outputs[column]: out.type
            for column, out in self.columns.items()
            if isinstance(out, LookupColumnSpec) and out.type
        }

    @property
    def required(self) -> list[str]:
        """Output columns declared `nullable: false`."""
        return [
            self.outputs[column]
            for column, out in self.columns.items()
            if isinstance(out, LookupColumnSpec) and not out.nullable
        ]

    @property
    def view_columns(self) -> list[str]:
        """The view columns the lookup reads: its `on` keys, then the period's date."""
        return [*self.on, *([self.period.view] if self.period else [])]

    @property
    def period_columns(self) -> list[str]:
        """The related columns the period reads (none without a period)."""
        return self.period.bounds if self.period else []

    @model_validator(mode="before")
    @classmethod
    def _yaml11_on(cls, data: object) -> object:
        """YAML 1.1 loaders (Dagster's among them) read the key `on` as the boolean True."""
        if isinstance(data, dict) and True in data and "on" not in data:
            data = {("on" if k is True else k): v for k, v in data.items()}
        return data


class FlattenSpec(_Strict):
    json_column: Identifier = Field(alias="json")
    prefix: str = ""
    max_depth: int = Field(default=2, ge=1, le=8)


class ExplodeSpec(_Strict):
    """One output row per element of the array at `path`; elements are read with `item:`."""

    json_column: Identifier = Field(alias="json")
    path: JsonPath
    index_column: Identifier = "item_index"


#: The measures a report can compute, with whether they need a column.
MEASURE_FUNCTIONS = ("count", "count_distinct", "sum", "min", "max", "avg")
_MEASURE = re.compile(r"^\s*([a-z_]+)\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)?\s*\)\s*$")


@dataclasses.dataclass(frozen=True)
class Measure:
    """`sum(total)`: the function, and the view column it reads (None for `count()`)."""

    function: str
    column: str | None


def parse_measure(text: str) -> Measure:
    """`count()`, `count_distinct(c)`, `sum(c)`, `min(c)`, `max(c)` or `avg(c)`."""
    match = _MEASURE.match(text)
    if not match or match[1] not in MEASURE_FUNCTIONS:
        raise ValueError(
            f"bad measure {text!r}: use count(), count_distinct(c), sum(c), min(c), max(c) "
            "or avg(c) over a view column"
        )
    function, column = match[1], match[2]
    if function == "count" and column is not None:
        raise ValueError(
            f"bad measure {text!r}: count() takes no column (count_distinct(c) counts values)"
        )
    if function != "count" and column is None:
        raise ValueError(f"bad measure {text!r}: {function}() takes a view column")
    return Measure(function, column)


def _measure(text: str) -> str:
    parse_measure(text)
    return text


MeasureText = Annotated[str, pydantic.AfterValidator(_measure)]


class FreshnessSpec(_Strict):
    warn_after: Duration | None = None
    fail_after: Duration


class ViewSpec(_Strict):
    """A business view: one wide, typed, de-duplicated table per UTC day of `source`'s cursor."""

    name: Identifier
    description: str = ""
    #: The business domain the view belongs to: its asset group in the UI (`views_<domain>`).
    domain: Identifier | None = None
    #: Who answers for the view: the asset's owners in the UI.
    owners: list[Owner] = Field(default_factory=list)
    source: Identifier
    lookups: list[LookupSpec] = Field(default_factory=list)
    columns: dict[Identifier, ColumnSpec] = Field(min_length=1)
    flatten: list[FlattenSpec] = Field(default_factory=list)
    explode: ExplodeSpec | None = None
    unique_key: list[Identifier] = Field(min_length=1)
    destinations: list[Literal["athena", "redshift"]] = Field(default_factory=lambda: ["athena"])
    dist_key: Identifier | None = None
    freshness: FreshnessSpec | None = None
    schedule: str | None = None
    max_reject_ratio: float = Field(default=0.01, ge=0, le=1)
    grain: list[Identifier] = Field(default_factory=list)
    measures: dict[Identifier, MeasureText] = Field(default_factory=dict)
    across_shards: bool = False
    partition_by: Identifier | None = None
    #: With a `mode: cdc` source, `false` keeps each key only on the day of its latest version
    #: (a row that moved to a later day leaves its old day); `true` keeps the version each day
    #: last held (docs/cdc.md).
    history: bool = True
    #: Providers (`sources.yaml` `providers:`) whose latest read the view waits for: its
    #: automation builds it only after they were read, not while one runs or last failed.
    refresh: list[Identifier] = Field(default_factory=list)
    #: Messages sent once per matching row version (docs/notifications.md).
    notifications: list[NotificationRule] = Field(default_factory=list)

    @property
    def is_report(self) -> bool:
        """A view with a report (`grain` and `measures`), aggregated from its current rows."""
        return bool(self.grain or self.measures)

    @property
    def needs_current(self) -> bool:
        """Whether the view keeps its current rows (the latest version of each key across
        days): its report and its second partitioning are built from them."""
        return self.is_report or self.partition_by is not None

    @property
    def measure_specs(self) -> dict[str, Measure]:
        return {name: parse_measure(text) for name, text in self.measures.items()}

    @property
    def computed(self) -> dict[str, str]:
        """Computed columns (name -> expression), in declared order."""
        return {name: c.expr for name, c in self.columns.items() if c.expr}

    @property
    def read_columns(self) -> list[str]:
        """Declared columns read from the row (not computed): they exist before the lookups."""
        return [name for name, c in self.columns.items() if not c.expr]
