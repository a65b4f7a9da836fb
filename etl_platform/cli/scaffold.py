"""`etl-platform views new`: a starting view spec from a sample of the table's latest rows,
tried on that sample with the view's own transform before it is written, so that its first
run passes on the data it was made from."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import polars as pl

import etl_platform
from etl_platform.env import sources_path, views_dir
from etl_platform.specs.view_scaffold import ScaffoldedView, reject_allowance
from etl_platform.transform.sample_rejects import SampleRejects, measure_rejects

PACKAGE_DIR = Path(etl_platform.__file__).resolve().parent


def cmd_views_new(args: argparse.Namespace) -> int:
    from etl_platform.extract.connection import endpoint_for
    from etl_platform.extract.introspect import plan_on_shard
    from etl_platform.extract.sample_rows import sample_rows
    from etl_platform.identifiers import validate_identifier
    from etl_platform.specs.loader import load_sources
    from etl_platform.specs.view_scaffold import render_view, sample_paths, scaffold_view

    name = validate_identifier(args.name, what="view name")
    sources = load_sources(sources_path())
    if args.source not in sources.tables:
        print(
            f"etl-platform: unknown table {args.source!r} (sources.yaml has "
            f"{sorted(sources.tables)})",
            file=sys.stderr,
        )
        return 1
    if sources.tables[args.source].is_snapshot:
        print(
            f"etl-platform: table {args.source!r} is a snapshot table (mode: snapshot): it has "
            "no day to partition a view by; look it up from a view of another table instead",
            file=sys.stderr,
        )
        return 1
    folder = target_folder(args.dir)
    if folder is None:
        return 1
    target = folder / name / "defs.yaml"
    if target.exists():
        print(f"etl-platform: {target} exists; not overwriting it", file=sys.stderr)
        return 1
    table = sources.tables[args.source]
    shard = sources.shards_for(args.source)[0]
    endpoint = endpoint_for(shard, sources.shards[shard])
    plan = plan_on_shard(
        endpoint,
        args.source,
        cursor=table.cursor,
        primary_key=table.primary_key,
        exclude=table.exclude_columns,
        shard=shard,
        connect_timeout=sources.extract.connect_timeout_seconds,
    )
    rows = sample_rows(endpoint, plan, limit=args.sample, timezone=sources.shard_timezone(shard))
    frame = pl.from_arrow(rows)
    assert isinstance(frame, pl.DataFrame)
    json_columns = [c for c in table.json_columns if c in frame.columns]
    view = scaffold_view(
        name,
        args.source,
        rows.schema,
        primary_key=table.primary_key,
        json_columns=json_columns,
        json_samples={c: sample_paths(frame[c].to_list()) for c in json_columns},
    )
    fit_to_sample(
        view,
        frame,
        primary_key=table.primary_key,
        cursor=table.cursor,
        where=f"{shard}.{args.source}",
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_view(view))
    print(f"wrote {target} ({len(view.columns)} columns)")
    for line in [*view.notes, *view.reject_note]:
        print(f"  {line}")
    if folder.resolve() != views_dir().resolve():
        print(
            f"note: the platform reads its views from {views_dir()}; set "
            f"ETL_PLATFORM_VIEWS_DIR={folder} so that `views validate` and `run` see this one"
        )
    print("edit it, then `etl-platform views validate`")
    return 0


def target_folder(given: str | None) -> Path | None:
    """The views folder to write to: `--dir`, else the one the platform reads. Never the
    installed package's own folder unless asked with `--dir`: a view written there is mixed
    with the demo's and lost on the next install."""
    if given:
        return Path(given)
    folder = views_dir()
    if folder.resolve().is_relative_to(PACKAGE_DIR):
        print(
            f"etl-platform: not writing into the installed package ({folder}), where the "
            "platform reads views when ETL_PLATFORM_VIEWS_DIR is not set. Set it to your "
            "project's views folder, e.g. `export ETL_PLATFORM_VIEWS_DIR=$PWD/views` (copy "
            f"{folder}/* there to keep the demo's views), or pass --dir.",
            file=sys.stderr,
        )
        return None
    return folder


def fit_to_sample(
    view: ScaffoldedView,
    sample: pl.DataFrame,
    *,
    primary_key: Sequence[str],
    cursor: str,
    where: str,
) -> SampleRejects:
    """Try the view on the sample it was guessed from. A column whose sampled values mostly
    fail its type is retyped (`json` takes any JSON value) or, from a source column, left
    out; `max_reject_ratio` is set above the rate that is left, and a comment says why."""
    measured = measure_rejects(view.spec(), sample, primary_key=primary_key, cursor=cursor)
    changed = []
    for name, rejected in measured.columns.items():
        column = view.columns[name]
        if not rejected.mostly or name in view.attributes["unique_key"]:
            continue
        what = f"{name}: {rejected.rows} of {rejected.present} sampled values do not fit "
        what += f"{column['type']} (e.g. {rejected.example})"
        if "json" in column:
            column["type"] = "json"
            changed.append(f"{what}; typed json")
        else:
            del view.columns[name]
            changed.append(f"{what}; left out")
    if changed:
        view.notes += ["Changed after a trial on the sample:", *(f"  {c}" for c in changed)]
        measured = measure_rejects(view.spec(), sample, primary_key=primary_key, cursor=cursor)
    ratio = reject_allowance(measured.rejected, measured.rows)
    view.attributes["max_reject_ratio"] = ratio
    view.reject_note = reject_note(measured, ratio, view=view.name, where=where)
    return measured


def reject_note(measured: SampleRejects, ratio: float, *, view: str, where: str) -> list[str]:
    """The comment above `max_reject_ratio`: the rate the sample showed, and which columns."""
    if not measured.rows:
        return [f"{where} had no rows to try the view on: the default {ratio:.0%} is kept."]
    head = f"Tried on the {measured.rows:,} latest rows of {where}: "
    if not measured.rejected:
        return [head + f"none rejected; the default {ratio:.0%} is kept."]
    causes = [
        f"  {column}: {r.rows:,} rows hold no JSON object ({r.example})"
        for column, r in measured.documents.items()
        if r.rows
    ]
    causes += [
        f"  {column}: {r.rows:,} of {r.present:,} values (e.g. {r.example})"
        for column, r in measured.columns.items()
        if r.rows
    ]
    return [
        head + f"{measured.rejected:,} rejected ({measured.ratio:.2%}), because of",
        *causes,
        f"Set to {ratio:.1%}: that rate with a margin for the sample's size. The rows go to",
        f"views/{view}__rejects; once their writers are fixed, lower it.",
    ]
