"""Where a shard's capture resumes: the last transaction boundary whose changes are in place.

`<lake>/changes/<shard>/_checkpoint.json`, replaced atomically after the change files it
covers, so a crash can only make the capture read a few transactions again (their changes
repeat with the same key and position, which readers collapse).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

from etl_platform.extract.binlog_stream import BinlogPosition
from etl_platform.load.atomic_file import write_atomic

CHECKPOINT_NAME = "_checkpoint.json"


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    position: BinlogPosition
    gtid: str | None = None
    #: The commit time of the newest transaction landed (None before the first): the data's
    #: lag is now minus this when the shard is busy.
    last_commit: dt.datetime | None = None
    #: When the capture last confirmed it had read everything up to `position` (a
    #: heartbeat on an idle shard counts): the lag is at most now minus this.
    confirmed_at: dt.datetime | None = None
    #: Tables no longer captured, with why (a TRUNCATE or DROP seen in the binlog).
    stopped: dict[str, str] = dataclasses.field(default_factory=dict)
    #: Tables whose history the capture has extracted after taking its first position.
    handed_over: tuple[str, ...] = ()
    #: The binlog since the checkpoint was purged before it was read: the days from this one
    #: on are re-read by the batch extract before the stream goes on (no silent hole).
    resync_from: dt.date | None = None
    #: Per table, the day its handover read through: later days are the capture's.
    captured_since: dict[str, dt.date] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "log_file": self.position.log_file,
            "log_pos": self.position.log_pos,
            "position": self.position.order_key(),
            "gtid": self.gtid,
            "last_commit": _iso(self.last_commit),
            "confirmed_at": _iso(self.confirmed_at),
            "stopped": dict(sorted(self.stopped.items())),
            "handed_over": sorted(self.handed_over),
            "resync_from": None if self.resync_from is None else self.resync_from.isoformat(),
            "captured_since": {t: d.isoformat() for t, d in sorted(self.captured_since.items())},
        }

    @classmethod
    def from_json(cls, data: dict) -> Checkpoint:
        return cls(
            position=BinlogPosition(str(data["log_file"]), int(data["log_pos"])),
            gtid=data.get("gtid"),
            last_commit=_time(data.get("last_commit")),
            confirmed_at=_time(data.get("confirmed_at")),
            stopped=dict(data.get("stopped") or {}),
            handed_over=tuple(data.get("handed_over") or ()),
            resync_from=(
                dt.date.fromisoformat(data["resync_from"]) if data.get("resync_from") else None
            ),
            captured_since={
                t: dt.date.fromisoformat(d) for t, d in (data.get("captured_since") or {}).items()
            },
        )


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def _time(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def checkpoint_path(lake_root: Path, shard: str) -> Path:
    return lake_root / "changes" / shard / CHECKPOINT_NAME


def read_checkpoint(lake_root: Path, shard: str) -> Checkpoint | None:
    """The shard's checkpoint, or None before its capture first started."""
    path = checkpoint_path(lake_root, shard)
    try:
        return Checkpoint.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        return None


def write_checkpoint(lake_root: Path, shard: str, checkpoint: Checkpoint) -> None:
    text = json.dumps(checkpoint.to_json(), indent=1, sort_keys=True)
    write_atomic(checkpoint_path(lake_root, shard), text.encode())
