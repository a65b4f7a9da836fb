"""What a shard must offer before its binlog is captured, each with the setting to change."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pymysql

from etl_platform.cdc.checkpoint import Checkpoint


@dataclasses.dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    value: str
    #: What to change when not ok (a server setting or a GRANT).
    fix: str = ""
    #: Not ok but capture can run (reported, not refused).
    warning: bool = False


def _variables(conn: pymysql.connections.Connection) -> dict[str, str]:
    with conn.cursor() as cur:
        cur.execute(
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('log_bin', 'binlog_format', "
            "'binlog_row_image', 'binlog_row_metadata', 'gtid_mode', 'gtid_strict_mode', "
            "'gtid_binlog_pos', 'expire_logs_days', 'binlog_expire_logs_seconds', 'version', "
            "'binlog_row_value_options', 'binlog_transaction_compression', 'log_bin_compress')"
        )
        return {str(k).lower(): str(v) for k, v in cur.fetchall()}


def _binlogs(conn: pymysql.connections.Connection) -> list[tuple[str, int]]:
    with conn.cursor() as cur:
        cur.execute("SHOW BINARY LOGS")
        return [(str(r[0]), int(r[1])) for r in cur.fetchall()]


def _grants(conn: pymysql.connections.Connection) -> str:
    with conn.cursor() as cur:
        cur.execute("SHOW GRANTS")
        return " ".join(str(r[0]) for r in cur.fetchall()).upper()


def _retention(variables: dict[str, str]) -> dt.timedelta | None:
    """How long the server keeps binlogs (None: forever)."""
    seconds = int(variables.get("binlog_expire_logs_seconds", "0") or 0)
    if not seconds:
        days = float(variables.get("expire_logs_days", "0") or 0)
        seconds = int(days * 86_400)
    return dt.timedelta(seconds=seconds) if seconds else None


def check_shard(
    conn: pymysql.connections.Connection, checkpoint: Checkpoint | None
) -> list[Finding]:
    """The findings for one shard: settings, privileges, and the stored checkpoint's binlog."""
    v = _variables(conn)
    mariadb = "mariadb" in v.get("version", "").lower()
    found = [
        Finding("log_bin", v.get("log_bin") == "ON", v.get("log_bin", "?"), "log_bin = ON"),
        Finding(
            "binlog_format",
            v.get("binlog_format") == "ROW",
            v.get("binlog_format", "?"),
            "binlog_format = ROW",
        ),
        Finding(
            "binlog_row_image",
            v.get("binlog_row_image") == "FULL",
            v.get("binlog_row_image", "?"),
            "binlog_row_image = FULL",
        ),
        Finding(
            "binlog_row_metadata",
            v.get("binlog_row_metadata") == "FULL",
            v.get("binlog_row_metadata", "not supported"),
            "binlog_row_metadata = FULL (MariaDB >= 10.5, MySQL >= 8.0.1): column names in "
            "the log, so an ALTER TABLE cannot mislabel columns",
        ),
    ]
    # Events the reader cannot decode: partial JSON updates and compressed events.
    for name, bad, fix in (
        ("binlog_row_value_options", "PARTIAL_JSON", "binlog_row_value_options = ''"),
        ("binlog_transaction_compression", "ON", "binlog_transaction_compression = OFF"),
        ("log_bin_compress", "ON", "log_bin_compress = OFF"),
    ):
        if name in v:
            found.append(Finding(name, v[name].upper() != bad, v[name] or "''", fix))
    if mariadb:
        gtid = v.get("gtid_binlog_pos", "")
        found.append(Finding("gtid", True, f"MariaDB GTID {gtid or '(none yet)'}"))
    else:
        found.append(
            Finding(
                "gtid_mode",
                True,
                v.get("gtid_mode", "OFF"),
                warning=v.get("gtid_mode", "OFF") != "ON",
                fix="gtid_mode = ON (recommended; capture resumes by file and position)",
            )
        )
    grants = _grants(conn)
    needed = ["REPLICATION SLAVE", "BINLOG MONITOR" if mariadb else "REPLICATION CLIENT"]
    missing = [g for g in needed if g not in grants and "ALL PRIVILEGES ON *.*" not in grants]
    if mariadb and "BINLOG MONITOR" in missing and "REPLICATION CLIENT" in grants:
        missing.remove("BINLOG MONITOR")  # its older name
    found.append(
        Finding(
            "privileges",
            not missing,
            "ok" if not missing else f"missing {', '.join(missing)}",
            f"GRANT {', '.join(missing) or 'REPLICATION SLAVE'} ON *.* TO <the capture user>",
        )
    )
    found.append(
        _checkpoint_finding(v, _binlogs(conn) if v.get("log_bin") == "ON" else [], checkpoint)
    )
    return found


def _checkpoint_finding(
    variables: dict[str, str], binlogs: list[tuple[str, int]], checkpoint: Checkpoint | None
) -> Finding:
    retention = _retention(variables)
    kept = "forever" if retention is None else f"{retention}"
    if checkpoint is None:
        return Finding(
            "checkpoint",
            True,
            f"none yet (capture starts at the binlog's end); binlogs kept {kept}",
        )
    names = [name for name, _ in binlogs]
    if checkpoint.position.log_file not in names:
        oldest = names[0] if names else "none"
        return Finding(
            "checkpoint",
            False,
            f"{checkpoint.position} was purged from the server (oldest kept: {oldest})",
            "the changes since the checkpoint are gone from the server: `cdc run` re-reads the "
            "CDC tables' days since the checkpoint with the batch extract, then streams on",
            warning=True,
        )
    behind = sum(size for name, size in binlogs if name >= checkpoint.position.log_file)
    behind -= checkpoint.position.log_pos
    left = ""
    if retention is not None and checkpoint.confirmed_at is not None:
        age = dt.datetime.now(dt.UTC) - checkpoint.confirmed_at
        left = f"; {max(retention - age, dt.timedelta(0))} of retention left"
    return Finding(
        "checkpoint",
        True,
        f"{checkpoint.position}: {max(behind, 0):,} bytes of binlog to read{left} (kept {kept})",
    )


def failures(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if not f.ok and not f.warning]
