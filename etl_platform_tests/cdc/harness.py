"""What the CDC tests share: a `mode: cdc` source on the private binlog server, a writer of
random changes that keeps to a few days, and the lake's rows read as the views read them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import textwrap
import threading
from pathlib import Path

import polars as pl
import pymysql

from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.load.lake import Lake
from etl_platform.load.raw_day_reads import read_raw_day_slices
from etl_platform.specs.loader import load_sources
from etl_platform.specs.sources import SourcesSpec
from etl_platform_tests.conftest import run_sql

URL_ENV = "ETL_PLATFORM_TEST_CDC_URL"
TABLE_SQL = """
CREATE TABLE orders (
  id INT UNSIGNED NOT NULL PRIMARY KEY,
  status VARCHAR(20) NOT NULL,
  amount DECIMAL(12,2),
  note TEXT,
  updated_at DATETIME(6) NOT NULL,
  KEY (updated_at)
)
"""
COLUMNS = ["id", "status", "amount", "note", "updated_at"]
#: The days the writer's rows fall on: today and the two before (a move between days is one
#: update away).
SPREAD_DAYS = 3


def write_sources(
    folder: Path,
    databases: list[str],
    *,
    start: dt.date,
    extra_tables: dict[str, str] | None = None,
    **cdc: object,
) -> Path:
    shards = "\n".join(
        f"  s{i}: {{url_env: {URL_ENV}, database: {db}}}" for i, db in enumerate(databases)
    )
    settings = ", ".join(f"{k}: {v}" for k, v in cdc.items())
    tables = "".join(f"\n  {name}: {spec}" for name, spec in (extra_tables or {}).items())
    path = folder / "sources.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            timezone: UTC
            start: {start.isoformat()}
            extract: {{connect_timeout_seconds: 5, retry: {{max_retries: 0}}}}
            cdc: {{{settings}}}
            shards:
            {{shards}}
            tables:
              orders: {{primary_key: [id], cursor: updated_at, mode: cdc}}
            """
        ).replace("{shards}", shards)
        + tables
    )
    return path


def sources_for(path: Path, endpoint: MySqlEndpoint, monkeypatch) -> SourcesSpec:
    monkeypatch.setenv(URL_ENV, endpoint.with_database(None).url())
    return load_sources(path)


def create_database(endpoint: MySqlEndpoint, database: str) -> MySqlEndpoint:
    run_sql(endpoint, f"DROP DATABASE IF EXISTS `{database}`", f"CREATE DATABASE `{database}`")
    db = endpoint.with_database(database)
    run_sql(db, TABLE_SQL)
    return db


@dataclasses.dataclass
class Writer:
    """Random inserts, updates (some moving a row to another day), deletes, in transactions
    of one to five statements, until stopped."""

    endpoint: MySqlEndpoint
    seed: int = 1
    next_id: int = 1
    first_id: int = 1
    #: Updates and deletes pick ids from here up (default: the writer's own first id).
    touch_from: int | None = None
    #: Cursor values up to two days back (moves between days); False: now.
    spread: bool = True
    committed: int = 0
    stop: threading.Event = dataclasses.field(default_factory=threading.Event)

    def _when(self, rng: random.Random) -> str:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        if not self.spread:
            return now.isoformat(sep=" ")
        back = rng.choice([0, 0, 0, 1, 2]) * 86_400 + rng.randint(0, 3_600)
        return (now - dt.timedelta(seconds=back)).isoformat(sep=" ")

    def transaction(self, conn: pymysql.connections.Connection, rng: random.Random) -> None:
        with conn.cursor() as cur:
            for _ in range(rng.randint(1, 5)):
                action = rng.random()
                if action < 0.45 or self.next_id < self.first_id + 5:
                    cur.execute(
                        "INSERT INTO orders (id, status, amount, note, updated_at) "
                        "VALUES (%s, %s, %s, %s, %s)",
                        (
                            self.next_id,
                            "new",
                            f"{rng.randint(1, 99_999) / 100:.2f}",
                            rng.choice([None, "x", "Ünïcode ✓"]),
                            self._when(rng),
                        ),
                    )
                    self.next_id += 1
                elif action < 0.9:
                    cur.execute(
                        "UPDATE orders SET status = %s, amount = amount + 1, updated_at = %s "
                        "WHERE id = %s",
                        (
                            rng.choice(["paid", "shipped", "done"]),
                            self._when(rng),
                            rng.randrange(self.touch_from or self.first_id, self.next_id),
                        ),
                    )
                else:
                    cur.execute(
                        "DELETE FROM orders WHERE id = %s",
                        (rng.randrange(self.touch_from or self.first_id, self.next_id),),
                    )
        conn.commit()
        self.committed += 1

    def run(self, transactions: int | None = None, pause: float = 0.0) -> None:
        rng = random.Random(self.seed)
        conn = self.endpoint.connect(autocommit=False)
        try:
            with conn.cursor() as cur:
                cur.execute("SET SESSION time_zone = '+00:00'")
                if self.next_id == 1:  # no range of its own: after what is there
                    cur.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM orders")
                    self.next_id = int(cur.fetchone()[0])
            self.first_id = self.next_id
            n = 0
            while not self.stop.is_set() and (transactions is None or n < transactions):
                self.transaction(conn, rng)
                n += 1
                if pause:
                    self.stop.wait(pause)
        finally:
            conn.close()


def source_rows(endpoint: MySqlEndpoint) -> pl.DataFrame:
    rows = run_sql(endpoint, f"SELECT {', '.join(COLUMNS)} FROM orders ORDER BY id")
    return _normal(pl.DataFrame([dict(zip(COLUMNS, r, strict=True)) for r in rows]))


def lake_rows(lake: Lake, sources: SourcesSpec, shard: str, *, history: bool) -> pl.DataFrame:
    """Every day of the table on `shard`, each read as the views read it."""
    spec = sources.tables["orders"]
    days = sorted(lake.raw(shard, "orders").written_days() | lake.changes(shard, "orders").days())
    frames = [
        frame
        for day in days
        for frame in read_raw_day_slices(
            lake, shard, spec, "orders", day, COLUMNS, 100_000, history=history
        )
    ]
    if not frames:
        return pl.DataFrame(schema=dict.fromkeys(COLUMNS, pl.String))
    return _normal(pl.concat(frames, how="diagonal_relaxed"))


def _normal(frame: pl.DataFrame) -> pl.DataFrame:
    """Comparable across the two sides: text for every value, rows by key."""
    if frame.is_empty():
        return pl.DataFrame(schema=dict.fromkeys(COLUMNS, pl.String))
    out = frame.select(COLUMNS)
    if out.schema["updated_at"] != pl.String:
        out = out.with_columns(pl.col("updated_at").dt.replace_time_zone(None))
    return out.with_columns(pl.all().cast(pl.String)).sort("id")


def binlog_end(endpoint: MySqlEndpoint):
    from etl_platform.extract.binlog_stream import current_position

    conn = endpoint.connect()
    try:
        return current_position(conn)
    finally:
        conn.close()


def wait_caught_up(lake: Lake, shard: str, endpoint: MySqlEndpoint, timeout: float = 90) -> None:
    """Until the shard's checkpoint reaches where its binlog ends now."""
    import time

    from etl_platform.cdc.checkpoint import read_checkpoint

    target = binlog_end(endpoint)
    deadline = time.monotonic() + timeout
    cp = None
    while time.monotonic() < deadline:
        cp = read_checkpoint(lake.root, shard)
        if cp is not None and cp.position >= target:
            return
        time.sleep(0.1)
    raise AssertionError(f"capture of {shard} did not reach {target}: at {cp and cp.position}")


class RunningCapture:
    """A `ShardCapture` on a thread, stopped and joined on exit."""

    def __init__(self, capture) -> None:
        self.capture = capture
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            self.capture.run(self.stop)
        except BaseException as e:  # the test asserts on it
            self.error = e

    def __enter__(self) -> RunningCapture:
        """Started, once its first position is stored: what is committed from then on is
        the capture's to land (what came before is the handover's)."""
        import time

        from etl_platform.cdc.checkpoint import read_checkpoint

        self.thread.start()
        deadline = time.monotonic() + 60
        while read_checkpoint(self.capture.lake.root, self.capture.shard) is None:
            assert self.error is None, self.error
            assert time.monotonic() < deadline, "the capture did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "the capture did not stop"
        if self.error is not None and exc[0] is None:
            raise self.error
