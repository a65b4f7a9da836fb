"""The extractor alone (no Dagster): one shard x table over a window, to show what a day costs.

Run as `python -m bench.variants.extract_only CONFIG OUT FIRST LAST [--backend B]`; reads
`orders` of every bench shard over [FIRST, LAST] into a scratch lake and reports rows and time.

`--warm-day D --repeat N` first extracts day D (untimed), then times the window N times and
reports the median: what a day costs in a process that has already run an extract (a Dagster
run extracts many shard x table windows in one process), without the process's one-offs (the
first connections' TLS set-up, the allocator's first pages, the Parquet writer's first use).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from pathlib import Path

from bench.common import BenchConfig, emit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("out", type=Path)
    parser.add_argument("first", type=dt.date.fromisoformat)
    parser.add_argument("last", type=dt.date.fromisoformat)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--database", action="append", help="only these shards (repeatable)")
    parser.add_argument("--warm-day", type=dt.date.fromisoformat, help="extract first, untimed")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs; the median counts")
    args = parser.parse_args()
    config = BenchConfig.load(args.config)

    from etl_platform.runtime import configure_process

    configure_process()  # as the platform's entry points do, before pyarrow is imported
    import pyarrow as pa

    from etl_platform.extract.backends import get_batch_reader, resolve_backend, streaming_reader
    from etl_platform.extract.connection import MySqlEndpoint
    from etl_platform.extract.extractor import ExtractRequest, extract_window
    from etl_platform.load.lake import Lake

    pa.array([0])  # pyarrow imports pandas (~1.2 s) on first use: a one-off, not a row cost
    resolved = resolve_backend(args.backend)
    get_batch_reader(resolved)  # the reader's module imports (polars, ~0.5 s): one-off too
    # connectorx hands a day the cursor's index serves to the streaming reader: its imports
    # (~35 ms) are as much a one-off, not a cost of the day.
    streaming_reader()
    days = [args.first + dt.timedelta(days=i) for i in range((args.last - args.first).days + 1)]
    databases = args.database or config.databases

    def run(out: Path, window: list[dt.date]) -> int:
        lake = Lake(out / "lake")
        rows = 0
        for database in databases:
            request = ExtractRequest(
                shard=database,
                table="orders",
                endpoint=MySqlEndpoint.from_url(config.url(database)),
                days=window,
                cursor="updated_at",
                primary_key=["id"],
                backend=resolved,
            )
            rows += extract_window(request, lake).rows
        return rows

    if args.warm_day:
        run(args.out / "warm", [args.warm_day])
    seconds = []
    for i in range(args.repeat):
        started = time.perf_counter()
        rows = run(args.out / f"run{i}", days)
        seconds.append(time.perf_counter() - started)
    emit(
        rows,
        statistics.median(seconds),
        days=len(days),
        backend=args.backend,
        runs=[round(s, 4) for s in seconds],
        warm=bool(args.warm_day),
    )


if __name__ == "__main__":
    main()
