"""The `etl-platform` command: the demo, config validation and scaffolding, range runs."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from etl_platform.cli.cdc import add_cdc_parser
from etl_platform.cli.config import (
    cmd_athena_ddl,
    cmd_sources_schema,
    cmd_sources_validate,
    cmd_views_new,
    cmd_views_validate,
)
from etl_platform.cli.demo import cmd_demo_down, cmd_demo_run, cmd_demo_seed, cmd_demo_up
from etl_platform.cli.runs import PLAIN_HELP, cmd_redshift_to_athena, cmd_run
from etl_platform.cli.studio import add_studio_parser
from etl_platform.runtime import configure_process


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="etl-platform", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="the demo shards").add_subparsers(dest="demo", required=True)
    for name, func, help_text in (
        ("up", cmd_demo_up, "start (or reuse) the demo server and seed it once"),
        ("seed", cmd_demo_seed, "re-create and seed the demo shards"),
        ("run", cmd_demo_run, "demo up, then extract the last --run-days days"),
    ):
        p = demo.add_parser(name, help=help_text)
        p.add_argument("--shards", type=int, default=12)
        p.add_argument("--orders", type=int, default=20_000, help="orders per shard")
        p.add_argument("--days", type=int, default=90, help="days of history")
        p.add_argument("--seed", type=int, default=42)
        p.add_argument("--force", action="store_true", help="seed even if already seeded")
        p.add_argument("--run-days", type=int, default=7, help="with `run`: days to extract")
        p.add_argument("--job", default="etl_all", help="with `run`: the job to run")
        p.add_argument("--plain", action="store_true", help=f"with `run`: {PLAIN_HELP}")
        p.set_defaults(func=func)
    demo.add_parser("down", help="stop the private demo server").set_defaults(func=cmd_demo_down)

    sources = sub.add_parser("sources", help="sources.yaml").add_subparsers(
        dest="sources", required=True
    )
    p = sources.add_parser("validate", help="validate sources.yaml (exit 1 on error)")
    p.add_argument("path", nargs="?")
    p.set_defaults(func=cmd_sources_validate)
    p = sources.add_parser("schema", help="snapshot the tables' columns from a shard")
    p.add_argument("--shard", help="the shard to read (default: each table's first)")
    p.add_argument("--output", help="default: sources.schema.yaml beside sources.yaml")
    p.set_defaults(func=cmd_sources_schema)

    views = sub.add_parser("views", help="view specs").add_subparsers(dest="views", required=True)
    p = views.add_parser("validate", help="validate every view spec (exit 1 on error)")
    p.add_argument("dir", nargs="?", help="default: ETL_PLATFORM_VIEWS_DIR or the demo's")
    p.set_defaults(func=cmd_views_validate)
    p = views.add_parser("new", help="write a starting spec from a table's columns and JSON keys")
    p.add_argument("name")
    p.add_argument("--source", required=True, help="the driving table")
    p.add_argument("--dir", help="views folder (default: ETL_PLATFORM_VIEWS_DIR)")
    p.add_argument("--sample", type=int, default=500, help="latest rows to sample")
    p.set_defaults(func=cmd_views_new)

    athena = sub.add_parser("athena", help="the Athena side").add_subparsers(
        dest="athena", required=True
    )
    p = athena.add_parser("ddl", help="print the CREATE EXTERNAL TABLE of a view")
    p.add_argument("view")
    p.set_defaults(func=cmd_athena_ddl)

    p = sub.add_parser("redshift-to-athena", help="copy days of a view from Redshift to S3/Athena")
    p.add_argument("view")
    p.add_argument("--start", required=True, help="first day (YYYY-MM-DD)")
    p.add_argument("--end", required=True, help="last day (YYYY-MM-DD)")
    p.set_defaults(func=cmd_redshift_to_athena)

    p = sub.add_parser("run", help="materialize a job over a range of days in one run")
    p.add_argument("--job", default="extract_raw")
    p.add_argument("--days", type=int, default=7, help="the last N days, today included")
    p.add_argument("--start", help="first day (YYYY-MM-DD), instead of --days")
    p.add_argument("--end", help="last day (YYYY-MM-DD), with --start")
    p.add_argument("--plain", action="store_true", help=PLAIN_HELP)
    p.set_defaults(func=cmd_run)

    add_cdc_parser(sub)
    add_studio_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Bad config and a stopped run read as a message, not a traceback.

    From the command line (no `argv`), the project's `.env` and the local Dagster instance
    fill in what the shell does not set; a caller passing `argv` keeps its environment as is.
    """
    from etl_platform.env import SettingMissing
    from etl_platform.run_guard import RunInterrupted, log_runs_to_terminal

    if argv is None:
        from etl_platform import project_env

        project_env.prepare()
    configure_process()
    # Dagster warns about its own preview APIs, which its component loader calls: nothing
    # the user can act on, and it would bury a config problem's message.
    warnings.filterwarnings("ignore", message=r".* is currently in (beta|preview)")
    log_runs_to_terminal()
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except RunInterrupted as e:
        print(f"etl-platform: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("etl-platform: interrupted", file=sys.stderr)
        return 130
    except SettingMissing as e:
        print(f"etl-platform: {e}", file=sys.stderr)
        return 1
    except Exception as e:
        from etl_platform.cli.errors import config_error

        problems = config_error(e)
        if problems is None:
            raise
        print(f"etl-platform: {problems}", file=sys.stderr)
        return 1
