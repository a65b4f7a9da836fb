"""Variant C: the floor. connectorx to Arrow to one Parquet file per shard and table, no
transform. Run as `python -m bench.variants.floor CONFIG OUT [--cast]`: `--cast` reads DECIMAL
as CHAR and zero dates as NULL in the SELECT, for a connectorx that cannot read them as they are.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import connectorx as cx
import pyarrow.parquet as pq

from bench.common import BenchConfig, emit

PLAIN = {
    "orders": "SELECT * FROM orders WHERE updated_at >= '{0}' AND updated_at < '{1}'",
    "customers": "SELECT * FROM customers",
}
CAST = {
    "orders": (
        "SELECT id, customer_id, status, currency, CAST(total AS CHAR) AS total, is_gift, version,"
        " payload, created_at, updated_at FROM orders"
        " WHERE updated_at >= '{0}' AND updated_at < '{1}'"
    ),
    "customers": (
        "SELECT id, email, full_name, tier, is_active, profile, bio, birth_date,"
        " NULLIF(legacy_signup, '0000-00-00 00:00:00') AS legacy_signup, created_at, updated_at"
        " FROM customers"
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("out", type=Path)
    parser.add_argument("--cast", action="store_true")
    args = parser.parse_args()
    config = BenchConfig.load(args.config)
    queries = CAST if args.cast else PLAIN
    started = time.perf_counter()
    rows = 0
    for database in config.databases:
        for table, sql in queries.items():
            arrow = cx.read_sql(
                config.url(database), sql.format(*config.window()), return_type="arrow"
            )
            folder = args.out / database / table
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(arrow, folder / "part-00000.parquet", compression="zstd")
            rows += arrow.num_rows if table == "orders" else 0
    emit(rows, time.perf_counter() - started, cast=args.cast)


if __name__ == "__main__":
    main()
