"""Variant D: dlt's `sql_database` source (its `sql_table`s), pyarrow backend, Parquet on the
filesystem destination. Run as `python -m bench.variants.peer CONFIG OUT`.

Two changes were needed to make it run on these shards: BIGINT UNSIGNED values above 2^63 fail
in the pyarrow backend (read as DECIMAL(20,0) instead), and the zero dates of
`customers.legacy_signup` fail its Arrow conversion (the column is left out).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from bench.common import BenchConfig, emit


def _widen_unsigned(sql_type: object) -> object:
    """BIGINT UNSIGNED above 2^63 breaks the pyarrow backend: read it as DECIMAL(20,0)."""
    import sqlalchemy as sa

    if isinstance(sql_type, sa.BigInteger) and getattr(sql_type, "unsigned", False):
        return sa.Numeric(20, 0)
    return sql_type


os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")


def main() -> None:
    config, out = BenchConfig.load(sys.argv[1]), Path(sys.argv[2])
    started = time.perf_counter()
    import dlt
    from dlt.sources.sql_database import sql_table

    rows = 0
    for database in config.databases:
        url = config.url(database, scheme="mysql+pymysql")
        source = [  # sql_table = one table of sql_database, with excluded_columns
            sql_table(
                credentials=url,
                table=table,
                backend="pyarrow",
                chunk_size=20_000,
                type_adapter_callback=_widen_unsigned,
                excluded_columns=excluded,
            )
            for table, excluded in (("orders", None), ("customers", ["legacy_signup"]))
        ]
        pipeline = dlt.pipeline(
            pipeline_name=f"bench_{database}",
            pipelines_dir=str(out / "pipelines"),
            destination=dlt.destinations.filesystem(bucket_url=(out / "lake").as_uri()),
            dataset_name=database,
        )
        info = pipeline.run(source, loader_file_format="parquet")
        info.raise_on_failed_jobs()
        rows += pipeline.last_trace.last_normalize_info.row_counts.get("orders", 0)
    emit(rows, time.perf_counter() - started)


if __name__ == "__main__":
    main()
