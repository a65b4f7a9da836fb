"""The view spec's types as polars dtypes, and casting JSON path text and source columns to them
with a wrong-type mask. The names' grammar is `specs.types`, so spec validation needs no
dataframe library.

JSON readers (`json_read.read_paths`, polars' `str.json_path_match`) hand back every JSON
value as text (numbers and booleans as their literal, strings unquoted, objects/arrays as
compact JSON). `cast_strings` turns that text
into the declared type and says which non-null values did not fit, so callers can reject
those rows instead of silently storing nulls.
"""

from __future__ import annotations

from typing import Final, overload

import polars as pl

from etl_platform.specs.types import SUPPORTED_TYPES, parse_type_name
from etl_platform.transform._jsonpath import describe_value

JSON: Final = pl.Extension("etl_platform.json", pl.String())
"""Marker dtype for the spec type `json`: the column holds JSON text (stored as pl.String).

Polars has no JSON dtype and `pl.String` must keep meaning `string`, so `json` is this
extension *marker*. It is never put in a frame: `storage_dtype` gives the real column dtype.
"""

_SIMPLE: Final[dict[str, pl.DataType]] = {
    "int8": pl.Int8(),
    "int16": pl.Int16(),
    "int32": pl.Int32(),
    "int64": pl.Int64(),
    "uint8": pl.UInt8(),
    "uint16": pl.UInt16(),
    "uint32": pl.UInt32(),
    "uint64": pl.UInt64(),
    "float32": pl.Float32(),
    "float64": pl.Float64(),
    "bool": pl.Boolean(),
    "string": pl.String(),
    "date": pl.Date(),
    "timestamp": pl.Datetime("us", "UTC"),
    "json": JSON,
}


def parse_type(text: str) -> pl.DataType:
    """Polars dtype for a spec type name (`timestamp` is UTC microseconds, `json` is `JSON`).

    Raises:
        ValueError: unknown name or decimal precision/scale out of range; names the type.
    """
    parsed = parse_type_name(text)
    if parsed.name == "decimal":
        return pl.Decimal(parsed.precision, parsed.scale)
    return _SIMPLE[parsed.name]


def type_name(dtype: pl.DataType) -> str:
    """The spec name of a dtype made by `parse_type` (used in reject reasons)."""
    if isinstance(dtype, pl.Decimal):
        return f"decimal({dtype.precision},{dtype.scale})"
    for name, candidate in _SIMPLE.items():
        if dtype == candidate:
            return name
    return str(dtype)


def storage_dtype(dtype: pl.DataType) -> pl.DataType:
    """The dtype a column of this spec type has in a frame (`JSON` is stored as String)."""
    return pl.String() if dtype == JSON else dtype


_INTEGER = r"^-?\d+$"
_NUMBER = r"^-?\d+(\.\d+)?([eE][+-]?\d+)?$"
_DECIMAL_PARTS = r"^-?\d+(?:\.(\d*?)0*)?(?:[eE]([+-]?\d+))?$"
_DATE = r"^\d{4}-\d{2}-\d{2}$"
_TIMESTAMP = (
    r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2})?(\.\d{1,9})?(Z|z|[+-]\d{2}(?::?\d{2})?)?$"
)


@overload
def cast_strings(values: pl.Expr, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr]: ...
@overload
def cast_strings(values: pl.Series, dtype: pl.DataType) -> tuple[pl.Series, pl.Series]: ...
def cast_strings(
    values: pl.Expr | pl.Series, dtype: pl.DataType
) -> tuple[pl.Expr, pl.Expr] | tuple[pl.Series, pl.Series]:
    """Cast JSON path text to `dtype`; return (typed values, wrong-type mask).

    The mask is True where the text is non-null but is not a value of the type; the typed
    value is then null. Rules: integers only from integer literals ("12.0" is wrong, as is
    overflow), floats from JSON number literals (infinite results are wrong), decimals only
    when no digit is lost to the scale, bool from `true`/`false`, date `YYYY-MM-DD`,
    timestamp ISO-8601 with optional seconds, fraction and offset (naive means UTC; beyond
    microseconds is truncated), string: anything but an object/array, json: anything.
    Numbers given as strings ("12") are accepted: this works on text and cannot tell them
    apart (extract_json_fields refines `string`/`json` with the source document).
    """
    if isinstance(values, pl.Series):
        typed_expr, wrong_expr = cast_strings(pl.col("v"), dtype)
        frame = pl.select(values.alias("v")).select(typed_expr.alias("t"), wrong_expr.alias("w"))
        typed, wrong = frame.to_series(0), frame.to_series(1)
        return typed.alias(values.name), wrong.alias(values.name)
    typed, ok = _cast_expr(values, dtype)
    return typed, values.is_not_null() & ~ok.fill_null(False)


def _cast_expr(text: pl.Expr, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr]:
    """(typed, ok) for non-null text; `ok` may be null for null text."""
    if dtype == JSON:
        return text, pl.lit(True)
    if dtype == pl.String:
        container = text.str.starts_with("{") | text.str.starts_with("[")
        return text, ~(container & text.str.json_path_match("$").is_not_null())
    if dtype == pl.Boolean:
        typed = pl.when(text == "true").then(True).when(text == "false").then(False)
        return typed, typed.is_not_null()
    if dtype.is_integer():
        typed = pl.when(text.str.contains(_INTEGER)).then(text).cast(dtype, strict=False)
        return typed, typed.is_not_null()
    if dtype.is_float():
        number = pl.when(text.str.contains(_NUMBER)).then(text).cast(dtype, strict=False)
        typed = pl.when(number.is_finite()).then(number)
        return typed, typed.is_not_null()
    if isinstance(dtype, pl.Decimal):
        return _cast_decimal(text, dtype)
    if dtype == pl.Date:
        typed = pl.when(text.str.contains(_DATE)).then(text).str.to_date("%Y-%m-%d", strict=False)
        return typed, typed.is_not_null()
    if isinstance(dtype, pl.Datetime):
        typed = _parse_timestamp(text).dt.cast_time_unit(dtype.time_unit)
        typed = typed.dt.convert_time_zone(dtype.time_zone or "UTC")
        return typed, typed.is_not_null()
    raise ValueError(f"cannot cast JSON text to {dtype}; valid types: {SUPPORTED_TYPES}")


def _cast_decimal(text: pl.Expr, dtype: pl.Decimal) -> tuple[pl.Expr, pl.Expr]:
    """Decimal from a number literal, wrong when rounding to the scale would lose digits.

    Nearly every value is plain (`39.80`, `39.8`, `39`): one regex settles those, and the
    parsing of exponents and trailing digits runs on the rest alone (null elsewhere, so the
    regexes skip those rows), which keeps the common case cheap.
    """
    scale = dtype.scale or 0
    fraction = rf"\.\d{{1,{scale}}}0*" if scale else r"\.0+"
    plain = text.str.contains(rf"^-?\d+(?:{fraction})?$")
    other = pl.when(~plain).then(text)
    fits_scale = _decimals(other) <= scale
    is_number = other.str.contains(_NUMBER)
    typed = pl.when(plain | (is_number & fits_scale)).then(text).cast(dtype, strict=False)
    return typed, typed.is_not_null()


def _decimals(text: pl.Expr) -> pl.Expr:
    """Digits after the point that a number literal needs, trailing zeros and exponent
    counted (`1.2300` needs 2, `1.5e-3` needs 4, `12e2` none); 0 for null text."""
    parts = text.str.extract_groups(_DECIMAL_PARTS)
    fraction_digits = parts.struct[0].fill_null("").str.len_chars().cast(pl.Int64)
    exponent = parts.struct[1].cast(pl.Int64, strict=False).fill_null(0)
    return fraction_digits - exponent


def _parse_timestamp(text: pl.Expr) -> pl.Expr:
    """Parse ISO-8601 text into UTC microseconds; null when it is not one."""
    parts = text.str.extract_groups(_TIMESTAMP)
    offset = parts.struct[4]
    offset = (
        pl.when(offset.is_null() | offset.str.to_uppercase().eq("Z"))
        .then(pl.lit("+00:00"))
        .when(offset.str.len_chars() == 3)
        .then(offset + ":00")
        .otherwise(offset)
    )
    normalised = pl.concat_str(
        parts.struct[0],
        pl.lit("T"),
        parts.struct[1],
        parts.struct[2].fill_null(":00"),
        parts.struct[3].fill_null(""),
        offset,
    )
    return normalised.str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.f%z", time_unit="us", time_zone="UTC", strict=False
    )


def cast_source(
    values: pl.Expr, source: pl.DataType, dtype: pl.DataType
) -> tuple[pl.Expr, pl.Expr]:
    """Cast a source column of dtype `source` to `dtype`; return (typed values, wrong mask).

    The mask is True where a non-null value would not come over as it is, so the row is
    rejected instead of stored rounded or null: integers and decimals take a number only when
    casting it back gives the same number (no scale lost, no fraction cut, no overflow);
    floats take any number, rounded to the nearest float as floats are, but not an overflow to
    infinity; text becomes a number by `cast_strings`' rules; other casts only
    fail when a value becomes null. `cast_failure` says why, for the rejected rows alone.
    """
    if source == dtype:
        return values, pl.repeat(False, pl.len())
    if source == pl.String and dtype.is_numeric():
        return cast_strings(values, dtype)
    typed = values.cast(dtype, strict=False)
    lost = typed.is_null()
    if source.is_numeric() and (dtype.is_integer() or isinstance(dtype, pl.Decimal)):
        lost = (typed.cast(source, strict=False) != values).fill_null(True)
    elif source.is_numeric() and dtype.is_float():
        overflow = typed.is_infinite() & (values.is_finite() if source.is_float() else True)
        lost = lost | overflow.fill_null(False)
    return typed, values.is_not_null() & lost


def cast_failure(values: pl.Expr, source: pl.DataType, dtype: pl.DataType) -> pl.Expr:
    """Why `cast_source` refused a value, e.g. `1.2345 does not fit decimal(12,2) without
    rounding` or `"abc" is not a number`: text is quoted, numbers are not."""
    name = type_name(dtype)
    if source == pl.String:
        shown = describe_value(values)
    else:
        shown = values.cast(pl.String, strict=False).fill_null("the value")
    does_not_fit = shown + pl.lit(f" does not fit {name}")
    rounds = pl.lit(False)
    if source == pl.String and dtype.is_numeric():
        number = values.str.contains(_NUMBER)
        if dtype.is_integer():
            whole = values.str.contains(_INTEGER)
            return (
                pl.when(~number)
                .then(shown + pl.lit(" is not a number"))
                .when(~whole)
                .then(shown + pl.lit(" is not an integer"))
                .otherwise(does_not_fit)
            )
        if isinstance(dtype, pl.Decimal):
            rounds = _decimals(values) > (dtype.scale or 0)
        return (
            pl.when(~number)
            .then(shown + pl.lit(" is not a number"))
            .when(rounds)
            .then(does_not_fit + pl.lit(" without rounding"))
            .otherwise(does_not_fit)
        )
    if source.is_numeric() and (dtype.is_integer() or isinstance(dtype, pl.Decimal)):
        rounds = values.cast(dtype, strict=False).is_not_null()
    return pl.when(rounds).then(does_not_fit + pl.lit(" without rounding")).otherwise(does_not_fit)
