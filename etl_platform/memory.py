"""Give the heap's free pages back to the system after a large piece of work.

Every step of a run shares one process. glibc keeps what C and Rust code freed (the MySQL
drivers, connectorx's buffers, Python objects) in its arenas rather than returning it, so
without this a run's peak is close to the sum of what its steps held, and grows with the data:
on the bench, 4 extracts of 500k orders left ~100 MiB more resident than 4 of 125k, which the
view then stacked its own memory on (bench/RESULTS.md, "fifth slice").
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

import pyarrow as pa

from etl_platform.glibc_malloc import libc_function


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None where the C library has none (musl, macOS)."""
    trim = libc_function("malloc_trim")
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_free_memory() -> None:
    """Return free heap pages to the system (a few milliseconds; safe with other threads).

    Arrow's own pool (`arrow_pool`) keeps freed pages too, outside glibc: after the bench's 4
    extracts mimalloc held ~100 MiB with no buffer allocated.
    """
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
