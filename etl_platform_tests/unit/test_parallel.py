"""ordered_map and prefetched: order kept, work bounded, errors raised where the caller is."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from etl_platform.runtime.parallel import default_threads, ordered_map, prefetched


def test_ordered_map_keeps_input_order_whatever_finishes_first() -> None:
    def slow_for_small(n: int) -> int:
        time.sleep(0.02 * (5 - n % 5))
        return n * n

    assert list(ordered_map(slow_for_small, range(12), workers=3)) == [n * n for n in range(12)]


def test_ordered_map_starts_at_most_workers_items_ahead_of_the_consumer() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def record(n: int) -> int:
        with lock:
            started.append(n)
        return n

    results = ordered_map(record, range(100), workers=2)
    assert next(results) == 0
    time.sleep(0.1)
    with lock:
        assert len(started) <= 3  # the one consumed, one in flight, one submitted next
    assert list(results) == list(range(1, 100))


def test_ordered_map_ahead_lets_a_free_worker_go_on_while_the_oldest_item_runs() -> None:
    release = threading.Event()
    started: list[int] = []
    lock = threading.Lock()

    def slow_first(n: int) -> int:
        with lock:
            started.append(n)
        if n == 0:
            assert release.wait(5)
        return n

    results = ordered_map(slow_first, range(20), workers=2, ahead=2)
    consumer = threading.Thread(target=lambda: collected.extend(results))
    collected: list[int] = []
    consumer.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with lock:
            if len(started) >= 4:
                break
        time.sleep(0.01)
    time.sleep(0.1)
    with lock:
        # Item 0 still runs; the other worker did 1, 2 and 3, and 4 waits for the consumer.
        assert sorted(started) == [0, 1, 2, 3]
    release.set()
    consumer.join(5)
    assert collected == list(range(20))


def test_ordered_map_refuses_a_negative_ahead() -> None:
    with pytest.raises(ValueError, match="ahead=-1"):
        list(ordered_map(lambda n: n, range(3), workers=2, ahead=-1))


def test_ordered_map_raises_the_error_of_its_item_and_stops_starting_new_ones() -> None:
    started: list[int] = []

    def fail_on_three(n: int) -> int:
        started.append(n)
        if n == 3:
            raise ValueError("day 3 is bad")
        return n

    with pytest.raises(ValueError, match="day 3 is bad"):
        list(ordered_map(fail_on_three, range(50), workers=2))
    assert max(started) <= 5


def test_ordered_map_with_one_worker_runs_on_the_calling_thread() -> None:
    threads = list(ordered_map(lambda _: threading.get_ident(), range(3), workers=1))
    assert set(threads) == {threading.get_ident()}


def test_default_threads_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETL_PLATFORM_THREADS", "1")
    assert default_threads() == 1
    monkeypatch.setenv("ETL_PLATFORM_THREADS", "zero")
    with pytest.raises(ValueError, match="ETL_PLATFORM_THREADS='zero'"):
        default_threads()
    monkeypatch.delenv("ETL_PLATFORM_THREADS")
    assert 1 <= default_threads() <= 4


def test_prefetched_yields_everything_in_order() -> None:
    assert list(prefetched(iter(range(1000)), depth=2)) == list(range(1000))


def test_prefetched_runs_at_most_depth_items_ahead() -> None:
    produced: list[int] = []

    def source() -> Iterator[int]:
        for n in range(100):
            produced.append(n)
            yield n

    items = prefetched(source(), depth=2)
    assert next(items) == 0
    time.sleep(0.2)
    assert len(produced) <= 4  # consumed, two queued, one waiting to be queued
    assert list(items) == list(range(1, 100))


def test_prefetched_raises_the_sources_error_after_its_items() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise ConnectionError("lost connection to shard s1")

    got: list[int] = []
    with pytest.raises(ConnectionError, match="shard s1"):
        for item in prefetched(source(), depth=1):
            got.append(item)
    assert got == [1, 2]


def test_a_consumer_that_stops_early_closes_the_source() -> None:
    closed = threading.Event()

    def source() -> Iterator[int]:
        try:
            yield from range(1_000_000)
        finally:
            closed.set()

    items = prefetched(source(), depth=1)
    assert next(items) == 0
    items.close()
    assert closed.wait(2)
