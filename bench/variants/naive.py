"""Variant B: the naive DAG (pandas.read_sql, json.loads per row, json_normalize, merge, dedupe,
to_parquet per day). Run as `python -m bench.variants.naive CONFIG OUT`.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
import pymysql

from bench.common import BenchConfig, emit

FIELDS = {  # orders_enriched's JSON columns: flattened name -> output name
    "totals.grand_total": "grand_total",
    "totals.tax": "tax",
    "shipping.method": "shipping_method",
    "shipping.address.city": "city",
    "shipping.address.country": "country",
    "coupon": "coupon",
    "notes": "notes",
    "items": "items_json",
}


def _parse(text: object) -> dict:
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {}


def enrich_shard(connection: pymysql.Connection, window: tuple[str, str]) -> pd.DataFrame:
    orders = pd.read_sql(
        "SELECT * FROM orders WHERE updated_at >= %s AND updated_at < %s", connection, params=window
    )
    customers = pd.read_sql("SELECT id, email, tier, full_name FROM customers", connection)
    flat = pd.json_normalize([_parse(p) for p in orders["payload"]])
    flat = flat.reindex(columns=list(FIELDS)).rename(columns=FIELDS)
    flat["items_json"] = [
        json.dumps(v) if isinstance(v, list) else None for v in flat["items_json"]
    ]
    wide = pd.concat([orders.drop(columns=["payload"]), flat], axis=1)
    customers = customers.rename(
        columns={"email": "customer_email", "tier": "customer_tier", "full_name": "customer_name"}
    )
    wide = wide.merge(
        customers, how="left", left_on="customer_id", right_on="id", suffixes=("", "_c")
    )
    wide = wide.drop(columns=["id_c"]).rename(columns={"id": "order_id"})
    wide = wide.sort_values("updated_at").drop_duplicates(subset=["order_id"], keep="last")
    for column in ("total", "grand_total", "tax"):  # Decimal, "39.80" or 39.8: keep as text
        wide[column] = wide[column].astype("string")
    return wide


def main() -> None:
    config, out = BenchConfig.load(sys.argv[1]), Path(sys.argv[2])
    warnings.simplefilter("ignore")  # pandas warns about a DBAPI connection that is not SQLAlchemy
    started = time.perf_counter()
    rows = 0
    for database in config.databases:
        connection = pymysql.connect(
            host=config.host,
            port=config.port,
            user=config.user,
            database=database,
            charset="utf8mb4",
        )
        try:
            wide = enrich_shard(connection, config.window())
        finally:
            connection.close()
        rows += len(wide)
        for day, part in wide.groupby(wide["updated_at"].dt.date):
            folder = out / database / f"updated_at={day}"
            folder.mkdir(parents=True, exist_ok=True)
            part.to_parquet(folder / "part-00000.parquet", index=False)
    emit(rows, time.perf_counter() - started)


if __name__ == "__main__":
    main()
