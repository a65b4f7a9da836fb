"""Bring the demo shards up: a private server (or the user's), seeded once, described in .local."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from pathlib import Path

import pymysql

from etl_platform.demo.mariadb_server import start_server
from etl_platform.env import DEMO_START_ENV, DEMO_URL_ENV, demo_mysql_url
from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.project_env import file_values, record, record_local_home


@dataclasses.dataclass(frozen=True)
class DemoParams:
    shards: int = 12
    orders_per_shard: int = 20_000
    days: int = 90
    seed: int = 42


def private_url(local_dir: Path) -> str | None:
    """The URL the private server had when it last started (`.env` still holds it)."""
    port_file = local_dir / "mariadb" / "port"
    if not port_file.is_file():
        return None
    return MySqlEndpoint(host="127.0.0.1", port=int(port_file.read_text()), user="root").url()


def demo_server(local_dir: Path) -> tuple[MySqlEndpoint, bool]:
    """The server the demo uses: `ETL_PLATFORM_DEMO_MYSQL_URL` if set, else a private one.
    The private server's own URL (from `.env`) starts it again if it stopped since."""
    url = demo_mysql_url()
    if url and url != private_url(local_dir):
        return MySqlEndpoint.from_url(url).with_database(None), False
    return start_server(local_dir / "mariadb").endpoint, True


def forget_private_url(local_dir: Path) -> None:
    """Drop the stopped private server's URL from `.env`: its next start picks a new port."""
    url = private_url(local_dir)
    if url and file_values().get(DEMO_URL_ENV) == url:
        record({DEMO_URL_ENV: None})


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
    if (
        recorded.get("params") != dataclasses.asdict(params)
        or recorded.get("server") != identity
        or "first_day" not in recorded
    ):
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


def _use_start(first_day: str) -> None:
    """The seed's first day, for this process (the run that follows) and for later shells."""
    os.environ[DEMO_START_ENV] = first_day
    record({DEMO_START_ENV: first_day})


def ensure_demo(
    local_dir: Path, params: DemoParams, *, force: bool = False
) -> tuple[MySqlEndpoint, bool, str]:
    """Start or reuse the server, seed it unless already seeded as asked; the server, whether
    it is the private one, and what it did."""
    from etl_platform.demo.seed import seed_shards

    server, private = demo_server(local_dir)
    local_dir.mkdir(parents=True, exist_ok=True)
    where = "private server" if private else f"server from {DEMO_URL_ENV}"
    identity = _server_identity(server, private)
    # The private server's port changes between starts: `.env` tells the CLI and `dg dev`
    # where the demo is now, in any shell.
    record({DEMO_URL_ENV: server.url() if private else demo_mysql_url()})
    record_local_home()
    if not force and _seeded_as(server, identity, local_dir, params):
        _use_start(json.loads(_marker(local_dir).read_text())["first_day"])
        return (
            server,
            private,
            f"reused the seeded demo shards on the {where} ({server.describe()})",
        )
    end = dt.datetime.now(dt.UTC).date()
    report = seed_shards(
        server,
        shards=params.shards,
        orders_per_shard=params.orders_per_shard,
        days=params.days,
        seed=params.seed,
        end=end,
    )
    first = end - dt.timedelta(days=params.days - 1)
    _marker(local_dir).write_text(
        json.dumps(
            {"params": dataclasses.asdict(params), "server": identity, "first_day": str(first)}
        )
    )
    # The partitions start where the data does, fixed at the seed: a start that moved each
    # day would change the partitions under running backfills.
    _use_start(str(first))
    return (
        server,
        private,
        f"seeded {params.shards} shards on the {where} ({server.describe()}): {report}",
    )
