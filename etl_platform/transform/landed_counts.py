"""Reconcile a raw window with its shard, day by day: rows and a key checksum on both sides.

Pure. The shard's side is `extract.window_counts` (`BIT_XOR(CRC32(key text))` per UTC day);
the lake's side is the same XOR of `zlib.crc32` over the landed keys' text, so both sides agree
on the text of a key: an integer's decimal digits, a string's UTF-8 bytes, a binary's bytes.

The shard is counted twice, just before and just after the read. A day whose counts moved was
written meanwhile: no count taken outside the read's snapshot is its truth, so it is reported
as unsettled, not as a difference (the next read of the day compares again). A day whose two
counts agree is compared with the lake, but agreeing counts do not prove the day was left
alone: an insert and a delete during the read leave the count as it was while the read's
snapshot may hold either. With a key checksum those writes move the checksum too, so the day is
unsettled; without one (a composite key) a small difference on such a day says so in its
description, as it may come from writes during the read rather than a lost row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import operator
import zlib
from collections.abc import Iterable, Mapping

import pyarrow as pa

#: A difference up to this many rows (or 1% of the day's rows, if more) on a day without a key
#: checksum may be writes during the read that left the count as it was.
SMALL_DIFFERENCE_ROWS = 10


@dataclasses.dataclass(frozen=True)
class DayCount:
    """One day's rows, and the XOR of its keys' CRC32 (None: the key has no checksum)."""

    rows: int
    checksum: int | None = None


@dataclasses.dataclass(frozen=True)
class DayReconciliation:
    day: dt.date
    shard: DayCount
    landed: DayCount
    #: The shard's count moved between the counts around the read.
    unsettled: bool = False

    @property
    def rows_differ(self) -> bool:
        return self.shard.rows != self.landed.rows

    @property
    def checksum_differs(self) -> bool:
        shard, landed = self.shard.checksum, self.landed.checksum
        return shard is not None and landed is not None and shard != landed

    @property
    def differs(self) -> bool:
        return not self.unsettled and (self.rows_differ or self.checksum_differs)

    @property
    def may_be_writes_during_the_read(self) -> bool:
        """Counts that agreed around the read, no key checksum to tell an insert and a delete
        during it, and a difference small enough to be such writes."""
        if self.unsettled or self.shard.checksum is not None or not self.rows_differ:
            return False
        small = max(SMALL_DIFFERENCE_ROWS, self.shard.rows // 100)
        return abs(self.shard.rows - self.landed.rows) <= small

    def describe(self) -> str:
        text = f"{self.day}: shard {self.shard.rows} rows, landed {self.landed.rows}"
        if self.checksum_differs:
            text += " (key checksums differ)"
        elif self.may_be_writes_during_the_read:
            text += (
                " (no key checksum: the difference may come from writes during the read, an "
                "insert and a delete that left the count as it was; re-extract the day to see)"
            )
        return text

    def as_json(self) -> dict[str, object]:
        return {
            "day": self.day.isoformat(),
            "shard_rows": self.shard.rows,
            "landed_rows": self.landed.rows,
            "shard_checksum": self.shard.checksum,
            "landed_checksum": self.landed.checksum,
            "status": "unsettled" if self.unsettled else "differs" if self.differs else "match",
        }


def key_text(value: object) -> bytes:
    """A key as MySQL's `CRC32` reads it: decimal digits, UTF-8 text (the shard side converts
    to utf8mb4), or the bytes themselves."""
    if isinstance(value, bool):
        raise TypeError("a boolean key has no text form shared with MySQL")
    if isinstance(value, int):
        return str(value).encode("ascii")
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes):
        return value
    raise TypeError(f"no checksum for a key of type {type(value).__name__}")


def key_checksum(keys: pa.Array | pa.ChunkedArray | Iterable[object]) -> int:
    """`BIT_XOR(CRC32(key))` over the keys (0 for none, as the server answers); NULLs skipped,
    as `CRC32(NULL)` is NULL and `BIT_XOR` skips it."""
    values = keys.to_pylist() if isinstance(keys, pa.Array | pa.ChunkedArray) else keys
    return functools.reduce(
        operator.xor, (zlib.crc32(key_text(v)) for v in values if v is not None), 0
    )


def reconcile_days(
    before: Mapping[dt.date, DayCount],
    after: Mapping[dt.date, DayCount],
    landed: Mapping[dt.date, DayCount],
) -> list[DayReconciliation]:
    """Every counted day (those in `after`), landed against the shard's count after the read.

    A day missing from a side counts 0 rows there (the shard's query answers every day; a
    landed day with no file has no rows).
    """
    empty = DayCount(0, None)
    days = []
    for day in sorted(after):
        shard = after[day]
        previous = before.get(day)
        days.append(
            DayReconciliation(
                day=day,
                shard=shard,
                landed=landed.get(day, empty),
                unsettled=previous is not None and previous != shard,
            )
        )
    return days


def differing(days: Iterable[DayReconciliation]) -> list[DayReconciliation]:
    return [d for d in days if d.differs]
