"""A table's live columns against its schema snapshot: what was added, dropped or retyped.

Pure: the extractor hands over both column lists (name → MySQL `COLUMN_TYPE`), so the
comparison is tested without a server. The snapshot is what view specs were validated
against; a difference means the views may read something they were not checked for.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Mapping

# Integer display widths carry no meaning (MySQL 8 no longer prints them) except `tinyint(1)`,
# which the extractor reads as a boolean.
_DISPLAY_WIDTH = re.compile(r"^(tinyint|smallint|mediumint|int|integer|bigint|year)\(\d+\)")


def normalized_type(column_type: str) -> str:
    """`COLUMN_TYPE` text as compared: lower case, single spaces, no integer display width
    (so a MariaDB snapshot and a MySQL 8 server agree on `int(11)` and `int`)."""
    text = " ".join(column_type.lower().split())
    if text.startswith("tinyint(1)"):
        return text
    return _DISPLAY_WIDTH.sub(r"\1", text)


@dataclasses.dataclass(frozen=True)
class SchemaDrift:
    """Columns added, dropped and retyped (name → (snapshot type, live type)) since the
    snapshot, in table order."""

    added: dict[str, str] = dataclasses.field(default_factory=dict)
    dropped: dict[str, str] = dataclasses.field(default_factory=dict)
    changed: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.added or self.dropped or self.changed)

    def changes(self) -> list[str]:
        """One line per change, e.g. `amount changed from decimal(12,2) to decimal(14,4)`."""
        return [
            *(f"{name} added ({ctype})" for name, ctype in self.added.items()),
            *(f"{name} dropped (was {ctype})" for name, ctype in self.dropped.items()),
            *(f"{name} changed from {old} to {new}" for name, (old, new) in self.changed.items()),
        ]

    def as_json(self) -> dict:
        """The `schema_drift` metadata of a compared read."""
        return {
            "compared": True,
            "added": dict(self.added),
            "dropped": dict(self.dropped),
            "changed": {n: {"snapshot": o, "live": v} for n, (o, v) in self.changed.items()},
        }


def not_compared(reason: str) -> dict:
    """The `schema_drift` metadata of a read with nothing to compare against."""
    return {"compared": False, "reason": reason}


def compare_columns(
    snapshot: Mapping[str, str], live: Mapping[str, str], *, exclude: Collection[str] = ()
) -> SchemaDrift:
    """What differs between the snapshot's and the live columns (name → COLUMN_TYPE).

    Columns in `exclude` (`exclude_columns`) are never read, so they never drift.
    """
    snap = {n: t for n, t in snapshot.items() if n not in exclude}
    now = {n: t for n, t in live.items() if n not in exclude}
    return SchemaDrift(
        added={n: t for n, t in now.items() if n not in snap},
        dropped={n: t for n, t in snap.items() if n not in now},
        changed={
            n: (snap[n], t)
            for n, t in now.items()
            if n in snap and normalized_type(snap[n]) != normalized_type(t)
        },
    )
