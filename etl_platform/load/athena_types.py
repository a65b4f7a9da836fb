"""Arrow types as Athena (Glue) declares them, and the Parquet Athena can read back.

Neither Athena nor Redshift has an unsigned 64-bit integer: uint64 is stored as decimal(20,0),
and the smaller unsigned types are widened to the next signed one, in the files and the catalog
alike, so what the catalog declares is what the files hold.
"""

from __future__ import annotations

import pyarrow as pa

_WIDER = {
    pa.uint8(): pa.int16(),
    pa.uint16(): pa.int32(),
    pa.uint32(): pa.int64(),
    pa.uint64(): pa.decimal128(20, 0),
}
_NAMES = {
    pa.int8(): "tinyint",
    pa.int16(): "smallint",
    pa.int32(): "int",
    pa.int64(): "bigint",
    pa.float32(): "float",
    pa.float64(): "double",
    pa.bool_(): "boolean",
    pa.date32(): "date",
}


def storable(arrow: pa.DataType) -> pa.DataType:
    """The Arrow type a column is written as for Athena."""
    if arrow in _WIDER:
        return _WIDER[arrow]
    if pa.types.is_large_string(arrow) or pa.types.is_string_view(arrow):
        return pa.string()
    if pa.types.is_large_binary(arrow) or pa.types.is_binary_view(arrow):
        return pa.binary()
    if pa.types.is_timestamp(arrow):
        return pa.timestamp("us", tz="UTC")
    return arrow


def athena_type(arrow: pa.DataType, *, column: str = "?") -> str:
    """The Glue/Athena column type for an Arrow type; an unknown one names the column."""
    arrow = storable(arrow)
    if arrow in _NAMES:
        return _NAMES[arrow]
    if pa.types.is_decimal(arrow):
        if arrow.precision > 38:
            raise TypeError(
                f"column {column}: decimal({arrow.precision},{arrow.scale}) is wider "
                "than Athena's 38 digits"
            )
        return f"decimal({arrow.precision},{arrow.scale})"
    if pa.types.is_string(arrow):
        return "string"
    if pa.types.is_binary(arrow):
        return "binary"
    if pa.types.is_timestamp(arrow):
        return "timestamp"
    raise TypeError(f"column {column}: Arrow type {arrow} has no Athena type")


def to_storable(table: pa.Table) -> pa.Table:
    """Cast every column to what Athena reads (see `storable`)."""
    schema = pa.schema([pa.field(f.name, storable(f.type)) for f in table.schema])
    return table.cast(schema)
