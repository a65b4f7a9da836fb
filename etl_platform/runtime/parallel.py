"""Bounded, ordered work on threads: polars, DuckDB, Arrow and Parquet release the GIL, so two
days (or a read and a write) proceed at once on two cores while memory holds only a few items."""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from etl_platform.env import THREADS_ENV, threads

T = TypeVar("T")
R = TypeVar("R")

ENV_THREADS = THREADS_ENV


def default_threads() -> int:
    """Threads for per-day work inside one step: the machine's cores, at most 4 (each day in
    flight holds its rows). `ETL_PLATFORM_THREADS=1` runs everything on the calling thread."""
    configured = threads()
    if configured:
        try:
            value = int(configured)
        except ValueError:
            raise ValueError(f"{ENV_THREADS}={configured!r}: expected a whole number") from None
        if value < 1:
            raise ValueError(f"{ENV_THREADS}={configured!r}: expected 1 or more")
        return value
    return max(1, min(4, os.cpu_count() or 1))


def ordered_map(
    fn: Callable[[T], R], items: Iterable[T], workers: int, *, ahead: int = 0
) -> Iterator[R]:
    """`map(fn, items)` on `workers` threads, results in input order, at most `workers + ahead`
    items started and not yet consumed (Executor.map would start them all and hold every result).

    With `ahead=0` a worker whose item finished before the oldest one waits for the consumer:
    right where items hold their inputs until they return. Where results are small and the
    items cheap to hold (days to shape, which read their own rows), `ahead` lets that worker
    start the next item while finished results wait, so uneven items do not leave a core idle.

    On an error the items not yet started are not started; those running are waited for.
    """
    if ahead < 0:
        raise ValueError(f"ahead={ahead}: expected 0 or more")
    if workers <= 1:
        yield from map(fn, items)
        return
    pending: deque[Future[R]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="etl-day") as pool:
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) >= workers + ahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


_DONE = object()


def prefetched(source: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Pull `source` on a background thread, at most `depth` items ahead of the consumer.

    The producer (a database read) and the consumer (encoding and writing Parquet) overlap. The
    source's own errors are raised here, in the consumer; if the consumer stops early the
    producer stops at its next item and `source` is closed on its own thread.
    """
    if depth < 1:
        yield from source
        return
    items: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in source:
                while not stop.is_set():
                    try:
                        items.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(_DONE)
        except BaseException as exc:  # handed to the consumer
            items.put(exc)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="etl-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):  # unblock a producer on a full queue
                items.get_nowait()
            thread.join(0.05)
