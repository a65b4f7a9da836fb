"""The `notifications/<view>__dead_letters` table in the lake: one Parquet file per run and
view day, each written whole (`load.atomic_file`), so every run's dead letters are kept and
a reader never sees part of a file. The ledger holds the same reasons; this is the copy people
query (DuckDB, Athena)."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from etl_platform.load.atomic_file import write_atomic
from etl_platform.load.lake import Dataset, Lake, parquet_write_options
from etl_platform.notify.deliver import DeadLetter

DEAD_LETTER_SCHEMA = pa.schema(
    [
        pa.field("rule", pa.string()),
        pa.field("row_key", pa.string()),
        pa.field("row_version", pa.string()),
        pa.field("idempotency_key", pa.string()),
        pa.field("status", pa.int32()),
        pa.field("attempts", pa.int32()),
        pa.field("reason", pa.string()),
        pa.field("dead_at", pa.timestamp("us", tz="UTC")),
        pa.field("_run_id", pa.string()),
    ]
)


def dead_letters_dataset(lake: Lake, view: str) -> Dataset:
    return Dataset(lake.root, ("notifications", f"{view}__dead_letters"))


def write_dead_letters(
    dataset: Dataset,
    day: dt.date,
    run_id: str,
    letters: Sequence[DeadLetter],
    now: dt.datetime,
) -> Path | None:
    """Add the day's dead letters of this run as a file of their own (None when there are
    none); a step retried within the run adds another file, never replaces one."""
    if not letters:
        return None
    table = pa.Table.from_pylist(
        [
            {
                "rule": d.rule,
                "row_key": d.row_key,
                "row_version": d.row_version,
                "idempotency_key": d.idempotency_key,
                "status": d.status,
                "attempts": d.attempts,
                "reason": d.reason,
                "dead_at": now,
                "_run_id": run_id,
            }
            for d in letters
        ],
        schema=DEAD_LETTER_SCHEMA,
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer, **parquet_write_options("views"))
    path = dataset.partition_dir(day) / f"dead-{run_id}-{uuid.uuid4().hex[:8]}.parquet"
    write_atomic(path, buffer.getvalue())
    return path


def read_dead_letters(dataset: Dataset, day: dt.date) -> pa.Table:
    """Every dead letter of the day, from every run."""
    return dataset.read_partition(day) or DEAD_LETTER_SCHEMA.empty_table()
