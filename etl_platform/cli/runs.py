"""`etl-platform run` and `redshift-to-athena`: one Dagster run over a range of days."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dagster as dg

from etl_platform.env import get_environment, lake_root

PLAIN_HELP = "one line per finished step, no live display (the default off a terminal)"


def cmd_run(args: argparse.Namespace, defs: dg.Definitions | None = None) -> int:
    import dagster as dg

    from etl_platform.cli.check_report import check_lines
    from etl_platform.cli.progress import run_progress
    from etl_platform.definitions import build_definitions
    from etl_platform.runner import destinations_out_of_reach, last_days, run_days

    if args.start:
        first = dt.date.fromisoformat(args.start)
        last = dt.date.fromisoformat(args.end) if args.end else first
    else:
        first, last = last_days(args.days)
    defs = defs or build_definitions()
    skipped = destinations_out_of_reach(defs, args.job)
    selection = None
    if skipped:
        keys = defs.resolve_job_def(args.job).asset_layer.executable_asset_keys
        selection = sorted(set(keys) - set(skipped))
        for key, reason in sorted(skipped.items()):
            print(f"  skipping {key.to_user_string()}: destination {reason}")
    with (
        dg.DagsterInstance.get() as instance,
        run_progress(plain=getattr(args, "plain", False)) as progress,
    ):
        runs = run_days(
            defs,
            args.job,
            first,
            last,
            instance=instance,
            asset_selection=selection,
            observer=progress,
        )
    total = assets = 0
    for i, run in enumerate(runs):
        followed = i > 0 and run.job_name == runs[i - 1].job_name
        what = " (what the failures above held back)" if followed else ""
        span = " .. ".join(run.partitions or (str(first), str(last)))
        print(f"\nrun {run.run_id}: {run.job_name or args.job} for {span}{what}")
        for outcome in sorted(run.outcomes, key=lambda o: o.key):
            if outcome.error:
                print(f"  FAILED {outcome.key}: {outcome.error}")
            else:
                total += outcome.rows or 0
                rows = "-" if outcome.rows is None else outcome.rows
                print(f"  {outcome.key:<40} {rows:>9} rows  {outcome.path}")
        assets += len(run.outcomes)
    # Rows the runs wrote; a lookup state counts its size at the run's last day.
    print(f"  total: {total} rows in {assets} assets")
    failed_checks = [check for run in runs for check in run.failed_checks]
    if failed_checks:
        print("\nChecks that did not pass:")
        for check in failed_checks:
            for line in check_lines(check, first=first, last=last, duckdb_file=_duckdb_file()):
                print(line)
    lake = lake_root()
    print(f"\nThe lake: {lake}")
    print("Open the UI:       make dev   (dg dev on http://127.0.0.1:3000)")
    _print_view_queries([key for run in runs for key in run.materialized], first=first, last=last)
    return 0 if all(run.success for run in runs) else 1


def _duckdb_file() -> str:
    """The DuckDB file that has a view per view and rejects table."""
    from etl_platform.resources import build_resources

    return build_resources(get_environment())["duckdb"].database


def _print_view_queries(materialized: list[dg.AssetKey], *, first: dt.date, last: dt.date) -> None:
    """Show how to query the views the runs wrote with DuckDB, and their rows and rejects over
    the run's days; nothing when they wrote no view."""
    import duckdb

    from etl_platform.cli.check_report import view_query_lines, views_summary_query, written_views

    views = written_views(materialized)
    summary = views_summary_query(views, first=first, last=last)
    if summary is None:
        return
    database = _duckdb_file()
    for line in view_query_lines(views, first=first, last=last, duckdb_file=database):
        print(line)
    try:
        with duckdb.connect(database, read_only=True) as conn:
            print(conn.sql(summary))
    except duckdb.Error as e:
        print(f"(the views cannot be queried yet: {e})")


def cmd_redshift_to_athena(args: argparse.Namespace) -> int:
    import dagster as dg

    from etl_platform.asset_keys import compat_asset_key
    from etl_platform.definitions import build_definitions
    from etl_platform.runner import destinations_out_of_reach, run_range

    defs = build_definitions()
    key = compat_asset_key(args.view)
    if key not in defs.resolve_asset_graph().get_all_asset_keys():
        print(
            f"etl-platform: no {key.to_user_string()}: view {args.view!r} does not list redshift "
            "in its destinations",
            file=sys.stderr,
        )
        return 1
    reason = destinations_out_of_reach(defs, "copy_redshift_to_athena").get(key)
    if reason:
        print(
            f"etl-platform: {key.to_user_string()} cannot run here: {reason}; it needs both "
            "ETL_PLATFORM_REDSHIFT_DSN and ETL_PLATFORM_S3_BUCKET",
            file=sys.stderr,
        )
        return 1
    first, last = dt.date.fromisoformat(args.start), dt.date.fromisoformat(args.end)
    with dg.DagsterInstance.get() as instance:
        run = run_range(
            defs, "copy_redshift_to_athena", first, last, instance=instance, asset_selection=[key]
        )
    for outcome in run.outcomes:
        print(f"  {outcome.key}: {outcome.error or f'{outcome.rows} rows'}")
    return 0 if run.success else 1
