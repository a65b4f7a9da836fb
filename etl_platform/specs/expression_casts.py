"""The spec type a computed column's CAST target stands for (`INT` is `int32`,
`DECIMAL(12,2)` is `decimal(12,2)`), for the checker in `specs.expressions` and the compiler in
`transform.expressions`.
"""

from __future__ import annotations

from typing import Final

from sqlglot import exp

from etl_platform.specs.expression_text import int_literal
from etl_platform.specs.types import SIMPLE_TYPES, parse_type_name

_SQL_TYPES: Final = {
    exp.DataType.Type.TINYINT: "int8",
    exp.DataType.Type.SMALLINT: "int16",
    exp.DataType.Type.MEDIUMINT: "int32",
    exp.DataType.Type.INT: "int32",
    exp.DataType.Type.BIGINT: "int64",
    exp.DataType.Type.UTINYINT: "uint8",
    exp.DataType.Type.USMALLINT: "uint16",
    exp.DataType.Type.UMEDIUMINT: "uint32",
    exp.DataType.Type.UINT: "uint32",
    exp.DataType.Type.UBIGINT: "uint64",
    exp.DataType.Type.FLOAT: "float32",
    exp.DataType.Type.DOUBLE: "float64",
    exp.DataType.Type.BOOLEAN: "bool",
    exp.DataType.Type.TEXT: "string",
    exp.DataType.Type.VARCHAR: "string",
    exp.DataType.Type.CHAR: "string",
    exp.DataType.Type.NCHAR: "string",
    exp.DataType.Type.NVARCHAR: "string",
    exp.DataType.Type.DATE: "date",
    exp.DataType.Type.DATETIME: "timestamp",
    exp.DataType.Type.TIMESTAMP: "timestamp",
    exp.DataType.Type.TIMESTAMPTZ: "timestamp",
    exp.DataType.Type.TIMESTAMPLTZ: "timestamp",
    exp.DataType.Type.TIMESTAMPNTZ: "timestamp",
}
_CAST_TYPES: Final = (
    "int8..int64, uint8..uint64, float32, float64, bool, string, date, timestamp, "
    "decimal(p,s), or INT, BIGINT, SMALLINT, TINYINT, DOUBLE, FLOAT, BOOLEAN, VARCHAR, TEXT, "
    "DATE, TIMESTAMP, DATETIME, DECIMAL(p,s)"
)


def cast_type_name(to: exp.DataType) -> str:
    """The spec type name (`int32`, `decimal(12,2)`, ...) a CAST's target type stands for.

    Raises:
        ValueError: a type without a spec type; lists the valid ones.
    """
    kind = to.this
    if kind == exp.DataType.Type.DECIMAL:
        return _decimal_type_name(to)
    if kind in _SQL_TYPES:
        return _SQL_TYPES[kind]
    name = str(to.args.get("kind") or "").lower()
    if kind == exp.DataType.Type.USERDEFINED and name in SIMPLE_TYPES and name != "json":
        return name
    raise ValueError(f"CAST to {to.sql()} is not allowed; types: {_CAST_TYPES}")


def _decimal_type_name(to: exp.DataType) -> str:
    params = [int_literal(p.this) for p in to.expressions]
    if not params or None in params or len(params) > 2:
        raise ValueError(
            f"CAST to {to.sql()}: give DECIMAL a precision and scale, e.g. DECIMAL(12,2)"
        )
    precision, scale = (*params, 0)[:2]
    name = f"decimal({precision},{scale})"
    parse_type_name(name)
    return name
