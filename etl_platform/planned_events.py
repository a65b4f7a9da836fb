"""How a long range run announces its partitions to Dagster.

Before a run's first step Dagster stores one ASSET_MATERIALIZATION_PLANNED event per asset and
partition the run targets, a few hundred a second on SQLite: over years of daily partitions
that is minutes before anything starts, and as many rows in the event log. Its opt-in
`DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS` stores one event per asset carrying the range
instead; the cost is that the UI then shows the range's days as missing rather than in progress
or failed. A run no longer than a backfill run (the assets' `BackfillPolicy`) keeps the exact
per-day status; a longer one (a history load from the command line, which reports its own
failures) takes the compact form.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator

import dagster as dg

COMPACT_ENV = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"


def backfill_run_days(graph: dg.AssetGraph, keys: Iterable[dg.AssetKey]) -> int | None:
    """The fewest days a backfill run of these assets covers (None: no bound, or none
    partitioned)."""
    bounds = [
        policy.max_partitions_per_run
        for key in keys
        if (node := graph.get(key)).partitions_def is not None
        and (policy := node.backfill_policy) is not None
        and policy.max_partitions_per_run is not None
    ]
    return min(bounds) if bounds else None


def compact_for(days: int, backfill_days: int | None) -> bool:
    """Whether a run of `days` days should announce its partitions compactly."""
    return backfill_days is not None and days > backfill_days


@contextlib.contextmanager
def planned_events(compact: bool) -> Iterator[None]:
    """Runs created inside announce their partitions compactly when `compact`; the process's
    own setting is restored after."""
    if not compact:
        yield
        return
    before = os.environ.get(COMPACT_ENV)
    os.environ[COMPACT_ENV] = "true"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(COMPACT_ENV, None)
        else:
            os.environ[COMPACT_ENV] = before
