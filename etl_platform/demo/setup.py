"""Bring the demo shards up: a private server (or the user's), seeded once, described in .local."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pymysql

from etl_platform.demo.mariadb_server import start_server
from etl_platform.env import DEMO_URL_ENV, demo_mysql_url
from etl_platform.extract.connection import MySqlEndpoint


@dataclasses.dataclass(frozen=True)
class DemoParams:
    shards: int = 12
    orders_per_shard: int = 20_000
    days: int = 90
    seed: int = 42


def demo_server(local_dir: Path) -> tuple[MySqlEndpoint, bool]:
    """The server the demo uses: `ETL_PLATFORM_DEMO_MYSQL_URL` if set, else a private one."""
    url = demo_mysql_url()
    if url:
        return MySqlEndpoint.from_url(url).with_database(None), False
    return start_server(local_dir / "mariadb").endpoint, True


def _marker(local_dir: Path) -> Path:
    return local_dir / "demo-seed.json"


def _server_identity(server: MySqlEndpoint, private: bool) -> str:
    """The private server's port changes between starts; its data folder does not."""
    return "private" if private else server.describe()


def _seeded_as(server: MySqlEndpoint, identity: str, local_dir: Path, params: DemoParams) -> bool:
    """True when the marker matches these parameters and the last shard is still there."""
    marker = _marker(local_dir)
    if not marker.exists():
        return False
    recorded = json.loads(marker.read_text())
    if recorded.get("params") != dataclasses.asdict(params) or recorded.get("server") != identity:
        return False
    try:
        conn = server.connect(connect_timeout=5)
    except pymysql.err.Error:
        return False
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
                (f"shop_{params.shards - 1:02d}",),
            )
            return cur.fetchone()[0] == 4
    finally:
        conn.close()


def ensure_demo(
    local_dir: Path, params: DemoParams, *, force: bool = False
) -> tuple[MySqlEndpoint, str]:
    """Start or reuse the server, seed it unless already seeded as asked; says what it did."""
    from etl_platform.demo.seed import seed_shards

    server, private = demo_server(local_dir)
    local_dir.mkdir(parents=True, exist_ok=True)
    where = "private server" if private else f"server from {DEMO_URL_ENV}"
    identity = _server_identity(server, private)
    if private:  # the port changes between starts: tell `make dev` where it is now
        (local_dir / "demo.env").write_text(f"{DEMO_URL_ENV}={server.url()}\n")
    if not force and _seeded_as(server, identity, local_dir, params):
        return server, f"reused the seeded demo shards on the {where} ({server.describe()})"
    report = seed_shards(
        server,
        shards=params.shards,
        orders_per_shard=params.orders_per_shard,
        days=params.days,
        seed=params.seed,
    )
    _marker(local_dir).write_text(
        json.dumps({"params": dataclasses.asdict(params), "server": identity})
    )
    return server, f"seeded {params.shards} shards on the {where} ({server.describe()}): {report}"
