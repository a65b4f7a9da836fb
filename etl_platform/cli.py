"""The `etl-platform` command: the demo, config validation, and range runs."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from etl_platform.env import LOCAL_DIR, get_environment, lake_root, sources_path


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


def _cmd_sources_schema(args: argparse.Namespace) -> int:
    from etl_platform.extract.schema_snapshot import snapshot_schema
    from etl_platform.specs.loader import load_sources
    from etl_platform.specs.source_schema import render_schema, schema_path_for

    path = sources_path()
    schema = snapshot_schema(load_sources(path), shard=args.shard)
    target = Path(args.output) if args.output else schema_path_for(path)
    target.write_text(render_schema(schema))
    print(f"wrote {target} ({len(schema.tables)} tables)")
    return 0


def _cmd_views_validate(args: argparse.Namespace) -> int:
    from etl_platform.env import views_dir
    from etl_platform.specs.errors import SpecError, SpecErrors
    from etl_platform.specs.loader import load_source_schema, load_sources
    from etl_platform.specs.source_schema import schema_path_for
    from etl_platform.specs.view_loader import load_views

    directory = Path(args.dir) if args.dir else views_dir()
    try:
        sources = load_sources(sources_path())
        views = load_views(directory, sources, load_source_schema(schema_path_for(sources_path())))
    except (SpecError, SpecErrors) as e:
        print(e, file=sys.stderr)
        return 1
    print(f"{directory}: {len(views)} view(s) ok: {', '.join(v.spec.name for v in views)}")
    return 0


def _cmd_views_new(args: argparse.Namespace) -> int:
    from etl_platform.env import views_dir
    from etl_platform.extract.introspect import plan_table, sample_json
    from etl_platform.extract.types import arrow_schema
    from etl_platform.identifiers import validate_identifier
    from etl_platform.specs.loader import load_sources
    from etl_platform.specs.view_scaffold import sample_paths, scaffold_view

    name = validate_identifier(args.name, what="view name")
    sources = load_sources(sources_path())
    if args.source not in sources.tables:
        print(
            f"etl-platform: unknown table {args.source!r} (sources.yaml has "
            f"{sorted(sources.tables)})",
            file=sys.stderr,
        )
        return 1
    table = sources.tables[args.source]
    shard = sources.shards_for(args.source)[0]
    conn = sources.shards[shard].endpoint(shard).connect()
    try:
        plan = plan_table(
            conn,
            args.source,
            cursor=table.cursor,
            primary_key=table.primary_key,
            exclude=table.exclude_columns,
            shard=shard,
        )
        samples = {
            column: sample_paths(sample_json(conn, args.source, column, table.cursor, args.sample))
            for column in table.json_columns
        }
    finally:
        conn.close()
    target = (Path(args.dir) if args.dir else views_dir()) / name / "defs.yaml"
    if target.exists():
        print(f"etl-platform: {target} exists; not overwriting it", file=sys.stderr)
        return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        scaffold_view(
            name,
            args.source,
            arrow_schema(plan.plans),
            primary_key=table.primary_key,
            json_columns=table.json_columns,
            json_samples=samples,
        )
    )
    print(f"wrote {target}; edit it, then `etl-platform views validate`")
    return 0


def _cmd_athena_ddl(args: argparse.Namespace) -> int:
    from etl_platform.destination_resources import athena_from_env
    from etl_platform.env import views_dir
    from etl_platform.load.athena_ddl import create_table_ddl, table_location
    from etl_platform.specs.loader import load_source_schema, load_sources
    from etl_platform.specs.source_schema import schema_path_for
    from etl_platform.specs.view_loader import load_views
    from etl_platform.transform.view_shape import declared_arrow_schema

    sources = load_sources(sources_path())
    snapshot = load_source_schema(schema_path_for(sources_path()))
    views = {v.spec.name: v.spec for v in load_views(views_dir(), sources, snapshot)}
    if args.view not in views:
        print(f"etl-platform: unknown view {args.view!r} (views: {sorted(views)})", file=sys.stderr)
        return 1
    spec = views[args.view]
    lookup_types = {
        out: snapshot.arrow_schema(lk.table).field(col).type
        for lk in spec.lookups
        for col, out in lk.columns.items()
    }
    athena = athena_from_env()
    location = table_location(athena.bucket or "<bucket>", athena.prefix, spec.name)
    print(
        create_table_ddl(
            athena.database, spec.name, declared_arrow_schema(spec, lookup_types), location
        )
        + ";"
    )
    if spec.flatten:
        print("-- flatten columns are string columns added as their keys appear in the data")
    return 0


def _cmd_redshift_to_athena(args: argparse.Namespace) -> int:
    import dagster as dg

    from etl_platform.components.destinations import compat_asset_key
    from etl_platform.definitions import build_definitions
    from etl_platform.runner import run_range

    defs = build_definitions()
    key = compat_asset_key(args.view)
    if key not in defs.resolve_asset_graph().get_all_asset_keys():
        print(
            f"etl-platform: no {key.to_user_string()} here: the view must list redshift in its "
            "destinations, and both ETL_PLATFORM_REDSHIFT_DSN and ETL_PLATFORM_S3_BUCKET must be "
            "set",
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
    print(f"\nThe lake: {lake}")
    print("Open the UI:       make dev   (dagster dev on http://127.0.0.1:3000)")
    _print_sample_query(last)
    return 0 if run.success else 1


def _print_sample_query(day: dt.date) -> None:
    """Show how to query the lake with DuckDB, and one query's answer when the views exist."""
    import duckdb

    from etl_platform.resources import build_resources

    database = build_resources(get_environment())["duckdb"].database
    query = (
        "SELECT status, count(*) AS orders, sum(total) AS total, count(customer_email) AS "
        f"with_customer FROM orders_enriched WHERE updated_at = DATE '{day}' "
        "GROUP BY 1 ORDER BY 2 DESC"
    )
    snippet = (
        f"import duckdb; duckdb.connect('{database}', read_only=True).sql(\\\"{query}\\\").show()"
    )
    print(f'Query with DuckDB: .venv/bin/python -c "{snippet}"')
    try:
        with duckdb.connect(database, read_only=True) as conn:
            print(conn.sql(query))
    except duckdb.Error as e:
        print(f"(no views to query yet: {e})")


def _extract_lookup_history(days: int, run_days: int) -> None:
    """Views look related rows up as of each day; that needs the looked-up tables' history,
    so the demo extracts those tables' earlier days once (one query per shard-table)."""
    import dagster as dg

    from etl_platform.definitions import build_definitions
    from etl_platform.runner import last_days, run_range

    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    looked_up = {k.path[2] for k in graph.get_all_asset_keys() if k.path[0] == "state"}
    keys = [k for k in graph.get_all_asset_keys() if k.path[0] == "raw" and k.path[2] in looked_up]
    first, _ = last_days(days)
    last = last_days(run_days)[0] - dt.timedelta(days=1)
    if not keys or last < first:
        return
    with dg.DagsterInstance.get() as instance:
        done = all(instance.get_latest_materialization_event(k) for k in keys)
        if done:
            return
        print(f"extracting the history of {sorted(looked_up)} ({first} .. {last}) for lookups")
        run_range(defs, "extract_raw", first, last, instance=instance, asset_selection=keys)


def _cmd_demo_run(args: argparse.Namespace) -> int:
    """`make run`: the demo shards up, then the last N days extracted in one run."""
    args.force = False
    status = _cmd_demo_up(args)
    if status:
        return status
    _extract_lookup_history(args.days, args.run_days)
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
        p.add_argument("--job", default="etl_all", help="with `run`: the job to run")
        p.set_defaults(func=func)
    demo.add_parser("down", help="stop the private demo server").set_defaults(func=_cmd_demo_down)

    sources = sub.add_parser("sources", help="sources.yaml").add_subparsers(
        dest="sources", required=True
    )
    p = sources.add_parser("validate", help="validate sources.yaml (exit 1 on error)")
    p.add_argument("path", nargs="?")
    p.set_defaults(func=_cmd_sources_validate)
    p = sources.add_parser("schema", help="snapshot the tables' columns from a shard")
    p.add_argument("--shard", help="the shard to read (default: each table's first)")
    p.add_argument("--output", help="default: sources.schema.yaml beside sources.yaml")
    p.set_defaults(func=_cmd_sources_schema)

    views = sub.add_parser("views", help="view specs").add_subparsers(dest="views", required=True)
    p = views.add_parser("validate", help="validate every view spec (exit 1 on error)")
    p.add_argument("dir", nargs="?", help="default: ETL_PLATFORM_VIEWS_DIR or the demo's")
    p.set_defaults(func=_cmd_views_validate)
    p = views.add_parser("new", help="write a starting spec from a table's columns and JSON keys")
    p.add_argument("name")
    p.add_argument("--source", required=True, help="the driving table")
    p.add_argument("--dir", help="views folder (default: ETL_PLATFORM_VIEWS_DIR or the demo's)")
    p.add_argument("--sample", type=int, default=500, help="JSON values to sample")
    p.set_defaults(func=_cmd_views_new)

    athena = sub.add_parser("athena", help="the Athena side").add_subparsers(
        dest="athena", required=True
    )
    p = athena.add_parser("ddl", help="print the CREATE EXTERNAL TABLE of a view")
    p.add_argument("view")
    p.set_defaults(func=_cmd_athena_ddl)

    p = sub.add_parser("redshift-to-athena", help="copy days of a view from Redshift to S3/Athena")
    p.add_argument("view")
    p.add_argument("--start", required=True, help="first day (YYYY-MM-DD)")
    p.add_argument("--end", required=True, help="last day (YYYY-MM-DD)")
    p.set_defaults(func=_cmd_redshift_to_athena)

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
