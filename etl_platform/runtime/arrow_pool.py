"""pyarrow's memory pool on jemalloc rather than the wheels' default, mimalloc.

mimalloc frees and faults pages back in one page at a time, which shows as system time in a
run; jemalloc returns them from a background thread within its decay. Arrow reads the variable
when its pool is first used, so `configure_process()` must run before pyarrow is imported.
Only Linux wheels carry jemalloc; a value already in the environment wins.
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
