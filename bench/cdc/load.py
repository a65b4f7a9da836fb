"""A shard's writer: inserts and updates at a steady rate, each its own transaction, each row
stamped with its commit's wall time (`updated_at`, to the microsecond); every change logged
so its latency can be measured. Runs in its own process (the GIL stays out of the pacing)."""

from __future__ import annotations

import dataclasses
import json
import random
import time
from array import array
from pathlib import Path

import pymysql

from bench.cdc.shards import INSERT_SQL, STATUSES, UPDATE_SQL, datetime_text, payload

#: A writer further behind its schedule than this drops the backlog instead of bursting.
MAX_BEHIND_SECONDS = 1.0
INSERT, UPDATE = 0, 1


@dataclasses.dataclass(frozen=True)
class WriterJob:
    shard: str
    host: str
    port: int
    database: str
    #: The first id an insert takes; updates pick ids below the next one.
    next_id: int
    out: str
    seed: int
    insert_share: float = 0.5
    #: (changes per second, seconds) per phase, from `start_at` (epoch seconds) on.
    phases: tuple[tuple[float, float], ...] = ()
    start_at: float = 0.0
    #: Instead of phases: this many changes as fast as the writer goes.
    count: int | None = None


class _Log:
    """The changes written: id, commit stamp (epoch us), op, phase."""

    def __init__(self) -> None:
        self.ids, self.stamps = array("q"), array("q")
        self.ops, self.phases = bytearray(), bytearray()

    def add(self, order_id: int, stamp: int, op: int, phase: int) -> None:
        self.ids.append(order_id)
        self.stamps.append(stamp)
        self.ops.append(op)
        self.phases.append(phase)

    def save(self, shard: str, path: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        n = len(self.ids)
        table = pa.table(
            {
                "shard": pa.array([shard] * n, pa.string()),
                "id": pa.array(self.ids, pa.int64()),
                "written_us": pa.array(self.stamps, pa.int64()),
                "op": pa.array(bytes(self.ops), pa.int8()) if n else pa.array([], pa.int8()),
                "phase": pa.array(bytes(self.phases), pa.int8()) if n else pa.array([], pa.int8()),
            }
        )
        pq.write_table(table, path)


class _Changes:
    def __init__(self, job: WriterJob) -> None:
        self.job = job
        self.rng = random.Random(job.seed)
        self.next_id = job.next_id
        self.conn = pymysql.connect(
            host=job.host, port=job.port, user="root", database=job.database, autocommit=True
        )
        self.cursor = self.conn.cursor()
        self.log = _Log()

    def one(self, phase: int) -> None:
        """One change, committed (autocommit: the statement is the transaction)."""
        stamp = time.time_ns() // 1_000
        when = datetime_text(stamp)
        rng = self.rng
        if rng.random() < self.job.insert_share:
            order_id = self.next_id
            self.next_id += 1
            amount = f"{rng.randint(100, 99_999) / 100:.2f}"
            args = (order_id, "new", amount, payload(rng, order_id), when)
            self.cursor.execute(INSERT_SQL, args)
            op = INSERT
        else:
            order_id = rng.randrange(1, self.next_id)
            self.cursor.execute(UPDATE_SQL, (rng.choice(STATUSES), when, order_id))
            op = UPDATE
        self.log.add(order_id, stamp, op, phase)

    def close(self) -> None:
        self.conn.close()


def run_writer(job: WriterJob) -> None:
    """The job's changes, then its log (`<out>.parquet`) and per-phase summary (`<out>.json`)."""
    changes = _Changes(job)
    summary: list[dict[str, float]] = []
    try:
        if job.count is not None:
            started = time.time()
            for _ in range(job.count):
                changes.one(0)
            summary.append({"done": job.count, "seconds": time.time() - started})
        else:
            _paced(changes, job, summary)
    finally:
        changes.close()
        changes.log.save(job.shard, Path(f"{job.out}.parquet"))
        Path(f"{job.out}.json").write_text(json.dumps(summary))


def _paced(changes: _Changes, job: WriterJob, summary: list[dict[str, float]]) -> None:
    phase_start = job.start_at
    for phase, (rate, seconds) in enumerate(job.phases):
        end = phase_start + seconds
        planned = round(rate * seconds)
        done = dropped = k = 0
        time.sleep(max(0.0, phase_start - time.time()))
        while k < planned:
            due = phase_start + k / rate
            now = time.time()
            if now >= end:
                break
            if due > now:
                time.sleep(due - now)
            elif now - due > MAX_BEHIND_SECONDS:  # give up the backlog: no burst after a stall
                skip = int((now - due) * rate)
                dropped += skip
                k += skip
            changes.one(phase)
            done += 1
            k += 1
        summary.append({"target_rate": rate, "seconds": seconds, "done": done, "dropped": dropped})
        phase_start = end
