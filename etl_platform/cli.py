"""The `etl-platform` command: the demo, config validation, and range runs."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from etl_platform.env import LOCAL_DIR, lake_root, sources_path


def _cmd_demo_up(args: argparse.Namespace) -> int:
    from etl_platform.demo.mariadb_server import ServerError
    from etl_platform.demo.setup import DEMO_URL_ENV, DemoParams, ensure_demo

    params = DemoParams(
        shards=args.shards, orders_per_shard=args.orders, days=args.days, seed=args.seed
    )
    try:
        server, said = ensure_demo(LOCAL_DIR, params, force=args.force)
    except ServerError as e:
        print(f"etl-platform: {e}", file=sys.stderr)
        return 2
    print(said)
    os.environ.setdefault(DEMO_URL_ENV, server.url())
    return 0


def _cmd_demo_seed(args: argparse.Namespace) -> int:
    args.force = True
    return _cmd_demo_up(args)


def _cmd_demo_down(args: argparse.Namespace) -> int:
    from etl_platform.demo.mariadb_server import stop_server

    stop_server(LOCAL_DIR / "mariadb")
    print("stopped the private demo server (its data stays in .local/mariadb)")
    return 0


def _cmd_sources_validate(args: argparse.Namespace) -> int:
    from etl_platform.specs.errors import SpecError
    from etl_platform.specs.loader import load_sources

    path = Path(args.path) if args.path else sources_path()
    try:
        spec = load_sources(path)
    except SpecError as e:
        print(e, file=sys.stderr)
        return 1
    print(f"{path}: ok ({len(spec.shards)} shards, {len(spec.tables)} tables)")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    import dagster as dg

    from etl_platform.definitions import build_definitions
    from etl_platform.runner import last_days, run_range

    if args.start:
        first = dt.date.fromisoformat(args.start)
        last = dt.date.fromisoformat(args.end) if args.end else first
    else:
        first, last = last_days(args.days)
    defs = build_definitions()
    with dg.DagsterInstance.get() as instance:
        run = run_range(defs, args.job, first, last, instance=instance)
    total = 0
    print(f"\nrun {run.run_id}: {args.job} for {first} .. {last}")
    for outcome in sorted(run.outcomes, key=lambda o: o.key):
        if outcome.error:
            print(f"  FAILED {outcome.key}: {outcome.error}")
        else:
            total += outcome.rows or 0
            print(f"  {outcome.key:<40} {outcome.rows:>9} rows  {outcome.path}")
    print(f"  total: {total} rows in {len(run.outcomes)} assets")
    lake = lake_root()
    query = (
        "SELECT updated_at::DATE AS day, count(*) "
        f"FROM read_parquet('{lake}/raw/*/orders/*/*.parquet', hive_partitioning=false) "
        "GROUP BY 1 ORDER BY 1"
    )
    print(f"\nThe lake: {lake}")
    print("Open the UI:       make dev   (dagster dev on http://127.0.0.1:3000)")
    snippet = f'import duckdb; duckdb.sql(\\"{query}\\").show()'
    print(f'Query with DuckDB: .venv/bin/python -c "{snippet}"')
    return 0 if run.success else 1


def _cmd_demo_run(args: argparse.Namespace) -> int:
    """`make run`: the demo shards up, then the last N days extracted in one run."""
    args.force = False
    status = _cmd_demo_up(args)
    if status:
        return status
    args.start = args.end = None
    args.days = args.run_days
    return _cmd_run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="etl-platform", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="the demo shards").add_subparsers(dest="demo", required=True)
    for name, func, help_text in (
        ("up", _cmd_demo_up, "start (or reuse) the demo server and seed it once"),
        ("seed", _cmd_demo_seed, "re-create and seed the demo shards"),
        ("run", _cmd_demo_run, "demo up, then extract the last --run-days days"),
    ):
        p = demo.add_parser(name, help=help_text)
        p.add_argument("--shards", type=int, default=12)
        p.add_argument("--orders", type=int, default=20_000, help="orders per shard")
        p.add_argument("--days", type=int, default=90, help="days of history")
        p.add_argument("--seed", type=int, default=42)
        p.add_argument("--force", action="store_true", help="seed even if already seeded")
        p.add_argument("--run-days", type=int, default=7, help="with `run`: days to extract")
        p.add_argument("--job", default="extract_raw", help="with `run`: the job to run")
        p.set_defaults(func=func)
    demo.add_parser("down", help="stop the private demo server").set_defaults(func=_cmd_demo_down)

    sources = sub.add_parser("sources", help="sources.yaml").add_subparsers(
        dest="sources", required=True
    )
    p = sources.add_parser("validate", help="validate sources.yaml (exit 1 on error)")
    p.add_argument("path", nargs="?")
    p.set_defaults(func=_cmd_sources_validate)

    p = sub.add_parser("run", help="materialize a job over a range of days in one run")
    p.add_argument("--job", default="extract_raw")
    p.add_argument("--days", type=int, default=7, help="the last N days, today included")
    p.add_argument("--start", help="first day (YYYY-MM-DD), instead of --days")
    p.add_argument("--end", help="last day (YYYY-MM-DD), with --start")
    p.set_defaults(func=_cmd_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
