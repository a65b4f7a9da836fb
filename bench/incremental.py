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
    shutil.rmtree(out, ignore_errors=True)
    return {
        "updated_rows": updated,
        "shard": config.databases[0],
        "day": today.isoformat(),
        "explain": explain,
        "day_run": day,
        "full_run": full,
    }


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
