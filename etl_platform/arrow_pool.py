"""pyarrow's memory pool: jemalloc rather than the wheels' default, mimalloc, where it ships.

Arrow allocates through its pool what the extract's builders, the Parquet encoders and the
writers' casts hold. With jemalloc instead of mimalloc the bench's `etl_all` took 3-8% less
time (less system time: mimalloc frees and faults pages back in by the page) and peaked ~15 MiB
lower at 500k orders, the same at 2 M (bench/RESULTS.md, nineteenth session). Its decay is
left at Arrow's settings (1 s, on a background thread): zero decay cost 15% for no memory.

Arrow reads the variable when its pool is first used, so this must run before pyarrow is
imported: `etl_platform/__init__.py` calls it. Only Linux wheels are known to carry jemalloc
(elsewhere Arrow warns and falls back); a value already in the environment wins.
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
