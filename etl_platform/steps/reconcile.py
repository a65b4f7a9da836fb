"""Key reconciliation of a lookup state: forget the keys the shard no longer has.

A batch read never sees a delete, so the state (each day folded from the day before) carries a
deleted row forward for ever. This compares the shard's current key set with the newest state
day and rewrites the newest `RECONCILED_DAYS` days without the vanished keys; later days fold
from them and do not bring the keys back. Older days keep the history as it was.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from etl_platform.load.lake import Dataset
from etl_platform.load.lake_reads import partition_days, read_frame

#: The newest state day and the one before it: today's state is folded again from yesterday's
#: each time today's raw partition refreshes, so cleaning today's alone would not last.
RECONCILED_DAYS = 2
#: Dropped keys shown in the metadata.
SAMPLE_KEYS = 20


@dataclasses.dataclass(frozen=True)
class ReconcileReport:
    #: The state days rewritten (those that lost keys) and compared (the newest ones).
    days: list[dt.date]
    rewritten: list[dt.date]
    #: Keys of the newest state day compared with the shard's.
    state_keys: int
    source_keys: int
    dropped: int
    dropped_sample: list[dict]


def vanished_keys(
    state_keys: pl.DataFrame, source: Iterable[pa.RecordBatch]
) -> tuple[pl.DataFrame, int]:
    """The state's keys that no source batch holds, and how many source keys were read.

    One batch at a time is anti-joined away from the keys not seen yet, so memory holds the
    state's keys and one batch, not the shard's key set.
    """
    unseen = state_keys.unique()
    read = 0
    for batch in source:
        seen = pl.DataFrame(pl.from_arrow(batch)).cast(dict(unseen.schema))
        read += seen.height
        if unseen.height:
            unseen = unseen.join(seen, on=unseen.columns, how="anti")
    return unseen, read


def reconcile_state(
    state: Dataset, key: Sequence[str], source: Iterable[pa.RecordBatch]
) -> ReconcileReport:
    """Drop from the newest state days the keys `source` (the shard's key set) lacks.

    With no state day yet there is nothing to compare: `source` is not read.
    """
    key = list(key)
    days = partition_days(state)[-RECONCILED_DAYS:]
    if not days:
        return ReconcileReport([], [], 0, 0, 0, [])
    newest = read_frame(state, days[-1], key)
    assert newest is not None  # listed above
    vanished, source_keys = vanished_keys(newest, source)
    rewritten = []
    if vanished.height:
        for day in days:
            if _drop_keys(state, day, vanished):
                rewritten.append(day)
    return ReconcileReport(
        days=days,
        rewritten=rewritten,
        state_keys=newest.height,
        source_keys=source_keys,
        dropped=vanished.height,
        dropped_sample=vanished.head(SAMPLE_KEYS).to_dicts(),
    )


def _drop_keys(state: Dataset, day: dt.date, vanished: pl.DataFrame) -> bool:
    """Rewrite one state day without `vanished`, atomically; whether it held any of them."""
    files = state.partition_files(day)
    schema = pq.read_schema(files[0])
    frame = read_frame(state, day, schema.names)
    assert frame is not None
    keys = vanished.cast(dict(frame.select(vanished.columns).schema))
    kept = frame.join(keys, on=keys.columns, how="anti")
    if kept.height == frame.height:
        return False
    state.write_partitions({day: kept.to_arrow()}, schema)
    return True
