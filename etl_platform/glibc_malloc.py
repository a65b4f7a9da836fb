"""glibc's malloc told to keep a fixed mmap threshold, so large freed blocks leave the process.

glibc serves a block of at least `M_MMAP_THRESHOLD` (128 KiB) with a mapping of its own,
returned to the system when freed. But the first time such a block is freed, glibc raises the
threshold to its size (up to 32 MiB), and from then on blocks of a few MiB (the MySQL drivers'
and connectorx's buffers) come from its heaps, one a thread, where freed memory stays resident:
`malloc_trim` gave little of it back. On the bench, 4 shards' extracts left ~150 MiB of free
heap resident that the view's peak then stacked on; setting the threshold (which also stops it
moving) took the whole run's peak from 940-998 to 793-796 MiB at 2 M orders and 607-618 to
515-518 at 500k, for at most ~1.5% more time: mapping and zeroing each large block costs a
little (bench/RESULTS.md, seventeenth session).

`etl_platform/__init__.py` calls `fix_mmap_threshold()`, so every process that loads the
platform has it. `MALLOC_MMAP_THRESHOLD_` in the environment (glibc's own variable, read when
the process starts) is an operator's choice and is left alone.
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Callable

#: `mallopt`'s parameter number for the threshold (glibc's malloc.h).
M_MMAP_THRESHOLD = -3
#: glibc's own starting value: blocks from 128 KiB up get a mapping of their own.
MMAP_THRESHOLD_BYTES = 128 * 1024
ENV = "MALLOC_MMAP_THRESHOLD_"


@functools.cache
def libc_function(name: str) -> Callable[..., int] | None:
    """A function of the C library by name, or None where it has none (musl, macOS)."""
    try:
        return getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None


def fix_mmap_threshold() -> bool:
    """Set glibc's mmap threshold (and so stop it moving). Whether it was set."""
    mallopt = libc_function("mallopt")
    if mallopt is None or os.environ.get(ENV) is not None:
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
