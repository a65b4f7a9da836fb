"""Fill the demo shard databases (shop_00 .. shop_11) with deterministic, deliberately messy data.

Each shard is dropped, re-created from `schema.sql` and bulk-loaded by one worker process; rows
come from `etl_platform.demo.rows`, so the same seed always gives the same tables.

Run it: `python -m etl_platform.demo.seed --url mysql://root@127.0.0.1:3306/`.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import multiprocessing
import re
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pymysql

from etl_platform.demo.rows import COLUMNS, Row, ShardSpec, generate_shard
from etl_platform.extract.connection import MySqlEndpoint

SCHEMA_PATH = Path(__file__).with_name("schema.sql")
TABLES = tuple(COLUMNS)
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Zero dates need a non-strict sql_mode; TIMESTAMP strings are UTC only with a UTC session;
#: the checks are pointless on freshly generated, already consistent rows.
SESSION_SETUP = (
    "SET SESSION sql_mode = ''",
    "SET SESSION time_zone = '+00:00'",
    "SET SESSION unique_checks = 0",
    "SET SESSION foreign_key_checks = 0",
)

#: Columns holding bytes: sent as hex and decoded by the server, so the file stays UTF-8 text.
BINARY_COLUMNS = {"products": frozenset({"thumbnail"})}
#: LOAD DATA's default format (tab-separated, FIELDS ESCAPED BY '\\') escapes these characters.
_TSV_SPECIAL = re.compile(r"[\\\t\n\r\0]")
_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


@dataclasses.dataclass(frozen=True)
class SeedReport:
    """What a seeding run did: databases created, rows per table (summed over shards), seconds."""

    databases: tuple[str, ...]
    rows: dict[str, int]
    seconds: float


@dataclasses.dataclass(frozen=True)
class _ShardJob:
    server: MySqlEndpoint
    database: str
    spec: ShardSpec


def seed_shards(
    server: MySqlEndpoint,
    *,
    shards: int = 12,
    orders_per_shard: int = 20_000,
    days: int = 90,
    end: dt.date | None = None,
    db_prefix: str = "shop_",
    seed: int = 42,
    processes: int = 2,
    rich_payload: bool = False,
) -> SeedReport:
    """(Re)create `{db_prefix}00..` on `server` and fill them, `processes` shards at a time.

    `end` is the last day of history (inclusive, default today in UTC); every timestamp lies
    in the `days` days up to it. Existing databases with those names are dropped.
    With `processes` > 1 the workers are spawned (not forked), so a script calling this must
    do so under `if __name__ == "__main__":`. `rich_payload` pads order payloads to ~1 KB.
    """
    if not IDENTIFIER.fullmatch(db_prefix):
        raise ValueError(f"db_prefix must be a plain identifier, got {db_prefix!r}")
    for name, value in (
        ("shards", shards),
        ("orders_per_shard", orders_per_shard),
        ("days", days),
        ("processes", processes),
    ):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    end = end or dt.datetime.now(dt.UTC).date()
    started = time.perf_counter()
    jobs = [
        _ShardJob(
            server.with_database(None),
            f"{db_prefix}{index:02d}",
            ShardSpec(
                index=index,
                orders=orders_per_shard,
                days=days,
                end=end,
                seed=seed,
                rich_payload=rich_payload,
            ),
        )
        for index in range(shards)
    ]
    counts = _run_jobs(jobs, processes)
    return SeedReport(
        databases=tuple(job.database for job in jobs),
        rows={table: sum(c[table] for c in counts) for table in TABLES},
        seconds=time.perf_counter() - started,
    )


def split_sql(text: str) -> list[str]:
    """Statements of a SQL script: split on `;` outside quotes, with comments removed.

    A plain `text.split(";")` would break on a `;` inside a string or a comment.
    """
    statements: list[str] = []
    current: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char in "'\"`":
            end = _quote_end(text, i)
            current.append(text[i:end])
            i = end
        elif char == "#" or (text.startswith("--", i) and (i + 2 == n or text[i + 2].isspace())):
            newline = text.find("\n", i)
            i = n if newline < 0 else newline
        elif text.startswith("/*", i):
            close = text.find("*/", i + 2)
            if close < 0:
                raise ValueError("unterminated /* comment in SQL script")
            current.append(" ")
            i = close + 2
        elif char == ";":
            statements.append("".join(current))
            current = []
            i += 1
        else:
            current.append(char)
            i += 1
    statements.append("".join(current))
    return [s.strip() for s in statements if s.strip()]


def _quote_end(text: str, start: int) -> int:
    """Index just past the quoted literal opening at `start` (doubled and \\-escaped quotes)."""
    quote = text[start]
    i = start + 1
    while i < len(text):
        if text[i] == "\\" and quote != "`":
            i += 2
        elif text[i] == quote:
            if text.startswith(quote * 2, i):
                i += 2
            else:
                return i + 1
        else:
            i += 1
    raise ValueError(f"unterminated {quote} quote in SQL script")


def _run_jobs(jobs: Sequence[_ShardJob], processes: int) -> list[dict[str, int]]:
    workers = min(processes, len(jobs))
    if workers == 1:
        return [_seed_shard(job) for job in jobs]
    # spawn, not fork: callers (Dagster, pytest) may have threads, which fork does not copy.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(pool.map(_seed_shard, jobs))


def _seed_shard(job: _ShardJob) -> dict[str, int]:
    """Generate one shard's rows, then drop, re-create and load its database."""
    rows = generate_shard(job.spec)
    connection = job.server.connect(autocommit=False, local_infile=True)
    try:
        with connection.cursor() as cursor, tempfile.TemporaryDirectory() as tmp:
            for statement in SESSION_SETUP:
                cursor.execute(statement)
            use_load_data = _local_infile_allowed(cursor)
            _recreate_database(cursor, job.database)
            for table in TABLES:
                if use_load_data:
                    _load_rows(cursor, table, rows.table(table), Path(tmp) / f"{table}.tsv")
                else:
                    _insert_rows(cursor, table, rows.table(table))
                connection.commit()  # one transaction per table: few log flushes
    finally:
        connection.close()
    return {table: len(rows.table(table)) for table in TABLES}


def _recreate_database(cursor: pymysql.cursors.Cursor, database: str) -> None:
    quoted = f"`{database}`"  # safe: built from a checked identifier and digits
    cursor.execute(f"DROP DATABASE IF EXISTS {quoted}")
    cursor.execute(f"CREATE DATABASE {quoted} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    cursor.execute(f"USE {quoted}")
    for statement in split_sql(SCHEMA_PATH.read_text(encoding="utf-8")):
        cursor.execute(statement)


def _local_infile_allowed(cursor: pymysql.cursors.Cursor) -> bool:
    """LOAD DATA LOCAL needs the server's consent (MySQL 8 ships with it off; MariaDB on)."""
    cursor.execute("SELECT @@GLOBAL.local_infile")
    row = cursor.fetchone()
    return row is not None and str(row[0]) in ("1", "ON")


def _insert_rows(cursor: pymysql.cursors.Cursor, table: str, rows: Sequence[Row]) -> None:
    """The fallback: one `executemany`, which pymysql folds into ~1 MB multi-row INSERTs.

    Same rows as `_load_rows`, but more server CPU: every value is parsed as a SQL literal.
    """
    columns = COLUMNS[table]
    names = ", ".join(f"`{c}`" for c in columns)
    placeholders = ", ".join(["%s"] * len(columns))
    cursor.executemany(f"INSERT INTO `{table}` ({names}) VALUES ({placeholders})", rows)


def _load_rows(cursor: pymysql.cursors.Cursor, table: str, rows: Sequence[Row], path: Path) -> None:
    """Write `rows` to a TSV file at `path` and LOAD DATA LOCAL INFILE it.

    Less server CPU than multi-row INSERTs (no SQL literals to parse), and the single
    statement lets us check its warnings (the lax sql_mode would hide truncations).
    """
    with path.open("w", encoding="utf-8", newline="") as out:
        out.writelines("\t".join([_tsv_field(v) for v in row]) + "\n" for row in rows)
    binary = BINARY_COLUMNS.get(table, frozenset())
    targets = ", ".join(f"@`{c}`" if c in binary else f"`{c}`" for c in COLUMNS[table])
    decode = ", ".join(f"`{c}` = UNHEX(@`{c}`)" for c in sorted(binary))
    loaded = cursor.execute(
        f"LOAD DATA LOCAL INFILE %s INTO TABLE `{table}` CHARACTER SET utf8mb4 ({targets})"
        + (f" SET {decode}" if decode else ""),
        (str(path),),
    )
    cursor.execute("SHOW WARNINGS LIMIT 5")
    warnings = cursor.fetchall()
    if warnings or loaded != len(rows):
        raise RuntimeError(f"loading {table}: {loaded} of {len(rows)} rows, {warnings}")


def _tsv_field(value: object) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):  # translate() is slow: only run it when needed (rarely)
        return value.translate(_TSV_ESCAPES) if _TSV_SPECIAL.search(value) else value
    if isinstance(value, bytes):
        return value.hex()
    return str(value)  # int, or float (whose str round-trips)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: seed the demo shards and print what was done."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="mysql://root@127.0.0.1:3306/")
    parser.add_argument("--shards", type=int, default=12)
    parser.add_argument("--orders-per-shard", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--end", type=dt.date.fromisoformat, default=None)
    parser.add_argument("--db-prefix", default="shop_")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument(
        "--rich-payload", action="store_true", help="pad order payloads to ~1 KB of JSON"
    )
    args = parser.parse_args(argv)
    report = seed_shards(
        MySqlEndpoint.from_url(args.url),
        shards=args.shards,
        orders_per_shard=args.orders_per_shard,
        days=args.days,
        end=args.end,
        db_prefix=args.db_prefix,
        seed=args.seed,
        processes=args.processes,
        rich_payload=args.rich_payload,
    )
    rows = ", ".join(f"{table}={count}" for table, count in report.rows.items())
    print(f"seeded {len(report.databases)} databases in {report.seconds:.1f}s: {rows}")


if __name__ == "__main__":
    main()
