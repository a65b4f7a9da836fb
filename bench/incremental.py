"""Incremental cost (1% of one shard's orders updated today: that day vs a full extract, and
the day query's EXPLAIN), and one profiled run of variant A."""

from __future__ import annotations

import datetime as dt
import shutil
import statistics
import time
from pathlib import Path

import pymysql

from bench.common import PYTHON, BenchConfig, Measurement, measure
from bench.variants.platform import platform_env


def _extract(config: BenchConfig, out: Path, label: str, *days: dt.date) -> Measurement:
    argv = [
        PYTHON,
        "-m",
        "bench.variants.platform",
        str(Path(config.work) / "config.json"),
        str(out),
        "--job",
        "extract_raw",
    ]
    if days:
        argv += ["--first", days[0].isoformat(), "--last", days[-1].isoformat()]
    return measure(label, argv, env=platform_env(config, out))


def incremental(config: BenchConfig, scratch: Path) -> dict[str, object]:
    out = scratch / "incremental"
    shutil.rmtree(out, ignore_errors=True)
    _extract(config, out, "extract_full_before")
    today = dt.datetime.now(dt.UTC).date()
    connection = pymysql.connect(
        host=config.host,
        port=config.port,
        user=config.user,
        database=config.databases[0],
        autocommit=True,
    )
    try:
        with connection.cursor() as cursor:
            updated = cursor.execute(
                "UPDATE orders SET updated_at = UTC_TIMESTAMP(6), version = version + 1"
                " WHERE id % 100 = 0"
            )
            cursor.execute(
                "EXPLAIN SELECT * FROM orders WHERE updated_at >= %s AND updated_at < %s",
                (f"{today} 00:00:00", f"{today + dt.timedelta(days=1)} 00:00:00"),
            )
            names = [d[0] for d in cursor.description]
            explain = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        connection.close()
    day = _extract(config, out, "extract_today", today)
    full = _extract(config, out, "extract_full", config.first_day, config.last_day)
    # The extractor alone (no Python/Dagster start-up in the timer): what the rows cost.
    direct_day = _direct(config, out, "extractor_today", today, today)
    direct_full = _direct(config, out, "extractor_full", config.first_day, config.last_day)
    shutil.rmtree(out, ignore_errors=True)
    return {
        "updated_rows": updated,
        "shard": config.databases[0],
        "day": today.isoformat(),
        "explain": explain,
        "day_run": day,
        "full_run": full,
        "direct_day": direct_day,
        "direct_full": direct_full,
    }


def isolated_days(config: BenchConfig, scratch: Path) -> dict[str, object]:
    """1% of one shard's orders moved to a day of their own, scattered and then clustered.

    Today's partition also holds the seeded rows of today (~1/days of the table), so it cannot
    show what "a day in which 1% changed" costs. Here 1% of `orders` on the first shard get a
    day before the window, once spread over the table (every 100th id: one page read per row)
    and once clustered (the newest ids: contiguous pages), and the extractor reads that day
    alone and then the shard's whole table. The rows are put back afterwards (--reuse).

    Each is read twice: `cold`, as the first extract of a fresh process, and `warm`, in a
    process that has extracted an empty day first (median of `WARM_REPEAT`): a run extracts
    many windows in one process, so the process's one-offs are not a cost of the day.
    """
    database = config.databases[0]
    scattered_day = config.first_day - dt.timedelta(days=3)
    clustered_day = config.first_day - dt.timedelta(days=2)
    out = scratch / "isolated"
    shutil.rmtree(out, ignore_errors=True)
    connection = pymysql.connect(
        host=config.host, port=config.port, user=config.user, database=database, autocommit=True
    )
    results: dict[str, object] = {"shard": database}
    saved = False
    try:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS _bench_saved")
            cursor.execute("SELECT COUNT(*), MAX(id) FROM orders")
            total, top = cursor.fetchone()
            step = max(total // 100, 1)
            cursor.execute(
                "CREATE TABLE _bench_saved AS SELECT id, updated_at FROM orders"
                " WHERE MOD(id, 100) = 1 OR id > %s",
                (top - step,),
            )
            saved = True
            for label, day, where, arg in (
                ("scattered", scattered_day, "MOD(id, 100) = 1", None),
                ("clustered", clustered_day, "id > %s", top - step),
            ):
                moved = cursor.execute(
                    f"UPDATE orders SET updated_at = %s WHERE {where}",
                    (f"{day} 12:00:00", *(() if arg is None else (arg,))),
                )
                cursor.execute(
                    "EXPLAIN SELECT * FROM orders WHERE updated_at >= %s AND updated_at < %s",
                    (f"{day} 00:00:00", f"{day + dt.timedelta(days=1)} 00:00:00"),
                )
                names = [d[0] for d in cursor.description]
                explain = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
                results[label] = {
                    "moved": moved,
                    "table_rows": total,
                    "explain": explain,
                    "server_seconds": _server_read(cursor, day, day),
                    **_cold_and_warm(config, out, f"day_{label}", day, day, database),
                }
            results["full"] = {
                "server_seconds": _server_read(cursor, scattered_day, config.last_day),
                **_cold_and_warm(
                    config, out, "shard_full", scattered_day, config.last_day, database
                ),
            }
            results["empty"] = {
                "server_seconds": _server_read(cursor, empty_day(config), empty_day(config)),
                **_cold_and_warm(
                    config, out, "day_empty", empty_day(config), empty_day(config), database
                ),
            }
    finally:
        with connection.cursor() as cursor:
            if saved:
                cursor.execute(
                    "UPDATE orders o JOIN _bench_saved s ON s.id = o.id"
                    " SET o.updated_at = s.updated_at"
                )
            cursor.execute("DROP TABLE IF EXISTS _bench_saved")
        connection.close()
        shutil.rmtree(out, ignore_errors=True)
    return results


def _server_read(cursor: pymysql.cursors.Cursor, first: dt.date, last: dt.date) -> float:
    """The server's own read of a window (median of 3): every row's record visited through the
    same access path as the extract's query, one number sent back, nothing decoded."""
    bounds = (f"{first} 00:00:00", f"{last + dt.timedelta(days=1)} 00:00:00")
    seconds = []
    for _ in range(3):
        started = time.perf_counter()
        cursor.execute(
            "SELECT SUM(LENGTH(payload)) FROM orders WHERE updated_at >= %s AND updated_at < %s",
            bounds,
        )
        cursor.fetchall()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


#: Timed runs of each window in a warm process (the median counts).
WARM_REPEAT = 5


def empty_day(config: BenchConfig) -> dt.date:
    """A day before the seeded window that no row is moved to: an extract's fixed cost."""
    return config.first_day - dt.timedelta(days=5)


def _cold_and_warm(
    config: BenchConfig, out: Path, label: str, first: dt.date, last: dt.date, database: str
) -> dict[str, Measurement]:
    return {
        "run": _direct(config, out, label, first, last, database),
        "warm": _direct(
            config,
            out,
            f"{label}_warm",
            first,
            last,
            database,
            warm_day=empty_day(config),
            repeat=WARM_REPEAT,
        ),
    }


def _direct(
    config: BenchConfig,
    out: Path,
    label: str,
    first: dt.date,
    last: dt.date,
    database: str | None = None,
    *,
    warm_day: dt.date | None = None,
    repeat: int = 1,
) -> Measurement:
    """The extractor alone in a fresh process; with `warm_day`, after one untimed extract of
    that day, the median of `repeat` timed runs (what a day costs once the process's one-offs
    are paid)."""
    argv = [PYTHON, "-m", "bench.variants.extract_only", str(Path(config.work) / "config.json")]
    argv += [str(out / label), first.isoformat(), last.isoformat()]
    if warm_day:
        argv += ["--warm-day", warm_day.isoformat(), "--repeat", str(repeat)]
    return measure(label, argv + (["--database", database] if database else []))


def profile_a(config: BenchConfig, scratch: Path, target: Path) -> dict[str, object]:
    out = scratch / "profile"
    shutil.rmtree(out, ignore_errors=True)
    result = measure(
        "A_profiled",
        [
            PYTHON,
            "-m",
            "bench.variants.platform",
            str(Path(config.work) / "config.json"),
            str(out),
            "--profile",
            str(target.resolve()),
        ],
        env=platform_env(config, out),
    )
    shutil.rmtree(out, ignore_errors=True)
    return {"file": str(target), "run": result}


#: The rows of `describe_isolated`'s table, in order.
_ROW_NAMES = {
    "scattered": "scattered (every 100th id)",
    "clustered": "clustered (newest ids)",
    "full": "the whole table",
    "empty": "an empty day (the fixed cost)",
}


def describe_isolated(found: dict) -> list[str]:
    """Markdown lines for `isolated_days`: each day against the whole table, cold and warm."""
    full, empty = found["full"], found["empty"]
    lines = [
        f"1% of `orders` on {found['shard']} moved to a day of its own, then that day and the "
        f"shard's whole table ({full['run'].rows} rows) read by the extractor alone, in a fresh "
        "process (cold) and in one that has run an extract before (warm, median of "
        f"{WARM_REPEAT}):",
        "",
        "| rows on the day | rows | share of rows | cold s | cold share | warm s | warm share "
        "(above the fixed cost) | the server's own read: s, share | EXPLAIN type, key, rows |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label in _ROW_NAMES:
        part = found[label]
        name = _ROW_NAMES[label]
        plan = part["explain"][0] if "explain" in part else None
        cells = [name, str(part["run"].rows), f"{part['run'].rows / full['run'].rows:.1%}"]
        for mode in ("run", "warm"):
            seconds, whole = part[mode].work_seconds, full[mode].work_seconds
            share = f"{seconds / whole:.1%}"
            if mode == "warm":
                fixed = empty[mode].work_seconds
                share += f" ({(seconds - fixed) / (whole - fixed):.1%})"
            cells += [f"{seconds:.3f}", share]
        server = part["server_seconds"]
        cells.append(f"{server:.3f}, {server / full['server_seconds']:.1%}")
        cells.append(f"{plan['type']}, {plan['key']}, {plan['rows']}" if plan else "")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "The fixed cost of an extract is the empty day's: two connections, the plan from "
        "information_schema, EXPLAIN, the read session's statements, an empty Parquet file. "
        "Cold adds the process's one-offs (the first TLS context, the allocator's first pages, "
        "the Parquet writer's first use), paid once a run, not once a day. The server's own read "
        "(`SUM(LENGTH(payload))` over the window, median of 3) is the floor of a day's share: "
        "through the cursor's index each row is one lookup in the primary key, where the whole "
        "table is one sequential scan.",
    ]
    return lines


def main() -> None:
    """`python -m bench.incremental CONFIG`: the isolated-day measurement on seeded shards."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("config")
    parser.add_argument("--dir", default=".local/bench")
    args = parser.parse_args()
    found = isolated_days(BenchConfig.load(args.config), Path(args.dir).resolve() / "scratch")
    print("\n".join(describe_isolated(found)))


if __name__ == "__main__":
    main()
