"""pyarrow's memory pool: jemalloc rather than the wheels' default, mimalloc, where it ships.

Arrow allocates through its pool what the extract's builders, the Parquet encoders and the
writers' casts hold. With jemalloc instead of mimalloc the bench's `etl_all` took 3-8% less
time (less system time: mimalloc frees and faults pages back in by the page) and peaked ~15 MiB
lower at 500k orders, the same at 2 M (bench/RESULTS.md, nineteenth session). Its decay is
left at Arrow's settings (1 s, on a background thread): zero decay cost 15% for no memory.

Earlier sessions measured this pool on the extract alone and saw no gain; the gain is in the
whole run's system time. Arrow's `release_unused` (in `memory.release_free_memory`) gave back
only a few MiB at once here: jemalloc's background thread returns the pages within its decay.

Arrow reads the variable when its pool is first used, so this must run before pyarrow is
imported: `etl_platform/__init__.py` calls it. Where pyarrow is imported first (a notebook, a
user's own code location), set `ARROW_DEFAULT_MEMORY_POOL=jemalloc` there. Only Linux wheels
are known to carry jemalloc (elsewhere Arrow warns and falls back); a value already in the
environment wins (`ARROW_DEFAULT_MEMORY_POOL=` keeps pyarrow's default).
"""

from __future__ import annotations

import os
import sys

ENV = "ARROW_DEFAULT_MEMORY_POOL"
BACKEND = "jemalloc"


def configure() -> None:
    """Choose Arrow's pool unless the environment already names one."""
    if sys.platform == "linux":
        os.environ.setdefault(ENV, BACKEND)
