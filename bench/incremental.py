"""Incremental cost (1% of one shard's orders updated today: that day vs a full extract, and
the day query's EXPLAIN), and one profiled run of variant A."""

from __future__ import annotations

import datetime as dt
import shutil
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
                run = _direct(config, out, f"day_{label}", day, day, database)
                results[label] = {
                    "moved": moved,
                    "table_rows": total,
                    "explain": explain,
                    "run": run,
                }
            results["full"] = _direct(
                config, out, "shard_full", scattered_day, config.last_day, database
            )
            empty_day = config.first_day - dt.timedelta(days=5)  # no row: the fixed cost
            results["empty"] = _direct(config, out, "day_empty", empty_day, empty_day, database)
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


def _direct(
    config: BenchConfig,
    out: Path,
    label: str,
    first: dt.date,
    last: dt.date,
    database: str | None = None,
) -> Measurement:
    argv = [PYTHON, "-m", "bench.variants.extract_only", str(Path(config.work) / "config.json")]
    argv += [str(out / label), first.isoformat(), last.isoformat()]
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


def describe_isolated(found: dict) -> list[str]:
    """Markdown lines for `isolated_days`."""
    full, empty = found["full"], found.get("empty")
    lines = [
        f"1% of `orders` on {found['shard']} moved to a day of its own, then that day and the "
        f"shard's whole table read by the extractor alone (full: {full.rows} rows in "
        f"{full.work_seconds:.2f}s):",
        "",
        "| rows on the day | rows | share of rows | seconds | share of time "
        "| EXPLAIN type, key, rows |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label in ("scattered", "clustered"):
        part = found[label]
        run, plan = part["run"], part["explain"][0]
        lines.append(
            f"| {label} (every 100th id)" if label == "scattered" else "| clustered (newest ids)"
        )
        marginal = ""
        if empty is not None:
            share = (run.work_seconds - empty.work_seconds) / (
                full.work_seconds - empty.work_seconds
            )
            marginal = f" ({share:.1%} above the fixed cost)"
        lines[-1] += (
            f" | {run.rows} | {run.rows / full.rows:.1%} | {run.work_seconds:.3f} "
            f"| {run.work_seconds / full.work_seconds:.1%}{marginal} "
            f"| {plan['type']}, {plan['key']}, {plan['rows']} |"
        )
    if empty is not None:
        lines += [
            "",
            f"An empty day costs {empty.work_seconds:.3f}s (connect, plan from information_schema, "
            "EXPLAIN, an empty Parquet file): the fixed cost of any extract.",
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
