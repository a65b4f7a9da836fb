"""Give the heap's free pages back to the system after a large piece of work.

Every step of a run shares one process, and glibc keeps what C and Rust code freed in its
arenas: without this a run's peak is close to the sum of what its steps held.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

import pyarrow as pa

from etl_platform.runtime.glibc_malloc import libc_function


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None where the C library has none (musl, macOS)."""
    trim = libc_function("malloc_trim")
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_free_memory() -> None:
    """Return free heap pages to the system (a few milliseconds; safe with other threads).

    Arrow's own pool keeps freed pages too, outside glibc's reach.
    """
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
