"""Durations in config files: `15m`, `2h`, `1d`, `30s`, or a number of seconds."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

import pydantic

_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(value: str | int) -> dt.timedelta:
    """`15m`, `2h`, `1d`, `30s`, or a number of seconds."""
    if isinstance(value, int):
        return dt.timedelta(seconds=value)
    m = _DURATION.match(value.strip())
    if not m:
        raise ValueError(f"bad duration {value!r}: use a number and s, m, h or d (e.g. 15m)")
    return dt.timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


def _duration(value: str | int) -> str | int:
    parse_duration(value)
    return value


Duration = Annotated[str | int, pydantic.AfterValidator(_duration)]
