"""Row-event values typed as the batch extract types them.

`pymysqlreplication` decodes a row event into Python values; the batch extract types the
server's text. Each value is rendered here as the text the server would have sent for it and
then typed by `types.convert_column`, so both routes share one MySQL → Arrow mapping (and the
batch's quirks: FLOAT keeps the six significant digits the server prints, zero dates are null).

Known limits of the decoded values (mysql-replication 1.0.17):

* MySQL's binary JSON (MariaDB's JSON is text and is exact) is printed back in MySQL's layout
  (`{"k": v}`, keys in stored order). Doubles inside it are Python's shortest form
  (`1e300`, `0.1`), which may differ from MySQL's for very large or small numbers; an opaque
  DATE inside it reads as a DATETIME, an opaque TIME loses its sign, a top-level JSON `null`
  document reads as SQL NULL, and a partial JSON update (`binlog_row_value_options`) cannot be
  rendered at all.
* An empty SET and a zero or out-of-range date arrive as None, like NULL; `with_none_sources`
  tells them apart with the row's `none_sources`. Without it, an empty SET is NULL unless the
  column is NOT NULL.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import struct
import uuid
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

import pyarrow as pa
from pymysqlreplication.constants import NONE_SOURCE

from etl_platform.extract.types import (
    ColumnPlan,
    ConversionStats,
    ValueConversionError,
    arrow_schema,
    convert_column,
)

#: MySQL's zero date as it prints it: `convert_column` makes it null and counts it.
ZERO_DATE = "0000-00-00 00:00:00"

_OUT_OF_RANGE = frozenset(
    {
        NONE_SOURCE.OUT_OF_DATE_RANGE,
        NONE_SOURCE.OUT_OF_DATETIME_RANGE,
        NONE_SOURCE.OUT_OF_DATETIME2_RANGE,
    }
)
#: TIMESTAMP's zero value is stored as 0 seconds since the epoch, which TIMESTAMP cannot hold.
_EPOCH = dt.datetime(1970, 1, 1)
#: YEAR's zero value (`0000`) is stored as 0, which the library returns as 1900.
_YEAR_ZERO = 1900
#: MariaDB's fixed-width binary types read as text, and their widths: the binlog drops the
#: trailing zero bytes of these and of BINARY(n).
_FIXED_BINARY = {"uuid": 16, "inet4": 4, "inet6": 16}
_MISSING = object()


def binlog_table(
    plans: Sequence[ColumnPlan],
    rows: Sequence[Mapping[str, object]],
    *,
    timezone: str,
    table: str,
    stats: ConversionStats,
) -> pa.Table:
    """Rows decoded from row events, typed as the batch extract types them (schema =
    extract.types.arrow_schema(plans)).

    A column of `plans` that a row lacks (added after the event) is null in that row; a value
    that cannot be typed raises `ValueConversionError` naming the table and column.
    """
    arrays = []
    for plan in plans:
        name = plan.column.name
        try:
            texts = [_render_present(plan, row.get(name, _MISSING)) for row in rows]
        except (TypeError, ValueError) as e:
            raise ValueConversionError(
                f"table `{table}` column `{name}` ({plan.column.column_type}): cannot read "
                f"the binlog value: {e}"
            ) from e
        arrays.append(convert_column(plan, texts, timezone=timezone, table=table, stats=stats))
    return pa.Table.from_arrays(arrays, schema=arrow_schema(plans))


def with_none_sources(
    values: Mapping[str, object], none_sources: Mapping[str, str]
) -> dict[str, object]:
    """A row's values with the Nones that are not NULL put back, from the library's
    `none_sources` (`row["none_sources"]`, or `before_`/`after_none_sources` of an update):
    an empty SET as an empty set, a zero or out-of-range date as MySQL's zero date."""
    row = dict(values)
    for name, source in none_sources.items():
        if row.get(name) is not None:
            continue
        if source == NONE_SOURCE.EMPTY_SET:
            row[name] = frozenset()
        elif source in _OUT_OF_RANGE:
            row[name] = ZERO_DATE
    return row


def _render_present(plan: ColumnPlan, value: object) -> str | bytes | None:
    return None if value is _MISSING else render_text(plan, value)


def render_text(plan: ColumnPlan, value: object) -> str | bytes | None:
    """One value as pymysqlreplication decodes it, as the server's text for `plan`'s column
    (bytes for binary columns); None is NULL."""
    if value is None:
        # A NOT NULL SET can only be empty: the library decodes an empty SET as None.
        if plan.column.data_type.lower() == "set" and not plan.column.nullable:
            return ""
        return None
    if isinstance(value, str) and plan.kind in ("date", "datetime", "timestamp"):
        return value  # the zero date put back by `with_none_sources`
    render = _RENDER.get(plan.kind)
    if render is None:
        raise TypeError(f"no rendering for columns of kind {plan.kind}")
    return render(plan, value)


def _binary(plan: ColumnPlan, value: object) -> bytes:
    data = _bytes(value)
    data_type = plan.column.data_type.lower()
    if data_type == "binary":
        return data.ljust(_width(plan.column.column_type) or 1, b"\0")
    return data


def _bytes(value: object) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):  # the library hands an empty binary value over as ""
        return value.encode()
    raise TypeError(f"expected bytes, got {type(value).__name__}")


def _bits(plan: ColumnPlan, value: object) -> str:
    """BIT arrives as a string of 0s and 1s; TINYINT(1) as an int."""
    if isinstance(value, str):
        return str(int(value, 2)) if value else "0"
    return str(int(_number(value)))


def _int(plan: ColumnPlan, value: object) -> str:
    number = int(_number(value))
    if plan.column.data_type.lower() == "year" and number == _YEAR_ZERO:
        return "0"
    return str(number)


def _number(value: object) -> int | float | Decimal:
    if isinstance(value, bool | int | float | Decimal):
        return value
    raise TypeError(f"expected a number, got {type(value).__name__}")


def _float(plan: ColumnPlan, value: object) -> str:
    """What the server prints: FLOAT(M,D)/DOUBLE(M,D) with D decimals, FLOAT with six
    significant digits, DOUBLE exactly."""
    number = float(_number(value))
    scale = re.search(r"\(\d+,(\d+)\)", plan.column.column_type)
    if scale:
        return f"{number:.{int(scale.group(1))}f}"
    if plan.arrow_type == pa.float32():
        return f"{number:.6g}"
    return repr(number)


def _decimal(plan: ColumnPlan, value: object) -> str:
    number = _number(value)
    return format(number, "f") if isinstance(number, Decimal) else str(number)


def _date(plan: ColumnPlan, value: object) -> str:
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        raise TypeError(f"expected a date, got {type(value).__name__}")
    return value.isoformat()


def _datetime(plan: ColumnPlan, value: object) -> str:
    """DATETIME is the shard's wall clock (`convert_column` applies the zone); TIMESTAMP is
    the library's naive UTC, which is how the batch reads it (a UTC session)."""
    if not isinstance(value, dt.datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is not None:
        if plan.kind != "timestamp":
            raise TypeError("a DATETIME value cannot carry a time zone")
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    if plan.kind == "timestamp" and value == _EPOCH:
        return ZERO_DATE
    return value.isoformat(sep=" ", timespec="microseconds")


def _time(plan: ColumnPlan, value: object) -> str:
    """[-]H:MM:SS.ffffff. The library (1.0.17) decodes a negative TIME with a fraction with
    the fraction's complement (-00:00:01.25 as -00:00:01.75): it is complemented back."""
    if not isinstance(value, dt.timedelta):
        raise TypeError(f"expected a timedelta, got {type(value).__name__}")
    micros = value // dt.timedelta(microseconds=1)
    sign = "-" if micros < 0 else ""
    seconds, fraction = divmod(abs(micros), 1_000_000)
    if sign and fraction:
        fraction = 1_000_000 - fraction
    return f"{sign}{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{fraction:06d}"


def _string(plan: ColumnPlan, value: object) -> str:
    data_type = plan.column.data_type.lower()
    if isinstance(value, set | frozenset):
        return ",".join(_set_order(plan.column.column_type, value))
    if data_type == "json" and not isinstance(value, str):
        return mysql_json_text(value)
    if data_type in _FIXED_BINARY:
        return _fixed_binary_text(data_type, _bytes(value))
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode()
    if isinstance(value, str):
        return value
    return str(value)


def _set_order(column_type: str, members: Iterable[str]) -> list[str]:
    """SET members in the column's defined order, as the server prints them."""
    defined = [m.replace("''", "'") for m in re.findall(r"'((?:[^']|'')*)'", column_type)]
    index = {m: i for i, m in enumerate(defined)}
    return sorted(members, key=lambda m: (index.get(m, len(defined)), m))


def _fixed_binary_text(data_type: str, data: bytes) -> str:
    """MariaDB's UUID, INET4 and INET6, as it prints them."""
    data = data.ljust(_FIXED_BINARY[data_type], b"\0")
    if data_type == "uuid":
        return str(uuid.UUID(bytes=data))
    if data_type == "inet4":
        return str(ipaddress.IPv4Address(data))
    return _inet6_text(data)


def _inet6_text(data: bytes) -> str:
    """MariaDB's INET6 text: the longest run of zero words (the first of equals), even a
    single one, is `::`; IPv4-compatible and IPv4-mapped addresses keep the dotted quad."""
    words = struct.unpack(">8H", data)
    start, length, run = -1, 0, -1
    for i, word in enumerate((*words, 1)):
        if word == 0 and run < 0:
            run = i
        elif word != 0 and run >= 0:
            if i - run > length:
                start, length = run, i - run
            run = -1
    if start == 0 and (length == 6 or (length == 5 and words[5] == 0xFFFF)):
        return ("::" if length == 6 else "::ffff:") + str(ipaddress.IPv4Address(data[12:]))
    if start < 0:
        return ":".join(f"{w:x}" for w in words)
    head = ":".join(f"{w:x}" for w in words[:start])
    tail = ":".join(f"{w:x}" for w in words[start + length :])
    return f"{head}::{tail}"


def mysql_json_text(value: object) -> str:
    """MySQL's binary JSON, as the library decodes it, in the layout MySQL prints it."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value).replace("e+", "e")
        return re.sub(r"e(-?)0+(\d)", r"e\1\2", text)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bytes | bytearray):
        return _json_string(bytes(value).decode())
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, dt.datetime):
        return _json_string(value.isoformat(sep=" ", timespec="microseconds"))
    if isinstance(value, dt.time):
        return _json_string(value.isoformat(timespec="microseconds"))
    if isinstance(value, Mapping):
        items = (
            f"{mysql_json_text(k if isinstance(k, str) else bytes(k))}: {mysql_json_text(v)}"
            for k, v in value.items()
        )
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(mysql_json_text(v) for v in value) + "]"
    raise TypeError(f"cannot print {type(value).__name__} as JSON")


def _json_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _width(column_type: str) -> int | None:
    m = re.search(r"\((\d+)\)", column_type)
    return int(m.group(1)) if m else None


_RENDER = {
    "binary": _binary,
    "bool": _bits,
    "bits": _bits,
    "int": _int,
    "float": _float,
    "decimal": _decimal,
    "date": _date,
    "datetime": _datetime,
    "timestamp": _datetime,
    "time": _time,
    "string": _string,
}
