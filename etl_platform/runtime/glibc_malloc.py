"""glibc's mmap threshold held at 128 KiB, so large freed blocks leave the process.

glibc raises the threshold to the size of the first large block freed (up to 32 MiB); from
then on the drivers' multi-MiB buffers come from per-thread heaps whose freed memory stays
resident and stacks under the next step's peak. Fixing the threshold keeps them on their own
mappings, returned when freed. `MALLOC_MMAP_THRESHOLD_` in the environment (glibc's own
variable) is an operator's choice and is left alone.
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
