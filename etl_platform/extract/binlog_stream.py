"""A shard's binlog as committed transactions of row changes, for the `mode: cdc` tables.

Built on `pymysqlreplication.BinLogStreamReader` (row events only, filtered to the shard's
database and its CDC tables, so other tables cost a skipped event each). Changes are handed
over a whole transaction at a time, at its commit: a transaction boundary is the only place a
checkpoint may be taken, so a crash never splits one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
import struct
from collections.abc import Iterator, Mapping, Sequence
from typing import Literal

import pymysql
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import (
    HeartbeatLogEvent,
    MariadbGtidEvent,
    QueryEvent,
    RotateEvent,
    XAPrepareEvent,
    XidEvent,
)
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from etl_platform.extract.binlog_values import with_none_sources
from etl_platform.extract.connection import MySqlEndpoint

Op = Literal["insert", "update", "delete"]

_FILE_NUMBER = re.compile(r"\.(\d+)$")


#: The widest index of a row change in one transaction `order_key` writes.
MAX_INDEX = 999_999_999


@functools.total_ordering
@dataclasses.dataclass(frozen=True)
class BinlogPosition:
    """A place in the shard's binlog: the file and the byte after an event. Ordered by the
    file's sequence number (not its name: `binlog.1000000` follows `binlog.999999`)."""

    log_file: str
    log_pos: int

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, BinlogPosition):
            return NotImplemented
        return (self.file_number, self.log_pos) < (other.file_number, other.log_pos)

    @property
    def file_number(self) -> int:
        m = _FILE_NUMBER.search(self.log_file)
        if m is None:
            raise ValueError(f"binlog file {self.log_file!r} has no sequence number")
        return int(m.group(1))

    def order_key(self, index: int = 0) -> str:
        """The change's `_log_pos` (docs/cdc.md): text that sorts as the binlog does."""
        return f"{self.file_number:010d}-{self.log_pos:012d}-{index:09d}"

    def __str__(self) -> str:
        return f"{self.log_file}:{self.log_pos}"


@dataclasses.dataclass(frozen=True)
class RowChange:
    """One row's change as the binlog has it: values by column name (FULL row metadata)."""

    table: str
    op: Op
    before: Mapping[str, object] | None
    after: Mapping[str, object] | None


@dataclasses.dataclass(frozen=True)
class Transaction:
    """A committed transaction's changes to the captured tables, in binlog order."""

    end: BinlogPosition
    commit_ts: dt.datetime
    gtid: str | None
    changes: tuple[RowChange, ...]


DdlKind = Literal["alter", "truncate", "drop", "rename", "statement", "xa", "other"]


@dataclasses.dataclass(frozen=True)
class Ddl:
    """A statement logged as text that touches a captured table (ALTER, TRUNCATE, DROP...)."""

    end: BinlogPosition
    commit_ts: dt.datetime
    gtid: str | None
    table: str
    kind: DdlKind
    statement: str


@dataclasses.dataclass(frozen=True)
class Idle:
    """Nothing new to read: the server's heartbeat, or a boundary on another table. The
    capture may flush and take `end` as its checkpoint when nothing is pending."""

    end: BinlogPosition
    at: dt.datetime


@dataclasses.dataclass(frozen=True)
class Undecodable:
    """An event the library could not decode: set aside with where it was and why, so one
    bad event does not stop the shard (its rows are not in the lake; the reason says so)."""

    after: BinlogPosition
    reason: str


Event = Transaction | Ddl | Idle | Undecodable

#: What decoding a malformed or unsupported event raises inside the library.
DECODE_ERRORS = (ValueError, KeyError, IndexError, TypeError, UnicodeDecodeError, struct.error)

_DDL = re.compile(
    r"^\s*(?P<verb>ALTER\s+(?:ONLINE\s+|IGNORE\s+)*TABLE|TRUNCATE(?:\s+TABLE)?|DROP\s+TABLE"
    r"(?:\s+IF\s+EXISTS)?|RENAME\s+TABLE)\s+(?P<names>.+)",
    re.IGNORECASE | re.DOTALL,
)
_NAME = re.compile(r"(?:`(?:[^`]|``)+`|\w+)(?:\s*\.\s*(?:`(?:[^`]|``)+`|\w+))?")


_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
#: Statements inside a transaction that neither end it nor change rows.
_IN_TRANSACTION = ("SAVEPOINT", "ROLLBACK TO", "RELEASE SAVEPOINT", "XA END")
_DML = re.compile(r"^\s*(INSERT|REPLACE|UPDATE|DELETE|LOAD\s+DATA)\b", re.IGNORECASE)


def statement_tables(statement: str, tables: set[str]) -> list[str]:
    """The captured tables a data-changing statement logged as text names."""
    if not _DML.match(statement):
        return []
    return sorted(
        t for t in tables if re.search(rf"(?<![\w$])`?{re.escape(t)}`?(?![\w$])", statement)
    )


def ddl_tables(statement: str, schema: str) -> tuple[DdlKind, list[str]] | None:
    """The kind of a DDL statement and the tables of `schema` it names (both sides of a
    RENAME), or None for other statements. Names qualified with another schema are left out."""
    m = _DDL.match(_COMMENT.sub(" ", statement))
    if m is None:
        return None
    verb = m.group("verb").split()[0].lower()
    kind: DdlKind = verb if verb in ("alter", "truncate", "drop", "rename") else "other"  # type: ignore[assignment]
    names = m.group("names").strip()
    if kind == "alter" and re.search(r"\bRENAME\b", names, re.IGNORECASE):
        kind = "rename"
        first = _NAME.match(names)
        return kind, _in_schema([first.group(0)] if first else [], schema)
    if kind == "alter":
        first = _NAME.match(names)
        parts = [first.group(0)] if first else []
    else:
        parts = [
            name.strip()
            for item in names.split(",")
            for name in re.split(r"\s+TO\s+", item.strip(), flags=re.IGNORECASE)
        ]
    return kind, _in_schema(parts, schema)


def _in_schema(parts: list[str], schema: str) -> list[str]:
    tables = []
    for raw in parts:
        if _NAME.fullmatch(raw) is None:
            continue
        pieces = [p.strip().strip("`").replace("``", "`") for p in raw.split(".")]
        if len(pieces) == 2 and pieces[0] != schema:
            continue
        tables.append(pieces[-1])
    return tables


def current_position(conn: pymysql.connections.Connection) -> BinlogPosition:
    """Where the shard's binlog ends now (`SHOW MASTER STATUS`): the start of a new capture."""
    with conn.cursor() as cur:
        cur.execute("SHOW MASTER STATUS")
        row = cur.fetchone()
    if not row:
        raise RuntimeError("the server's binary log is off (SHOW MASTER STATUS is empty)")
    return BinlogPosition(str(row[0]), int(row[1]))


def binlog_files(conn: pymysql.connections.Connection) -> list[str]:
    """The binlog files the server still has (`SHOW BINARY LOGS`), oldest first."""
    with conn.cursor() as cur:
        cur.execute("SHOW BINARY LOGS")
        return [str(r[0]) for r in cur.fetchall()]


def _utc(timestamp: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC)


def read_binlog(
    endpoint: MySqlEndpoint,
    *,
    server_id: int,
    start: BinlogPosition,
    tables: Sequence[str],
    heartbeat_seconds: float = 1.0,
    connect_timeout: float = 10,
) -> Iterator[Event]:
    """The binlog from `start`: a `Transaction` per commit touching `tables`, a `Ddl` per
    statement naming one of them, an `Idle` on a heartbeat or a boundary elsewhere. Blocks for
    new events; the caller closes the iterator to stop."""
    schema = endpoint.database
    if not schema:
        raise ValueError(f"{endpoint.describe()}: a captured shard needs its database")
    captured = set(tables)
    stream = BinLogStreamReader(
        connection_settings={
            "host": endpoint.host,
            "port": endpoint.port,
            "user": endpoint.user,
            "password": endpoint.password,
            "connect_timeout": connect_timeout,
            # A half-open connection (a failover, a dropped NAT entry) would block forever;
            # heartbeats arrive every `heartbeat_seconds`, so silence this long is a loss.
            "read_timeout": max(30, int(heartbeat_seconds * 10)),
        },
        server_id=server_id,
        resume_stream=True,
        blocking=True,
        log_file=start.log_file,
        log_pos=start.log_pos,
        only_events=[
            MariadbGtidEvent,
            WriteRowsEvent,
            UpdateRowsEvent,
            DeleteRowsEvent,
            XidEvent,
            XAPrepareEvent,
            QueryEvent,
            RotateEvent,
            HeartbeatLogEvent,
        ],
        only_schemas=[schema],
        only_tables=list(tables),
        # File and position, not MariaDB's GTID state: the library's MariaDB mode ignores a
        # file position, and positions are what `_log_pos` orders by. MariaDB serves both.
        is_mariadb=False,
        slave_heartbeat=heartbeat_seconds,
        enable_logging=False,
    )
    log_file = start.log_file
    gtid: str | None = None
    pending: list[RowChange] = []
    in_transaction = False
    try:
        while True:
            before = BinlogPosition(log_file, stream.log_pos or start.log_pos)
            try:
                event = stream.fetchone()
            except DECODE_ERRORS as e:
                yield Undecodable(before, f"{type(e).__name__}: {e}")
                continue
            if event is None:
                return
            if isinstance(event, RotateEvent):
                log_file = event.next_binlog
                continue
            end = BinlogPosition(log_file, event.packet.log_pos)
            if isinstance(event, HeartbeatLogEvent):
                yield Idle(BinlogPosition(log_file, stream.log_pos), dt.datetime.now(dt.UTC))
                continue
            if isinstance(event, MariadbGtidEvent):
                gtid, pending = event.gtid, []
                continue
            if isinstance(event, (WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent)):
                if event.schema == schema and event.table in captured:
                    try:
                        pending.extend(_row_changes(event))
                    except DECODE_ERRORS as e:  # rows are decoded lazily, here
                        yield Undecodable(end, f"table {event.table}: {type(e).__name__}: {e}")
                continue
            if isinstance(event, XidEvent):
                yield _commit(end, event.timestamp, gtid, pending)
                gtid, pending, in_transaction = None, [], False
                continue
            if isinstance(event, QueryEvent):
                query = _COMMENT.sub(" ", event.query).strip()
                upper = query.upper()
                if upper in ("BEGIN", "XA START") or upper.startswith("XA START "):
                    in_transaction = True
                    continue
                if upper in ("COMMIT", "ROLLBACK"):  # a non-transactional engine's boundary
                    yield _commit(end, event.timestamp, gtid, pending)
                    gtid, pending, in_transaction = None, [], False
                    continue
                if upper.startswith(_IN_TRANSACTION):
                    continue  # savepoints and an XA branch's end: the transaction goes on
                here = _schema_of(event, schema)
                found = ddl_tables(query, here)
                hits = [t for t in (found[1] if found else []) if t in captured]
                if found is None and here == schema:
                    # Rows changed by a statement the binlog keeps as text (a session with
                    # binlog_format=STATEMENT): they cannot be captured, so the table stops.
                    hits = statement_tables(query, captured)
                    found = ("statement", hits) if hits else None
                for table in hits:
                    yield Ddl(end, _utc(event.timestamp), gtid, table, found[0], query)
                if found is not None and found[0] != "statement":
                    gtid, pending, in_transaction = None, [], False  # DDL commits implicitly
                elif not in_transaction and not hits:
                    yield Idle(end, _utc(event.timestamp))
                continue
            if isinstance(event, XAPrepareEvent):
                tables = sorted({c.table for c in pending})
                if event.one_phase:
                    yield _commit(end, event.timestamp, gtid, pending)
                else:
                    # Two-phase XA commits later, apart from its rows: not captured, and
                    # never silently, the tables it touched stop.
                    for table in tables:
                        yield Ddl(end, _utc(event.timestamp), gtid, table, "xa", "XA PREPARE")
                gtid, pending, in_transaction = None, [], False
                continue
    finally:
        stream.close()


def _schema_of(event: QueryEvent, default: str) -> str:
    raw = event.schema
    text = raw.decode() if isinstance(raw, bytes) else str(raw or "")
    return text or default


def _commit(
    end: BinlogPosition, timestamp: int, gtid: str | None, pending: list[RowChange]
) -> Transaction | Idle:
    if not pending:
        return Idle(end, _utc(timestamp))
    return Transaction(end, _utc(timestamp), gtid, tuple(pending))


def _row_changes(event: WriteRowsEvent | UpdateRowsEvent | DeleteRowsEvent) -> list[RowChange]:
    """The event's rows; a None the library gives for an empty SET or a zero date (not a
    NULL) is put back, as the batch extract reads them."""
    table = event.table
    if isinstance(event, WriteRowsEvent):
        return [RowChange(table, "insert", None, _image(row, "")) for row in event.rows]
    if isinstance(event, DeleteRowsEvent):
        return [RowChange(table, "delete", _image(row, ""), None) for row in event.rows]
    return [
        RowChange(table, "update", _image(row, "before_"), _image(row, "after_"))
        for row in event.rows
    ]


def _image(row: dict, prefix: str) -> dict[str, object]:
    values = row[f"{prefix}values"]
    return with_none_sources(values, row.get(f"{prefix}none_sources") or {})
