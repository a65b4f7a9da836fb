"""The bench's shards and project files: one private `mariadbd` per shard (binlog on), an
`orders` table seeded with today's rows, and the `sources.yaml`, schema snapshot and view spec
a `mode: cdc` source needs."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import random
import signal
import textwrap
import time
from pathlib import Path

import yaml

from etl_platform.demo.mariadb_server import PrivateServer, start_server
from etl_platform.extract.connection import MySqlEndpoint

DATABASE = "shop"
VIEW = "orders_live"
#: Each shard's URL is in its own variable: the shards are separate servers.
URL_ENV = "ETL_PLATFORM_BENCH_CDC_URL_{}"
TABLE_SQL = """
CREATE TABLE orders (
  id INT UNSIGNED NOT NULL PRIMARY KEY,
  status VARCHAR(20) NOT NULL,
  amount DECIMAL(12,2) NOT NULL,
  payload JSON,
  updated_at DATETIME(6) NOT NULL,
  KEY (updated_at)
)
"""
INSERT_SQL = (
    "INSERT INTO orders (id, status, amount, payload, updated_at) VALUES (%s, %s, %s, %s, %s)"
)
UPDATE_SQL = "UPDATE orders SET status = %s, amount = amount + 1, updated_at = %s WHERE id = %s"
STATUSES = ("paid", "packed", "shipped", "done")
CHANNELS = ("web", "app", "store", "phone")
#: The view: a few typed columns, one from the JSON payload; the cursor is its `written_at`.
VIEW_ATTRIBUTES = {
    "name": VIEW,
    "source": "orders",
    "columns": {
        "order_id": {"from": "id", "type": "uint32"},
        "status": {"from": "status", "type": "string"},
        "amount": {"from": "amount", "type": "decimal(12,2)"},
        "channel": {"json": "payload", "path": "channel", "type": "string"},
        "written_at": {"from": "updated_at", "type": "timestamp"},
    },
    "unique_key": ["order_id"],
}


def shard_name(index: int) -> str:
    return f"s{index}"


def datetime_text(epoch_us: int) -> str:
    """A UTC DATETIME(6) literal for epoch microseconds, exactly (no float on the way)."""
    return (dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=epoch_us)).isoformat(sep=" ")


def payload(rng: random.Random, order_id: int) -> str:
    """About 300 bytes of JSON: a channel the view reads, and lines it does not."""
    items = [
        {"sku": f"SKU-{rng.randint(1, 9_999):04d}", "qty": rng.randint(1, 4), "price": 9.99}
        for _ in range(rng.randint(1, 3))
    ]
    return json.dumps(
        {
            "channel": rng.choice(CHANNELS),
            "customer": {"id": order_id % 5_000, "tier": rng.choice(["gold", "basic"])},
            "items": items,
            "note": "x" * rng.randint(20, 80),
        }
    )


@dataclasses.dataclass(frozen=True)
class Shard:
    name: str
    folder: Path
    server: PrivateServer

    @property
    def endpoint(self) -> MySqlEndpoint:
        return self.server.endpoint.with_database(DATABASE)

    @property
    def url_env(self) -> str:
        return URL_ENV.format(self.name.upper())


def start_shards(work: Path, count: int) -> list[Shard]:
    """A server per shard, each with the empty `orders` table; stopped by `stop_shards`."""
    shards = []
    try:
        for i in range(count):
            folder = work / f"mariadb-{shard_name(i)}"
            shards.append(Shard(shard_name(i), folder, start_server(folder, binlog=True)))
    except BaseException:
        stop_shards(work, count)
        raise
    for shard in shards:
        conn = shard.server.endpoint.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE {DATABASE}")
                cur.execute(f"USE {DATABASE}")
                cur.execute(TABLE_SQL)
        finally:
            conn.close()
    return shards


def stop_shards(work: Path, count: int, timeout: float = 60) -> None:
    """SIGTERM to every shard's server, then each reaped. `stop_server` polls with
    `kill(pid, 0)`, which a server this process started and never reaped (a zombie) keeps
    answering until its 30 s timeout: here the exit is collected with `waitpid`."""
    pids = []
    for i in range(count):
        pid_file = work / f"mariadb-{shard_name(i)}" / "data" / "mariadbd.pid"
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            pid = int(pid_file.read_text().strip())
            os.kill(pid, signal.SIGTERM)
            pids.append(pid)
    deadline = time.monotonic() + timeout
    for pid in pids:
        while not _ended(pid):
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                _ended(pid)
                break
            time.sleep(0.2)


def _ended(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:  # not this process's child: started by an earlier run
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


def seed(shard: Shard, rows: int, *, seed_value: int) -> None:
    """`rows` orders dated earlier today (the handover's batch extract lands them)."""
    rng = random.Random(seed_value)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    since_midnight = int((now - now.replace(hour=0, minute=0, second=0)).total_seconds())
    conn = shard.endpoint.connect(autocommit=False)
    try:
        with conn.cursor() as cur:
            for start in range(1, rows + 1, 5_000):
                batch = [
                    (
                        i,
                        "new",
                        f"{rng.randint(100, 99_999) / 100:.2f}",
                        payload(rng, i),
                        now - dt.timedelta(seconds=rng.randint(1, max(since_midnight, 2))),
                    )
                    for i in range(start, min(start + 5_000, rows + 1))
                ]
                cur.executemany(INSERT_SQL, batch)
        conn.commit()
    finally:
        conn.close()


def write_project(work: Path, shards: list[Shard], *, batch_seconds: float) -> dict[str, str]:
    """`sources.yaml`, its schema snapshot and the view's `defs.yaml` under `work`; the
    environment (paths and shard URLs) the platform's commands and code read them with."""
    from etl_platform.extract.schema_snapshot import snapshot_schema
    from etl_platform.specs.loader import load_sources
    from etl_platform.specs.source_schema import render_schema
    from etl_platform.specs.view_loader import VIEW_COMPONENT_TYPE

    start = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    lines = "\n".join(f"  {s.name}: {{url_env: {s.url_env}, database: {DATABASE}}}" for s in shards)
    sources = work / "sources.yaml"
    sources.write_text(
        textwrap.dedent(
            f"""\
            timezone: UTC
            start: {start.isoformat()}
            extract: {{connect_timeout_seconds: 5}}
            cdc: {{batch_seconds: {batch_seconds}}}
            shards:
            {{shards}}
            tables:
              orders: {{primary_key: [id], cursor: updated_at, mode: cdc, json: [payload]}}
            """
        ).replace("{shards}", lines)
    )
    env = {s.url_env: s.server.endpoint.url() for s in shards}
    env.update(
        ETL_PLATFORM_SOURCES=str(sources),
        ETL_PLATFORM_LAKE=str(work / "lake"),
        ETL_PLATFORM_VIEWS_DIR=str(work / "views"),
        ETL_PLATFORM_ENV="test",
    )
    os.environ.update(env)
    (work / "sources.schema.yaml").write_text(render_schema(snapshot_schema(load_sources(sources))))
    spec = work / "views" / VIEW / "defs.yaml"
    spec.parent.mkdir(parents=True)
    spec.write_text(yaml.safe_dump({"type": VIEW_COMPONENT_TYPE, "attributes": VIEW_ATTRIBUTES}))
    return env
