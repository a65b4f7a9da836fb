"""The benchmark: seed bench shards on a private MariaDB, then time the variants interleaved.

    python -m bench.run [--shards 4] [--orders 500000] [--days 30] [--rounds 3] [--reuse]

Writes the figures to `<dir>/report-<shards>x<orders>.md` (and .json); see bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bench.common import PYTHON, BenchConfig, Measurement, measure
from bench.report import write_report
from bench.variants.platform import platform_env, write_work_dir

if TYPE_CHECKING:
    from etl_platform.extract.connection import MySqlEndpoint

Runner = Callable[[Path], Measurement]


def seed(args: argparse.Namespace, prefix: str, orders: int) -> BenchConfig:
    """Seed (or, with --reuse and the same parameters, keep) `shards` databases `prefix`NN."""
    from etl_platform.demo.mariadb_server import start_server
    from etl_platform.demo.seed import seed_shards

    server = start_server(Path(".local/bench-mariadb"))
    size_buffer_pool(server.endpoint, args.buffer_pool_mib)
    end = dt.datetime.now(dt.UTC).date()
    rich = not args.compact_payload
    params = {
        "shards": args.shards,
        "orders": orders,
        "days": args.days,
        "end": end.isoformat(),
        "rich_payload": rich,
    }
    marker = Path(args.dir) / f"seeded-{prefix}.json"
    if not (args.reuse and marker.exists() and json.loads(marker.read_text()) == params):
        report = seed_shards(
            server.endpoint,
            shards=args.shards,
            orders_per_shard=orders,
            days=args.days,
            end=end,
            db_prefix=prefix,
            rich_payload=rich,
        )
        print(f"seeded {prefix}*: {report.rows} in {report.seconds:.0f}s", flush=True)
        marker.write_text(json.dumps(params))
    warm(server.endpoint, [f"{prefix}{i:02d}" for i in range(args.shards)])
    first = end - dt.timedelta(days=args.days - 1)
    config = BenchConfig(
        "127.0.0.1",
        server.port,
        "root",
        [f"{prefix}{i:02d}" for i in range(args.shards)],
        first.isoformat(),
        end.isoformat(),
        str(Path(args.dir) / f"work-{prefix}"),
    )
    config_path = Path(config.work) / "config.json"
    write_work_dir(config, first)
    config.save(config_path)
    return config


def size_buffer_pool(endpoint: MySqlEndpoint, mib: int) -> None:
    """Resize the server's buffer pool online (either way: 512 gives the earlier sections'
    conditions) and wait for it.

    The server reads with O_DIRECT, so what the pool does not hold is read from disk at every
    variant's run: on a VM whose disk speed varies, a run then measures the disk (steps seen at
    0.15-0.3 cores for 12-20 s where they take 3-4 s at 1.4). A pool that holds the bench's
    tables makes every variant read from memory, so wall times compare CPU with CPU.
    """
    conn = endpoint.connect()
    try:
        with conn.cursor() as cursor:
            target = mib * 2**20
            cursor.execute("SELECT @@innodb_buffer_pool_size")
            if cursor.fetchone()[0] == target:
                return
            cursor.execute("SET GLOBAL innodb_buffer_pool_size = %s", (target,))
            for _ in range(600):
                cursor.execute("SHOW STATUS LIKE 'Innodb_buffer_pool_resize_status'")
                row = cursor.fetchone()
                cursor.execute("SELECT @@innodb_buffer_pool_size")
                size = cursor.fetchone()[0]
                status = row[1] if row else ""
                if size == target and ("Completed" in status or not status):
                    print(f"buffer pool: {size // 2**20} MiB", flush=True)
                    return
                time.sleep(0.5)
            raise RuntimeError(f"buffer pool resize to {mib} MiB did not finish: {status!r}")
    finally:
        conn.close()


def warm(endpoint: MySqlEndpoint, databases: list[str]) -> None:
    """Read every row of the tables the variants read once, so the first variant of a round
    does not pay for loading the pool (a SUM over the JSON reads the clustered index)."""
    from etl_platform.identifiers import quote_mysql

    conn = endpoint.connect()
    started = time.perf_counter()
    try:
        with conn.cursor() as cursor:
            for db in databases:
                for table, column in (("orders", "payload"), ("customers", "profile")):
                    cursor.execute(
                        f"SELECT SUM(LENGTH({quote_mysql(column)}))"
                        f" FROM {quote_mysql(db)}.{quote_mysql(table)}"
                    )
    finally:
        conn.close()
    print(f"warmed {len(databases)} databases in {time.perf_counter() - started:.1f}s", flush=True)


def runners(
    config: BenchConfig, quarter: BenchConfig | None, cast: bool, orders: int
) -> dict[str, Runner]:
    path = str(Path(config.work) / "config.json")

    def module(label: str, name: str, *extra: str) -> Runner:
        return lambda out: measure(
            label,
            [PYTHON, "-m", f"bench.variants.{name}", path, str(out), *extra],
            server_port=config.port,
        )

    def platform(cfg: BenchConfig, label: str, instance: str = "ephemeral") -> Runner:
        cfg_path = str(Path(cfg.work) / "config.json")
        return lambda out: measure(
            label,
            [PYTHON, "-m", "bench.variants.platform", cfg_path, str(out), "--instance", instance],
            env=platform_env(cfg, out),
            server_port=cfg.port,
        )

    low, high = config.window()
    cli = (
        " ".join(
            f"mariadb --quick --batch -h {config.host} -P {config.port} -u {config.user} {db}"
            f" -e \"SELECT * FROM orders WHERE updated_at >= '{low}' AND updated_at < '{high}';"
            f' SELECT * FROM customers" > /dev/null &&'
            for db in config.databases
        )
        + " true"
    )
    found: dict[str, Runner] = {
        "A": platform(config, "A"),
        "A_sqlite": platform(config, "A_sqlite", "sqlite"),
        "A_dagster": lambda out: measure(
            "A_dagster",
            [PYTHON, "-m", "bench.variants.dagster_floor", path, str(out)],
            env=platform_env(config, out),
            server_port=config.port,
        ),
        "B": module("B", "naive"),
        "C": module("C", "floor", *(["--cast"] if cast else [])),
        "C_cli": lambda out: measure(
            "C_cli", ["bash", "-c", cli], rows=orders, server_port=config.port
        ),
        "D": module("D", "peer"),
    }
    if quarter is not None:
        found["A_quarter"] = platform(quarter, "A_quarter")
    return found


def connectorx_needs_cast(config: BenchConfig, scratch: Path) -> bool:
    """Try connectorx on the rows as they are; fall back to the casting SELECT if it fails."""
    try:
        measure(
            "C",
            [
                PYTHON,
                "-m",
                "bench.variants.floor",
                str(Path(config.work) / "config.json"),
                str(scratch),
            ],
        )
    except RuntimeError as error:
        reason = [
            line for line in str(error).splitlines() if "Exception" in line or "Error" in line
        ]
        print(f"connectorx on the raw rows failed, casting: {(reason or [''])[-1][:200]}")
        return True
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--orders", type=int, default=500_000, help="orders per shard")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default="A,A_dagster,A_sqlite,B,C,C_cli,D")
    parser.add_argument(
        "--compact-payload",
        action="store_true",
        help="the demo's ~350-byte payloads instead of ~1.1 KB",
    )
    parser.add_argument("--no-scaling", action="store_true", help="skip A at a quarter size")
    parser.add_argument("--no-incremental", action="store_true")
    parser.add_argument("--profile", action="store_true", help="run A once under pyinstrument")
    parser.add_argument("--reuse", action="store_true", help="keep already seeded shards")
    parser.add_argument("--dir", default=".local/bench")
    parser.add_argument(
        "--scratch",
        help="where the variants write (default <dir>/scratch): a tmpfs such as "
        "/dev/shm/etl-bench keeps a VM disk's write stalls out of the figures",
    )
    parser.add_argument(
        "--buffer-pool-mib",
        type=int,
        default=5120,
        help="the private server's InnoDB buffer pool (512 MiB at start): enough to hold the "
        "tables read, so runs measure CPU rather than the disk",
    )
    args = parser.parse_args()
    Path(args.dir).mkdir(parents=True, exist_ok=True)
    scratch = (Path(args.scratch) if args.scratch else Path(args.dir) / "scratch").resolve()

    config = seed(args, "bench_shop_", args.orders)
    quarter = None if args.no_scaling else seed(args, "bench_q_", max(args.orders // 4, 1))
    cast = connectorx_needs_cast(config, scratch)
    table = runners(config, quarter, cast, args.shards * args.orders)
    names = [n for n in args.variants.split(",") if n] + ([] if quarter is None else ["A_quarter"])
    results: list[Measurement] = []
    for round_no in range(args.rounds):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:  # rotate: no variant always runs first
            shutil.rmtree(scratch, ignore_errors=True)
            result = table[name](scratch)
            results.append(result)
            print(
                f"round {round_no + 1} {name}: {result.wall_seconds:.2f}s wall, "
                f"{result.peak_rss_bytes / 2**20:.0f} MiB, CPU {result.cpu_seconds:.1f} s "
                f"+ server {result.server_cpu_seconds:.1f} s",
                flush=True,
            )
    shutil.rmtree(scratch, ignore_errors=True)

    extra: dict[str, object] = {"connectorx_cast": cast}
    if not args.no_incremental:
        from bench.incremental import incremental, isolated_days

        extra["incremental"] = incremental(config, scratch)
        extra["isolated"] = isolated_days(config, scratch)
    if args.profile:
        from bench.incremental import profile_a

        extra["profile"] = profile_a(config, scratch, Path(args.dir) / "profile-A.txt")
    stem = Path(args.dir) / f"report-{args.shards}x{args.orders}"
    stem.with_suffix(".json").write_text(
        json.dumps(
            {"args": vars(args), "results": [dataclasses.asdict(r) for r in results], **extra},
            indent=2,
            default=str,
        )
    )
    write_report(stem.with_suffix(".md"), args, config, results, extra)
    print(stem.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
