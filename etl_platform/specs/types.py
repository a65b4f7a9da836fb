"""The view spec's type names (`int64`, `decimal(12,2)`, ...): their grammar, with no dataframe.

The spec validator needs only to know whether a name is valid; `transform.dtypes` maps a parsed
name to its polars dtype.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Final

#: The type names without parameters, in the order error messages list them.
SIMPLE_TYPES: Final = (
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float32",
    "float64",
    "bool",
    "string",
    "date",
    "timestamp",
    "json",
)
SUPPORTED_TYPES: Final = ", ".join([*SIMPLE_TYPES, "decimal(p,s) with 1<=p<=38, 0<=s<=p"])
"""Valid spec type names, for docs and error messages."""

_DECIMAL = re.compile(r"decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)")


@dataclasses.dataclass(frozen=True)
class TypeName:
    """A parsed spec type: one of `SIMPLE_TYPES`, or `decimal` with its precision and scale."""

    name: str
    precision: int | None = None
    scale: int | None = None


def parse_type_name(text: str) -> TypeName:
    """Parse a spec type name (case and surrounding spaces do not matter).

    Raises:
        ValueError: unknown name or decimal precision/scale out of range; names the type.
    """
    name = text.strip().lower()
    if name in SIMPLE_TYPES:
        return TypeName(name)
    match = _DECIMAL.fullmatch(name)
    if match:
        precision, scale = int(match[1]), int(match[2])
        if 1 <= precision <= 38 and 0 <= scale <= precision:
            return TypeName("decimal", precision, scale)
        raise ValueError(
            f"type `{text}`: decimal needs 1 <= precision <= 38 and 0 <= scale <= precision"
        )
    raise ValueError(f"unknown type `{text}`; valid types: {SUPPORTED_TYPES}")
