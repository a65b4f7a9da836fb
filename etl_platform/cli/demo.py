"""`etl-platform demo ...`: the private demo server, its seed, and `make run`."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from etl_platform.cli.runs import cmd_run

if TYPE_CHECKING:
    import dagster as dg

from etl_platform.env import DEMO_URL_ENV, LOCAL_DIR, env_file


def cmd_demo_up(args: argparse.Namespace) -> int:
    import pymysql

    from etl_platform.demo.mariadb_server import ServerError
    from etl_platform.demo.setup import DemoParams, ensure_demo

    params = DemoParams(
        shards=args.shards, orders_per_shard=args.orders, days=args.days, seed=args.seed
    )
    try:
        server, private, said = ensure_demo(LOCAL_DIR, params, force=args.force)
    except ServerError as e:
        print(f"etl-platform: {e}", file=sys.stderr)
        return 2
    except pymysql.err.OperationalError as e:
        print(
            f"etl-platform: the demo server does not answer ({e}); {_url_origin()}", file=sys.stderr
        )
        return 2
    print(said)
    print(f"its settings are in {env_file()} (the etl-platform command and `make dev` read it)")
    if private:  # a URL from `.env` may name the port of an earlier start
        os.environ[DEMO_URL_ENV] = server.url()
    return 0


def _url_origin() -> str:
    """Where the demo's URL came from, and how to go back to the private server."""
    from etl_platform.project_env import from_env_file

    if from_env_file(DEMO_URL_ENV):
        return f"{DEMO_URL_ENV} is from {env_file()}: remove it there to use a private server"
    return f"check {DEMO_URL_ENV}, or unset it to use a private server"


def cmd_demo_seed(args: argparse.Namespace) -> int:
    args.force = True
    return cmd_demo_up(args)


def cmd_demo_down(args: argparse.Namespace) -> int:
    from etl_platform.demo.mariadb_server import stop_server
    from etl_platform.demo.setup import forget_private_url

    stop_server(LOCAL_DIR / "mariadb")
    forget_private_url(LOCAL_DIR)
    print("stopped the private demo server (its data stays in .local/mariadb)")
    return 0


def _extract_lookup_history(defs: dg.Definitions, run_days: int) -> None:
    """Views look related rows up as of each day, from a state folded over the looked-up
    tables' whole history: the demo extracts the days of it the lake lacks before its run."""
    import dagster as dg

    from etl_platform.runner import extract_lookup_history, last_days

    with dg.DagsterInstance.get() as instance:
        extract_lookup_history(defs, last_days(run_days)[0], instance=instance, announce=print)


def cmd_demo_run(args: argparse.Namespace) -> int:
    """`make run`: the demo shards up, the demo's provider read once from a local server,
    then the last N days extracted in one run."""
    args.force = False
    status = cmd_demo_up(args)
    if status:
        return status
    from etl_platform.definitions import build_definitions
    from etl_platform.demo.provider_server import serve_demo_provider

    with serve_demo_provider():
        defs = build_definitions()
        _read_providers(defs)
        _extract_lookup_history(defs, args.run_days)
        args.start = args.end = None
        args.days = args.run_days
        return cmd_run(args, defs)


def _read_providers(defs: dg.Definitions) -> None:
    """Each provider of the demo's sources.yaml read once, as its asset runs on its cron."""
    import dagster as dg

    from etl_platform.asset_keys import PROVIDERS_GROUP

    graph = defs.resolve_asset_graph()
    keys = {k for k in graph.get_all_asset_keys() if graph.get(k).group_name == PROVIDERS_GROUP}
    if not keys:
        return
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=keys)
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(instance=instance, run_config=quiet, raise_on_error=False)
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        rows = materialization.metadata.get("dagster/row_count")
        name = materialization.asset_key.to_user_string()
        print(f"read {name}: {rows.value if rows is not None else '?'} rows")
    if not result.success:
        print("etl-platform: a provider could not be read (see the run in the UI)", file=sys.stderr)
