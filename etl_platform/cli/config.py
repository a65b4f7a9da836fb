"""`etl-platform sources|views|athena ...`: validate and scaffold the YAML config."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from etl_platform.env import sources_path


def cmd_sources_validate(args: argparse.Namespace) -> int:
    from etl_platform.extract.schema_snapshot import unreadable_columns
    from etl_platform.specs.errors import SpecError
    from etl_platform.specs.loader import load_source_schema, load_sources
    from etl_platform.specs.source_schema import cursor_problems, schema_path_for

    path = Path(args.path) if args.path else sources_path()
    try:
        spec = load_sources(path)
        snapshot = schema_path_for(path)
        if snapshot.is_file():
            schema = load_source_schema(snapshot)
            problems = [*cursor_problems(spec, schema), *unreadable_columns(spec, schema)]
            if problems:
                raise SpecError(path, problems)
    except SpecError as e:
        print(e, file=sys.stderr)
        return 1
    print(f"{path}: ok ({len(spec.shards)} shards, {len(spec.tables)} tables)")
    return 0


def cmd_sources_schema(args: argparse.Namespace) -> int:
    from etl_platform.extract.schema_snapshot import snapshot_schema
    from etl_platform.specs.loader import load_sources
    from etl_platform.specs.source_schema import render_schema, schema_path_for

    path = sources_path()
    schema = snapshot_schema(load_sources(path), shard=args.shard)
    target = Path(args.output) if args.output else schema_path_for(path)
    target.write_text(render_schema(schema))
    print(f"wrote {target} ({len(schema.tables)} tables)")
    return 0


def cmd_views_validate(args: argparse.Namespace) -> int:
    from etl_platform.env import views_dir
    from etl_platform.specs.errors import SpecError, SpecErrors
    from etl_platform.specs.loader import load_source_schema, load_sources
    from etl_platform.specs.source_schema import schema_path_for
    from etl_platform.specs.view_loader import load_views, view_files
    from etl_platform.transform.view_types import view_type_check

    directory = Path(args.dir) if args.dir else views_dir()
    if not view_files(directory):
        print(
            f"etl-platform: found no view spec in {directory} "
            f"(specs live at {directory}/<view>/defs.yaml)",
            file=sys.stderr,
        )
        return 1
    try:
        sources = load_sources(sources_path())
        snapshot = load_source_schema(schema_path_for(sources_path()))
        views = load_views(directory, sources, snapshot, view_type_check(snapshot))
    except (SpecError, SpecErrors) as e:
        print(e, file=sys.stderr)
        return 1
    print(f"{directory}: {len(views)} view(s) ok: {', '.join(v.spec.name for v in views)}")
    return 0


def cmd_views_new(args: argparse.Namespace) -> int:
    from etl_platform.cli.scaffold import cmd_views_new as views_new

    return views_new(args)


def cmd_athena_ddl(args: argparse.Namespace) -> int:
    from etl_platform.destination_resources import athena_from_env
    from etl_platform.env import views_dir
    from etl_platform.load.athena_ddl import create_table_ddl, table_location
    from etl_platform.specs.loader import load_source_schema, load_sources
    from etl_platform.specs.source_schema import schema_path_for
    from etl_platform.specs.view_loader import load_views
    from etl_platform.transform.view_shape import declared_arrow_schema
    from etl_platform.transform.view_types import lookup_arrow_types, view_type_check

    sources = load_sources(sources_path())
    snapshot = load_source_schema(schema_path_for(sources_path()))
    loaded = load_views(views_dir(), sources, snapshot, view_type_check(snapshot))
    views = {v.spec.name: v.spec for v in loaded}
    if args.view not in views:
        print(f"etl-platform: unknown view {args.view!r} (views: {sorted(views)})", file=sys.stderr)
        return 1
    spec = views[args.view]
    lookup_types = lookup_arrow_types(spec, snapshot)
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
