"""Replica protection: a read waits while the shard's replica trails its primary too far.

Shards are read from replicas. One that lags is already short of capacity, and a day read
from it misses what it has not applied yet, so a source asset checks the lag first
(`SHOW REPLICA STATUS`, `SHOW SLAVE STATUS` on older servers) and sleeps while it is above
`extract.replica.max_lag_seconds`. A server without replica status is a primary: nothing to
wait for. A stopped SQL thread leaves `Seconds_Behind_Master` NULL while the replica falls
further behind with each write on its primary, so an unknown lag counts as too far behind.

A primary promoted by a failover that ran `STOP REPLICA` but not `RESET REPLICA ALL` keeps a
status row with both threads stopped: with `@@read_only = 0` as well it is read as a primary,
with a warning to reset it; a server with only its SQL thread stopped, or read-only, is a
replica and is waited for. The server's error texts (`Last_SQL_Error`) quote row values, so only
their numbers are shown.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

import pymysql

from etl_platform.extract.connection import (
    MySqlEndpoint,
    is_connect_error,
    shard_unavailable,
)
from etl_platform.specs.sources import ReplicaLagSettings

#: MySQL/MariaDB: the user may not read replica status (REPLICA MONITOR, REPLICATION CLIENT).
_NO_PRIVILEGE = frozenset({1227})
#: `SHOW REPLICA STATUS` is not known (MySQL before 8.0.22, MariaDB before 10.5).
_SYNTAX_ERROR = 1064

#: Column names on MariaDB and older MySQL, then MySQL 8.0.22 and later.
_LAG = ("Seconds_Behind_Master", "Seconds_Behind_Source")
_IO_RUNNING = ("Slave_IO_Running", "Replica_IO_Running")
_SQL_RUNNING = ("Slave_SQL_Running", "Replica_SQL_Running")
_READ_FILE = ("Master_Log_File", "Source_Log_File")
_READ_POS = ("Read_Master_Log_Pos", "Read_Source_Log_Pos")
_EXEC_FILE = ("Relay_Master_Log_File", "Relay_Source_Log_File")
_EXEC_POS = ("Exec_Master_Log_Pos", "Exec_Source_Log_Pos")
_HOST = ("Master_Host", "Source_Host")
_PORT = ("Master_Port", "Source_Port")


class ReplicaLagError(RuntimeError):
    """A replica still too far behind after the longest wait; names the shard and the lag."""

    def __init__(self, message: str, status: ReplicaStatus) -> None:
        super().__init__(message)
        self.status = status


@dataclasses.dataclass(frozen=True)
class ReplicaStatus:
    """What one look at a server's replica status found.

    `role` is `unknown` when the user may not read the status: nothing is waited for then
    (a missing grant must not stop every read), and `reason` says which grant to add.
    """

    role: Literal["primary", "replica", "unknown"]
    #: Seconds behind its primary; None on a primary or when the server cannot tell.
    lag_seconds: int | None
    io_running: bool
    sql_running: bool
    reason: str
    #: A primary that still shows a stopped replica status (promoted without a reset).
    stale_replica_status: bool = False

    def too_far_behind(self, max_lag_seconds: int) -> bool:
        if self.role != "replica":
            return False
        return self.lag_seconds is None or self.lag_seconds > max_lag_seconds

    def describe_lag(self) -> str:
        return "unknown" if self.lag_seconds is None else f"{self.lag_seconds}s"


PRIMARY = ReplicaStatus("primary", None, False, False, "not a replica (no replica status)")
PROMOTED = ReplicaStatus(
    "primary",
    None,
    False,
    False,
    "its replica status shows both threads stopped but @@read_only = 0, so it is read as a "
    "primary (promoted without a reset); run RESET REPLICA ALL on it to clear the old status",
    stale_replica_status=True,
)


def _field(row: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    return next((row[n] for n in names if n in row), None)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _int(value: Any) -> int | None:
    return None if value is None or value == "" else int(_text(value))


def _positions(row: Mapping[str, Any]) -> str:
    """How far the SQL thread has applied what the IO thread read from the primary."""
    read_file, exec_file = _field(row, _READ_FILE), _field(row, _EXEC_FILE)
    read_pos, exec_pos = _int(_field(row, _READ_POS)), _int(_field(row, _EXEC_POS))
    if read_pos is None or exec_pos is None:
        return ""
    if read_file is not None and _text(read_file) == _text(exec_file or ""):
        if read_pos == exec_pos:
            return f"; it has applied all it read ({_text(read_file)}:{read_pos})"
        return (
            f"; {read_pos - exec_pos} bytes of {_text(read_file)} read but not applied "
            f"(applied to {exec_pos}, read to {read_pos})"
        )
    return (
        f"; applied to {_text(exec_file)}:{exec_pos}, read to {_text(read_file)}:{read_pos}"
        " (relay log not applied)"
    )


def _error(row: Mapping[str, Any], column: str) -> str:
    """The error's number only (`Last_SQL_Errno`): its text may quote row values."""
    errno = _int(row.get(column))
    if not errno:
        return ""
    return f" ({column} {errno}; see SHOW REPLICA STATUS on the shard)"


def status_from_row(row: Mapping[str, Any]) -> ReplicaStatus:
    """One row of `SHOW REPLICA STATUS` (column name to value) as a status with its reason."""
    io_running = _text(_field(row, _IO_RUNNING) or "") == "Yes"
    sql_running = _text(_field(row, _SQL_RUNNING) or "") == "Yes"
    lag = _int(_field(row, _LAG))
    host, port = _field(row, _HOST), _field(row, _PORT)
    primary = f"its primary {_text(host)}:{_text(port)}" if host else "its primary"
    positions = _positions(row)
    if not sql_running:
        reason = (
            f"the replica's SQL thread is stopped{_error(row, 'Last_SQL_Errno')}, so its lag "
            f"behind {primary} is unknown (Seconds_Behind_Master is NULL) and grows with every "
            f"write there{positions}"
        )
        lag = None
    elif not io_running:
        state = _text(_field(row, _IO_RUNNING) or "No")
        reason = (
            f"the replica's IO thread is not running ({state}){_error(row, 'Last_IO_Errno')}: "
            f"it is not receiving from {primary}, so its lag is unknown{positions}"
        )
        lag = None
    elif lag is None:
        reason = f"the replica cannot tell its lag behind {primary} yet{positions}"
    else:
        reason = f"the replica is {lag}s behind {primary}{positions}"
    return ReplicaStatus("replica", lag, io_running, sql_running, reason)


def worst(statuses: list[ReplicaStatus]) -> ReplicaStatus:
    """Of several replication channels, the one furthest behind (unknown counts as furthest)."""
    if not statuses:
        return PRIMARY
    return max(statuses, key=lambda s: float("inf") if s.lag_seconds is None else s.lag_seconds)


def _rows(cur: pymysql.cursors.Cursor, statement: str) -> list[dict[str, Any]]:
    cur.execute(statement)
    names = [d[0] for d in cur.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def read_replica_status(conn: pymysql.connections.Connection) -> ReplicaStatus:
    """The server's replica status over an open connection: a primary has none."""
    with conn.cursor() as cur:
        try:
            try:
                rows = _rows(cur, "SHOW REPLICA STATUS")
            except pymysql.err.ProgrammingError as e:
                if not e.args or e.args[0] != _SYNTAX_ERROR:
                    raise
                rows = _rows(cur, "SHOW SLAVE STATUS")
        except pymysql.err.Error as e:
            if e.args and e.args[0] in _NO_PRIVILEGE:
                return ReplicaStatus(
                    "unknown",
                    None,
                    False,
                    False,
                    "the user may not read the replica status (grant it REPLICA MONITOR on "
                    "MariaDB, REPLICATION CLIENT on MySQL), so its lag was not checked",
                )
            raise
        statuses = [status_from_row(row) for row in rows]
        if statuses and not any(s.io_running or s.sql_running for s in statuses):
            (read_only,) = _rows(cur, "SELECT @@read_only AS read_only")[0].values()
            if _text(read_only).upper() in ("0", "OFF"):
                return PROMOTED
    return worst(statuses)


def check_replica(
    endpoint: MySqlEndpoint, *, shard: str, table: str, connect_timeout: float
) -> ReplicaStatus:
    """One look at the shard's replica status on a connection of its own; a shard that cannot
    be reached raises `ShardUnavailableError`, as a read would."""
    try:
        conn = endpoint.connect(connect_timeout=connect_timeout, read_timeout=connect_timeout)
    except pymysql.err.Error as e:
        if is_connect_error(e):
            raise shard_unavailable(shard, endpoint, table, e) from None
        raise
    try:
        return read_replica_status(conn)
    except pymysql.err.Error as e:
        if is_connect_error(e):
            raise shard_unavailable(shard, endpoint, table, e) from None
        raise
    finally:
        conn.close()


def wait_for_replica(
    check: Callable[[], ReplicaStatus],
    settings: ReplicaLagSettings,
    *,
    shard: str,
    table: str,
    warn: Callable[[str], object] = lambda _: None,
    info: Callable[[str], object] = lambda _: None,
    sleep: Callable[[float], object] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ReplicaStatus:
    """Check, and while the replica is too far behind sleep `wait_seconds` and check again,
    for at most `max_wait_seconds` in all; then raise `ReplicaLagError`.

    Returns the status the read goes ahead on. `warn` hears each wait, `info` the end of one.
    """
    limit = settings.max_lag_seconds
    started = clock()
    status = check()
    if status.role == "unknown":
        warn(f"shard {shard}: {status.reason}; reading {table} anyway")
    while status.too_far_behind(limit):
        waited = clock() - started
        left = settings.max_wait_seconds - waited
        if left <= 0:
            raise ReplicaLagError(
                f"shard {shard}: replica lag {status.describe_lag()} is above the {limit}s "
                f"limit after waiting {waited:.0f}s, so `{table}` was not read "
                f"(extract.replica.max_wait_seconds {settings.max_wait_seconds:g}): "
                f"{status.reason}",
                status,
            )
        pause = min(settings.wait_seconds, left)
        warn(
            f"shard {shard}: replica lag {status.describe_lag()} is above the {limit}s limit; "
            f"waiting {pause:g}s before reading `{table}` ({waited:.0f}s waited so far): "
            f"{status.reason}"
        )
        sleep(pause)
        status = check()
        if not status.too_far_behind(limit):
            info(
                f"shard {shard}: replica lag {status.describe_lag()} is within the {limit}s "
                f"limit after waiting {clock() - started:.0f}s; reading `{table}`"
            )
    if status.stale_replica_status:
        warn(f"shard {shard}: {status.reason}")
    return status


def guard_replica(
    endpoint: MySqlEndpoint,
    settings: ReplicaLagSettings,
    *,
    shard: str,
    table: str,
    connect_timeout: float,
    warn: Callable[[str], object] = lambda _: None,
    info: Callable[[str], object] = lambda _: None,
) -> ReplicaStatus:
    """`wait_for_replica` on the shard's server: what a source asset runs before its read."""
    return wait_for_replica(
        lambda: check_replica(endpoint, shard=shard, table=table, connect_timeout=connect_timeout),
        settings,
        shard=shard,
        table=table,
        warn=warn,
        info=info,
    )


def lag_metadata(status: ReplicaStatus) -> dict[str, int]:
    """`replica_lag_seconds` for a read from a replica; nothing for a primary."""
    if status.role != "replica" or status.lag_seconds is None:
        return {}
    return {"replica_lag_seconds": status.lag_seconds}
