"""Polars' allocator (the jemalloc in its wheel) told to give freed pages back without a delay.

jemalloc returns a freed page in two stages: after `dirty_decay_ms` it marks the page free to
the kernel lazily (MADV_FREE: taken back only under memory pressure, and counted in the
process's RSS and a container's memory use until then), after `muzzy_decay_ms` for good.
Polars sets 500 ms and 1,000 ms and appends `_RJEM_MALLOC_CONF` to them (`polars/__init__.py`);
`muzzy_decay_ms:0` skips the lazy stage. On the bench the 4X run's peak RSS went 972-1,021 ->
907-929 MiB with no change in time; the quarter run's stayed at ~600 (bench/RESULTS.md,
fourteenth session).

jemalloc reads the variable when polars is imported, so this must run first:
`etl_platform/__init__.py` calls it, which covers every process that loads the platform's
definitions or CLI. Where polars is imported before `etl_platform` (a notebook, a user's own
code location), this has no effect: set `_RJEM_MALLOC_CONF=muzzy_decay_ms:0` in that
environment. A value already in the environment wins (an operator's own tuning;
`_RJEM_MALLOC_CONF=` keeps polars' defaults).
"""

from __future__ import annotations

import os

#: The environment variable polars' jemalloc reads (its symbols carry the `_rjem_` prefix).
ENV = "_RJEM_MALLOC_CONF"
SETTINGS = "muzzy_decay_ms:0"


def configure() -> None:
    """Set polars' jemalloc options unless the environment already has some."""
    os.environ.setdefault(ENV, SETTINGS)
