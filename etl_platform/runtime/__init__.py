"""Process settings (allocators, memory pools, threads), applied by entry points only.

`configure_process()` must run before polars or pyarrow is imported: their allocators read
their settings then. The definitions, the CLI and the bench call it first thing; importing
any other module of the platform changes nothing in the process.
"""

from __future__ import annotations

from etl_platform.runtime import arrow_pool, glibc_malloc, jemalloc


def configure_process() -> None:
    """Apply the platform's allocator settings (idempotent; the environment's own values win)."""
    jemalloc.configure()
    arrow_pool.configure()
    glibc_malloc.fix_mmap_threshold()


__all__ = ["configure_process"]
