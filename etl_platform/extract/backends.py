"""Extractor backends behind one interface, so the driver is chosen by measurement.

`pymysql` is the portable default: pure Python, a server-side cursor, the server's text typed
in Arrow a column at a time. Other backends register here and must pass the same type tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Literal, Protocol

import pyarrow as pa

from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.extract.introspect import TablePlan
from etl_platform.extract.query import WindowQuery
from etl_platform.extract.types import ConversionStats

ExtractBackendName = Literal["pymysql"]


class BatchReader(Protocol):
    def __call__(
        self,
        endpoint: MySqlEndpoint,
        plan: TablePlan,
        query: WindowQuery,
        *,
        timezone: str,
        batch_rows: int,
        stats: ConversionStats,
        connect_timeout: float,
        read_timeout: float | None,
    ) -> Iterator[pa.RecordBatch]: ...


def _pymysql_reader() -> BatchReader:
    from etl_platform.extract.pymysql_reader import read_batches

    return read_batches


_REGISTRY: dict[str, Callable[[], BatchReader]] = {"pymysql": _pymysql_reader}


def get_batch_reader(name: str) -> BatchReader:
    """The reader for a backend name; an unknown name lists the valid ones."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown extract backend {name!r}; valid: {', '.join(sorted(_REGISTRY))}"
        ) from None
    return factory()
