"""One shard's capture: binlog transactions into change files, then the checkpoint.

The order is what makes it exactly-once for readers: a batch's change files are renamed into
place first, the checkpoint (a transaction boundary) after; a crash anywhere makes the next
start read again from the checkpoint, and the repeated changes carry the same key and
`_log_pos`, which readers collapse (docs/cdc.md).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from etl_platform.cdc.change_rows import Quarantined, TableRules, change_batch
from etl_platform.cdc.checkpoint import Checkpoint, read_checkpoint, write_checkpoint
from etl_platform.extract.binlog_stream import (
    MAX_INDEX,
    BinlogPosition,
    Ddl,
    Idle,
    Transaction,
    Undecodable,
    binlog_files,
    current_position,
    read_binlog,
)
from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.extract.introspect import TableNotFoundError, TablePlan, plan_on_shard
from etl_platform.load.atomic_file import write_atomic
from etl_platform.load.empty_days import record_days
from etl_platform.load.lake import Lake, parquet_write_options
from etl_platform.specs.sources import SourcesSpec
from etl_platform.steps.compact_changes import compact_day, compaction_due

log = logging.getLogger(__name__)

#: `ETL_PLATFORM_CDC_CRASH=<point>:<n>` kills the capture (SIGKILL) the n-th time it reaches
#: `point` (`mid_file`, `after_file`, `after_checkpoint`): how the tests prove a crash at each
#: place loses and doubles nothing.
CRASH_ENV = "ETL_PLATFORM_CDC_CRASH"
#: How often an idle shard's checkpoint is rewritten to confirm it is caught up.
CONFIRM_SECONDS = 1.0


@dataclasses.dataclass(frozen=True)
class FlushReport:
    """What one flush landed: for the UI's metadata and the downstream refresh."""

    shard: str
    checkpoint: Checkpoint
    rows: int
    #: Per table, the days whose change files were added.
    touched: dict[str, set[dt.date]]
    quarantined: int
    #: Commit to landed, for the newest transaction of the flush (seconds).
    lag_seconds: float | None
    events_per_second: float


class Crasher:
    """The fault injection of `CRASH_ENV` (no-op when unset)."""

    def __init__(self, spec: str | None) -> None:
        self.point, _, n = (spec or "").partition(":")
        self.remaining = int(n or 1)

    def reached(self, point: str) -> bool:
        if point != self.point:
            return False
        self.remaining -= 1
        return self.remaining <= 0

    def at(self, point: str) -> None:
        if self.reached(point):
            os.kill(os.getpid(), signal.SIGKILL)


class ShardCapture:
    """Reads one shard's binlog for its `mode: cdc` tables until `stop` is set."""

    def __init__(
        self,
        sources: SourcesSpec,
        shard: str,
        lake: Lake,
        endpoint: MySqlEndpoint,
        *,
        on_flush: Callable[[FlushReport], None] | None = None,
        on_handover: Callable[[str, BinlogPosition], None] | None = None,
        on_resync: Callable[[str, list[dt.date], BinlogPosition], None] | None = None,
        on_stop: Callable[[str, Checkpoint], None] | None = None,
        on_confirm: Callable[[str, Checkpoint], None] | None = None,
    ) -> None:
        self.sources = sources
        self.shard = shard
        self.lake = lake
        self.endpoint = endpoint
        self.settings = sources.cdc
        self.on_flush = on_flush
        self.on_handover = on_handover
        self.on_resync = on_resync
        self.on_stop = on_stop
        self.on_confirm = on_confirm
        self.timezone = sources.shard_timezone(shard)
        self.server_id = self.settings.server_id + sorted(sources.shards).index(shard)
        self.crasher = Crasher(os.environ.get(CRASH_ENV))
        self.plans: dict[str, TablePlan] = {}
        #: The last day `_mark_read_days` listed (None: not yet this run).
        self._marked_through: dt.date | None = None
        self.rules = {
            t: TableRules(
                cursor=sources.tables[t].cursor,
                primary_key=tuple(sources.tables[t].primary_key),
                fallback=sources.tables[t].cursor_fallback,
            )
            for t in sources.cdc_tables(shard)
        }

    # -- start ---------------------------------------------------------------------------

    def start_checkpoint(self) -> Checkpoint:
        """The stored checkpoint; the first time, the binlog's end now, stored before the
        history is read (`handover`), so every change after it is captured. A checkpoint
        whose binlog the server purged moves to the end too, with the days since it marked
        for a batch re-read (`resync`)."""
        checkpoint = read_checkpoint(self.lake.root, self.shard)
        conn = self.endpoint.connect(connect_timeout=self.sources.extract.connect_timeout_seconds)
        try:
            if checkpoint is None:
                checkpoint = Checkpoint(current_position(conn))
            elif checkpoint.position.log_file not in binlog_files(conn):
                since = (checkpoint.last_commit or checkpoint.confirmed_at or _now()).date()
                since -= dt.timedelta(days=1)  # a late commit of the day before
                log.error(
                    "shard %s: the binlog at the checkpoint %s was purged before it was read; "
                    "re-reading the CDC tables' days since %s with the batch extract",
                    self.shard,
                    checkpoint.position,
                    since,
                )
                earlier = checkpoint.resync_from
                checkpoint = dataclasses.replace(
                    checkpoint,
                    position=current_position(conn),
                    resync_from=since if earlier is None else min(since, earlier),
                )
            else:
                return checkpoint
        finally:
            conn.close()
        write_checkpoint(self.lake.root, self.shard, checkpoint)
        return checkpoint

    def resync(self, checkpoint: Checkpoint) -> Checkpoint:
        """Re-read by batch the days a purged binlog left unread, then drop those days'
        change files: the day files read now are newer than every change in them."""
        if checkpoint.resync_from is None:
            return checkpoint
        today = _now().date()
        days = [
            checkpoint.resync_from + dt.timedelta(days=i)
            for i in range((today - checkpoint.resync_from).days + 1)
        ]
        for table in self.rules:
            if self.on_resync is not None:
                self.on_resync(table, days, checkpoint.position)
            changes = self.lake.changes(self.shard, table)
            for day in days:
                changes.remove(changes.files(day))
        checkpoint = dataclasses.replace(checkpoint, resync_from=None)
        write_checkpoint(self.lake.root, self.shard, checkpoint)
        return checkpoint

    def handover(self, checkpoint: Checkpoint) -> Checkpoint:
        """Tables turned to CDC since the last start: their recent days are read again by the
        batch extract after the checkpoint was taken, so what changed before it is in the day
        files and what changed after it is in the stream (the overlap repeats changes, and
        the higher position wins)."""
        new = [t for t in self.rules if t not in checkpoint.handed_over]
        if not new:
            return checkpoint
        today = _now().date()
        for table in new:
            if self.on_handover is not None:
                self.on_handover(table, checkpoint.position)
        checkpoint = dataclasses.replace(
            checkpoint,
            handed_over=tuple(sorted({*checkpoint.handed_over, *new})),
            captured_since={**checkpoint.captured_since, **dict.fromkeys(new, today)},
        )
        write_checkpoint(self.lake.root, self.shard, checkpoint)
        return checkpoint

    def _plan(self, table: str) -> TablePlan:
        spec = self.sources.tables[table]
        return plan_on_shard(
            self.endpoint,
            table,
            cursor=spec.cursor,
            primary_key=spec.primary_key,
            shard=self.shard,
            exclude=spec.exclude_columns,
            connect_timeout=self.sources.extract.connect_timeout_seconds,
        )

    # -- the loop ------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> Checkpoint:
        """Capture until `stop` is set; returns the last checkpoint."""
        stop = stop or threading.Event()
        checkpoint = self.handover(self.resync(self.start_checkpoint()))
        self.plans = {}
        for table in [t for t in self.rules if t not in checkpoint.stopped]:
            try:
                self.plans[table] = self._plan(table)
            except TableNotFoundError as e:
                checkpoint = self._stop(checkpoint, table, f"{e} (dropped while not captured?)")
        tables = list(self.plans)
        self._mark_read_days(checkpoint)
        if not tables:
            log.warning("shard %s: no table left to capture (%s)", self.shard, checkpoint.stopped)
            return checkpoint
        pending: list[Transaction] = []
        pending_rows = 0
        first_at = 0.0
        boundary = checkpoint.position
        last_confirm = time.monotonic()
        events = read_binlog(
            self.endpoint,
            server_id=self.server_id,
            start=checkpoint.position,
            tables=tables,
            heartbeat_seconds=self.settings.heartbeat_seconds,
            connect_timeout=self.sources.extract.connect_timeout_seconds,
        )
        since_flush = time.monotonic()  # events/s are a flush's changes over its window
        try:
            for event in events:
                now = time.monotonic()
                if isinstance(event, Transaction):
                    if not pending:
                        first_at = now
                    pending.append(event)
                    pending_rows += len(event.changes)
                    boundary = event.end
                elif isinstance(event, Ddl):
                    if pending:
                        checkpoint = self._flush(checkpoint, pending, boundary, now - since_flush)
                        pending, pending_rows, since_flush = [], 0, now
                    checkpoint = self._ddl(checkpoint, event)
                    boundary = event.end
                    if event.table in checkpoint.stopped:
                        self.plans.pop(event.table, None)
                        if not self.plans:
                            break
                    continue
                elif isinstance(event, Undecodable):
                    self._set_aside([Quarantined("", event.after.order_key(), event.reason, "")])
                    continue
                elif isinstance(event, Idle):
                    boundary = event.end
                    if not pending and now - last_confirm >= CONFIRM_SECONDS:
                        checkpoint = dataclasses.replace(
                            checkpoint, position=event.end, confirmed_at=event.at
                        )
                        write_checkpoint(self.lake.root, self.shard, checkpoint)
                        self._mark_read_days(checkpoint)
                        last_confirm = now
                        if self.on_confirm is not None:
                            self.on_confirm(self.shard, checkpoint)
                due = pending and (
                    pending_rows >= self.settings.batch_rows
                    or now - first_at >= self.settings.batch_seconds
                )
                if due:
                    checkpoint = self._flush(checkpoint, pending, boundary, now - since_flush)
                    pending, pending_rows, since_flush = [], 0, now
                    last_confirm = time.monotonic()
                if stop.is_set():
                    break
        finally:
            events.close()
        if pending:
            elapsed = time.monotonic() - since_flush
            checkpoint = self._flush(checkpoint, pending, boundary, elapsed)
        return checkpoint

    # -- a flush -------------------------------------------------------------------------

    def _flush(
        self,
        checkpoint: Checkpoint,
        pending: list[Transaction],
        boundary: BinlogPosition,
        elapsed: float,
    ) -> Checkpoint:
        batch = change_batch(pending, self.plans, self.rules, timezone=self.timezone)
        touched: dict[str, set[dt.date]] = {}
        for (table, day), rows in sorted(batch.days.items()):
            changes = self.lake.changes(self.shard, table)
            if self.crasher.reached("mid_file"):
                _half_written(changes.day_dir(day), rows)
                os.kill(os.getpid(), signal.SIGKILL)
            changes.write(day, rows)
            touched.setdefault(table, set()).add(day)
        if batch.quarantined:
            self._set_aside(batch.quarantined)
        self.crasher.at("after_file")
        last = pending[-1]
        now = dt.datetime.now(dt.UTC)
        checkpoint = dataclasses.replace(
            checkpoint,
            position=boundary,
            gtid=last.gtid,
            last_commit=last.commit_ts,
            confirmed_at=now,
        )
        write_checkpoint(self.lake.root, self.shard, checkpoint)
        self.crasher.at("after_checkpoint")
        self._mark_read_days(checkpoint)
        self._compact(touched, checkpoint)
        if self.on_flush is not None:
            self.on_flush(
                FlushReport(
                    shard=self.shard,
                    checkpoint=checkpoint,
                    rows=batch.rows,
                    touched=touched,
                    quarantined=len(batch.quarantined),
                    lag_seconds=(now - last.commit_ts).total_seconds(),
                    events_per_second=sum(len(t.changes) for t in pending) / max(elapsed, 1e-3),
                )
            )
        return checkpoint

    def _mark_read_days(self, checkpoint: Checkpoint) -> None:
        """Days the capture has read to their end count as written, with changes or without:
        a quiet day of a captured table is an empty day, not a missing one (views, and lookup
        state's history, would otherwise wait for an extract that never comes). From the day
        after the table's handover, which read through its own day."""
        if checkpoint.confirmed_at is None:
            return
        through = checkpoint.confirmed_at.astimezone(dt.UTC).date() - dt.timedelta(days=1)
        if self._marked_through is not None and through <= self._marked_through:
            return
        for table in self.plans:
            since = checkpoint.captured_since.get(table)
            if since is None:
                continue
            raw = self.lake.raw(self.shard, table)
            written = raw.written_days()
            quiet = [
                since + dt.timedelta(days=i)
                for i in range(1, (through - since).days + 1)
                if since + dt.timedelta(days=i) not in written
            ]
            if quiet:
                record_days(raw, empty=quiet)
        self._marked_through = through

    def _compact(self, touched: dict[str, set[dt.date]], checkpoint: Checkpoint) -> None:
        upto = checkpoint.position.order_key(MAX_INDEX)
        for table, days in touched.items():
            changes = self.lake.changes(self.shard, table)
            key = list(self.sources.tables[table].primary_key)
            for day in sorted(days):
                if compaction_due(changes, day, self.settings):
                    compact_day(self.lake, self.shard, table, key, day, upto=upto)

    def _set_aside(self, rows: list[Quarantined]) -> None:
        """Changes that could not be landed: `changes/<shard>/_quarantine/`, one file per
        flush (written before its checkpoint), with position and reason; counted in the
        flush's report."""
        table = pa.Table.from_pylist(
            [dataclasses.asdict(q) for q in rows],
            schema=pa.schema(
                [(f.name, pa.large_string()) for f in dataclasses.fields(Quarantined)]
            ),
        )
        first = min(q.position for q in rows)
        last = max(q.position for q in rows)
        path = self.lake.root / "changes" / self.shard / "_quarantine" / f"q-{first}-{last}.parquet"
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, **parquet_write_options("raw"))
        write_atomic(path, sink.getvalue().to_pybytes())
        for q in rows:
            log.error(
                "shard %s table %s: change at %s set aside: %s",
                self.shard,
                q.table,
                q.position,
                q.reason,
            )

    def _stop(self, checkpoint: Checkpoint, table: str, reason: str) -> Checkpoint:
        log.error("shard %s table %s: capture stopped: %s", self.shard, table, reason)
        checkpoint = dataclasses.replace(checkpoint, stopped={**checkpoint.stopped, table: reason})
        write_checkpoint(self.lake.root, self.shard, checkpoint)
        if self.on_stop is not None:
            self.on_stop(self.shard, checkpoint)
        return checkpoint

    def _ddl(self, checkpoint: Checkpoint, event: Ddl) -> Checkpoint:
        """An ALTER re-reads the table's columns (the binlog's own column names keep rows
        labelled meanwhile); a TRUNCATE, DROP or RENAME stops the table (applying it silently
        would empty or orphan the lake's copy), as do rows changed by a statement logged as
        text or by a two-phase XA transaction, whose rows the capture cannot land."""
        stopped = dict(checkpoint.stopped)
        if event.kind == "alter":
            try:
                self.plans[event.table] = self._plan(event.table)
            except (TableNotFoundError, LookupError) as e:
                stopped[event.table] = f"ALTER at {event.end}: the table cannot be read ({e})"
        elif event.kind in ("truncate", "drop", "rename", "statement", "xa"):
            reason = (
                f"{event.kind.upper()} at {event.end} ({event.commit_ts.isoformat()}): "
                f"{event.statement[:200]}"
            )
            stopped[event.table] = reason
            log.error(
                "shard %s table %s: capture stopped by %s; re-extract the table and resume it "
                "with `etl-platform cdc resume --shard %s --table %s`",
                self.shard,
                event.table,
                reason,
                self.shard,
                event.table,
            )
        checkpoint = dataclasses.replace(
            checkpoint, position=event.end, gtid=event.gtid, stopped=stopped
        )
        write_checkpoint(self.lake.root, self.shard, checkpoint)
        if event.table in stopped and self.on_stop is not None:
            self.on_stop(self.shard, checkpoint)
        return checkpoint


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _half_written(folder: os.PathLike[str] | str, rows: pa.Table) -> None:
    """What a crash while writing a change file leaves: part of its temporary file."""
    from pathlib import Path

    sink = pa.BufferOutputStream()
    pq.write_table(rows, sink)
    data = sink.getvalue().to_pybytes()
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    (target / "c-crash.parquet.tmp").write_bytes(data[: len(data) // 2])


def touched_days(reports: Iterable[FlushReport]) -> dict[str, set[dt.date]]:
    out: dict[str, set[dt.date]] = {}
    for report in reports:
        for table, days in report.touched.items():
            out.setdefault(table, set()).update(days)
    return out
