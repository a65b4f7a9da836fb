"""MySQL column types to Arrow types, and the vectorised conversion of the server's text.

Values arrive as the server's text (see `connection.RAW_TEXT_CONVERSIONS`) and are typed here a
column at a time with Arrow casts: no per-value Python for the common types.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Sequence
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

from etl_platform.identifiers import quote_mysql

Kind = Literal[
    "bool",
    "int",
    "float",
    "decimal",
    "date",
    "datetime",
    "timestamp",
    "time",
    "string",
    "binary",
    "bits",
]


class UnsupportedTypeError(TypeError):
    pass


class ValueConversionError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class ColumnInfo:
    """A column as `information_schema.COLUMNS` describes it."""

    name: str
    data_type: str  # e.g. "decimal"
    column_type: str  # e.g. "decimal(12,2) unsigned"
    numeric_precision: int | None = None
    numeric_scale: int | None = None
    datetime_precision: int | None = None
    nullable: bool = True


@dataclasses.dataclass(frozen=True)
class ColumnPlan:
    """How one column is selected and typed."""

    column: ColumnInfo
    kind: Kind
    arrow_type: pa.DataType

    @property
    def select_expr(self) -> str:
        quoted = quote_mysql(self.column.name)
        if self.kind == "bits":
            # BIT values come back as raw bytes the driver cannot decode as text: select a number.
            return f"CAST({quoted} AS UNSIGNED) AS {quoted}"
        return quoted


_INT_TYPES = {
    "tinyint": (pa.int8(), pa.uint8()),
    "smallint": (pa.int16(), pa.uint16()),
    "mediumint": (pa.int32(), pa.uint32()),
    "int": (pa.int32(), pa.uint32()),
    "integer": (pa.int32(), pa.uint32()),
    "bigint": (pa.int64(), pa.uint64()),
}
_STRING_TYPES = {
    "char",
    "varchar",
    "tinytext",
    "text",
    "mediumtext",
    "longtext",
    "enum",
    "set",
    "json",
    "uuid",
    "inet4",
    "inet6",
}
_BINARY_TYPES = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}
_TIMESTAMP_UTC = pa.timestamp("us", tz="UTC")


def plan_column(col: ColumnInfo, *, table: str) -> ColumnPlan:
    """Choose the Arrow type for a column; a type without a faithful mapping is an error.

    NOTE: the order matters. `tinyint(1)` is checked before the other integers because MySQL
    uses it for booleans; `bit(1)` before other bits for the same reason; `unsigned` picks the
    unsigned Arrow type so BIGINT UNSIGNED above 2^63 does not overflow.
    """
    data_type = col.data_type.lower()
    column_type = col.column_type.lower()
    unsigned = "unsigned" in column_type
    if data_type == "tinyint" and column_type.startswith("tinyint(1)"):
        return ColumnPlan(col, "bool", pa.bool_())
    if data_type in _INT_TYPES:
        signed_type, unsigned_type = _INT_TYPES[data_type]
        return ColumnPlan(col, "int", unsigned_type if unsigned else signed_type)
    if data_type == "bit":
        width = _width(column_type) or 1
        return ColumnPlan(col, "bits", pa.bool_() if width == 1 else pa.uint64())
    if data_type == "year":
        return ColumnPlan(col, "int", pa.int16())
    if data_type in ("decimal", "numeric"):
        precision = col.numeric_precision or 10
        scale = col.numeric_scale or 0
        arrow = (
            pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
        )
        return ColumnPlan(col, "decimal", arrow)
    if data_type == "float":
        return ColumnPlan(col, "float", pa.float32())
    if data_type in ("double", "real", "double precision"):
        return ColumnPlan(col, "float", pa.float64())
    if data_type == "date":
        return ColumnPlan(col, "date", pa.date32())
    if data_type == "datetime":
        return ColumnPlan(col, "datetime", _TIMESTAMP_UTC)
    if data_type == "timestamp":
        return ColumnPlan(col, "timestamp", _TIMESTAMP_UTC)
    if data_type == "time":
        return ColumnPlan(col, "time", pa.duration("us"))
    if data_type in _STRING_TYPES:
        return ColumnPlan(col, "string", pa.large_string())
    if data_type in _BINARY_TYPES:
        return ColumnPlan(col, "binary", pa.large_binary())
    raise UnsupportedTypeError(
        f"column `{col.name}` of table `{table}` has MySQL type {col.column_type!r}, which has "
        f"no faithful Arrow type; leave it out with tables.{table}.exclude_columns"
    )


def _width(column_type: str) -> int | None:
    m = re.search(r"\((\d+)\)", column_type)
    return int(m.group(1)) if m else None


# A zero or partly zero date, as MySQL prints it when NO_ZERO_DATE/NO_ZERO_IN_DATE are off.
_ZERO_DATE = r"^0000-|^\d{4}-00-|^\d{4}-\d{2}-00"


@dataclasses.dataclass
class ConversionStats:
    """What conversion noticed, per column: zero dates turned into nulls."""

    zero_dates: dict[str, int] = dataclasses.field(default_factory=dict)

    def add_zero_dates(self, column: str, n: int) -> None:
        if n:
            self.zero_dates[column] = self.zero_dates.get(column, 0) + n


def convert_column(
    plan: ColumnPlan,
    values: Sequence[object] | pa.Array,
    *,
    timezone: str,
    table: str,
    stats: ConversionStats,
) -> pa.Array:
    """Type one column of a batch; errors name the table, column and an offending value.

    `values` is the server's text of one column: a Python sequence (str, or bytes for binary
    columns), or an Arrow string/binary array (what the C and Rust drivers hand over; a binary
    array of a text column is checked to be UTF-8 by the cast).
    """
    name = plan.column.name
    arrow_in = isinstance(values, pa.Array)
    try:
        if plan.kind == "binary":
            return (
                values.cast(pa.large_binary()) if arrow_in else pa.array(values, pa.large_binary())
            )
        if plan.kind == "time":
            texts = values.cast(pa.large_string()).to_pylist() if arrow_in else values
            return pa.array([_parse_time(v) for v in texts], pa.duration("us"))
        if arrow_in and _is_number(values.type) and plan.kind in _FROM_NUMBERS:
            text = values  # a driver's exact number: cast it, no detour through text
        elif arrow_in:
            text = values.cast(pa.large_string())
        else:
            text = pa.array(values, pa.large_string())
        if plan.kind == "string":
            return text
        if plan.kind in ("int", "float", "decimal"):
            return text.cast(plan.arrow_type)
        if plan.kind in ("bool", "bits"):
            numbers = text.cast(pa.uint64())
            if plan.arrow_type == pa.bool_():
                _require_flag(numbers, name, table)
                return numbers.cast(pa.bool_())
            return numbers
        if plan.kind in ("date", "datetime", "timestamp"):
            zero = pc.fill_null(pc.match_substring_regex(text, _ZERO_DATE), False)
            stats.add_zero_dates(name, pc.sum(zero).as_py() or 0)
            text = pc.if_else(zero, pa.scalar(None, pa.large_string()), text)
            if plan.kind == "date":
                return text.cast(pa.date32())
            naive = text.cast(pa.timestamp("us"))
            if plan.kind == "datetime" and timezone != "UTC":
                # The repeated hour of a DST fall-back cannot be told apart in a naive DATETIME:
                # take the first occurrence, as MySQL's CONVERT_TZ does, rather than fail the day.
                local = pc.assume_timezone(
                    naive, timezone, ambiguous="earliest", nonexistent="earliest"
                )
                return local.cast(_TIMESTAMP_UTC)
            return naive.cast(_TIMESTAMP_UTC)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as e:
        raise ValueConversionError(
            f"table `{table}` column `{name}` ({plan.column.column_type}): cannot convert to "
            f"{plan.arrow_type}: {e}"
        ) from e
    raise AssertionError(f"unhandled kind {plan.kind}")


_FROM_NUMBERS = frozenset({"int", "float", "bool", "bits"})


def _is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t)


def _require_flag(numbers: pa.Array, column: str, table: str) -> None:
    bad = pc.fill_null(pc.greater(numbers, 1), False)
    if pc.any(bad).as_py():
        example = numbers.filter(bad)[0].as_py()
        raise ValueConversionError(
            f"table `{table}` column `{column}` is TINYINT(1)/BIT(1), read as boolean, "
            f"but holds {example}; declare it wider in MySQL or exclude it"
        )


def _parse_time(value: object) -> dt.timedelta | None:
    """MySQL TIME is a signed duration up to 838:59:59.999999, not a time of day."""
    if value is None:
        return None
    text = str(value)
    sign = -1 if text.startswith("-") else 1
    hours, minutes, seconds = text.lstrip("-").split(":")
    whole, _, frac = seconds.partition(".")
    micros = int((frac + "000000")[:6]) if frac else 0
    return sign * dt.timedelta(
        hours=int(hours), minutes=int(minutes), seconds=int(whole), microseconds=micros
    )


def arrow_schema(plans: Sequence[ColumnPlan]) -> pa.Schema:
    return pa.schema([pa.field(p.column.name, p.arrow_type, nullable=True) for p in plans])
