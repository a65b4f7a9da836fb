"""Variant A_dagster: A's fixed cost with no work, which no faster extract or transform removes.

Run as `python -m bench.variants.dagster_floor CONFIG OUT`, with the environment of variant A
(`platform.platform_env`). It loads the platform's real definitions and runs, in process on an
ephemeral instance over the same range of days as A, a copy of the `etl_all` job in which every
asset keeps its key, dependencies, partitions, backfill policy and checks, but does no work: it
reports its materialization (no metadata) and passes its checks. A single run over a window of
days stores one "planned" and one materialization event per asset and day (30 days x 14 assets
on the bench), so this is a floor that grows with the days of a backfill, not with its rows.
Besides Dagster's run it holds what any Python variant pays (the interpreter's start and exit,
pyarrow's import): the variant reports `import dagster` and the run apart.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from bench.common import BenchConfig, emit
from bench.variants.platform import _NoPandas

if TYPE_CHECKING:  # imported in main(), inside the timed start-up
    import dagster as dg


def mirror(assets_def: dg.AssetsDefinition) -> dg.AssetsDefinition:
    """An asset definition with `assets_def`'s specs, checks and backfill policy and no work."""
    import dagster as dg

    specs = list(assets_def.specs)
    checks = list(assets_def.check_specs)

    @dg.multi_asset(
        name=f"noop__{assets_def.node_def.name}",
        specs=specs,
        check_specs=checks,
        backfill_policy=assets_def.backfill_policy,
    )
    def _noop() -> Iterator[object]:
        for spec in specs:
            yield dg.MaterializeResult(asset_key=spec.key)
        for check in checks:
            yield dg.AssetCheckResult(asset_key=check.asset_key, check_name=check.name, passed=True)

    return _noop


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("out", type=Path)
    parser.add_argument("--job", default="etl_all")
    args = parser.parse_args()
    config = BenchConfig.load(args.config)
    (args.out / "dagster").mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    sys.meta_path.insert(0, _NoPandas())  # as in A: pandas is not a dependency of the platform
    import dagster as dg

    imported = time.perf_counter()
    from bench.variants.platform import lake_only
    from etl_platform.definitions import build_definitions
    from etl_platform.runner import run_range

    real = build_definitions()
    graph = real.resolve_asset_graph()
    selected = set(lake_only(real, args.job))
    sources = [a for a in graph.assets_defs if set(a.keys) & selected]
    if set().union(*(a.keys for a in sources)) != selected:
        raise SystemExit(f"job {args.job} selects part of a multi-asset: not mirrored")
    assets = [mirror(a) for a in sources]
    defs = dg.Definitions(assets=assets, jobs=[dg.define_asset_job(args.job)])
    ready = time.perf_counter()
    with dg.DagsterInstance.ephemeral() as instance:
        result = run_range(defs, args.job, config.first_day, config.last_day, instance=instance)
    seconds = time.perf_counter() - started
    if not result.success:
        raise SystemExit(f"run failed: {[(o.key, o.error) for o in result.outcomes if o.error]}")
    emit(
        0,
        seconds,
        dagster_import_seconds=round(imported - started, 2),
        startup_seconds=round(ready - started, 2),
        run_seconds=round(seconds - (ready - started), 2),
        assets=len(selected),
        days=(config.last_day - config.first_day).days + 1,
    )


if __name__ == "__main__":
    main()
