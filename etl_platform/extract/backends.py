"""Extractor backends behind one interface: same window, same Arrow types, same files.

* `pymysql`: pure Python, the portable default that is always installed.
* `mysqlclient`: the same statement, session and streaming, parsed in C by libmariadb, so
  faster than pymysql. Built from source (libmariadb-dev, pkg-config).
* `connectorx`: the fastest (Rust, a binary wheel: the `fast` extra). It cannot bind values
  (the bounds are rendered as checked literals) and reads a statement ahead of its consumer
  without a limit, so a window the server scans whole is read in primary-key pages of
  `connectorx_reader.PAGE_ROWS` rows: memory is bounded by a page, not by the window.

`auto` picks the first installed of `AUTO_ORDER`, fastest first: installing the `fast` extra is
how a user asks for connectorx; without it, mysqlclient where it built, else pymysql.
Every backend passes the same type tests
(`etl_platform_tests/integration/test_extract_types.py`).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterator
from typing import Literal, Protocol

import pyarrow as pa

from etl_platform.extract.connection import MySqlEndpoint
from etl_platform.extract.introspect import TablePlan
from etl_platform.extract.query import WindowQuery
from etl_platform.extract.types import ConversionStats

ExtractBackendName = Literal["auto", "pymysql", "connectorx", "mysqlclient"]
AUTO = "auto"


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


def _connectorx_reader() -> BatchReader:
    from etl_platform.extract.connectorx_reader import read_batches

    return read_batches


def _mysqlclient_reader() -> BatchReader:
    from etl_platform.extract.mysqlclient_reader import read_batches

    return read_batches


_REGISTRY: dict[str, Callable[[], BatchReader]] = {
    "pymysql": _pymysql_reader,
    "connectorx": _connectorx_reader,
    "mysqlclient": _mysqlclient_reader,
}
#: The driver module each backend needs, and what to install for it.
_DRIVERS = {
    "pymysql": ("pymysql", "pymysql (a dependency of etl_platform)"),
    "connectorx": ("connectorx", "the `fast` extra: pip install 'etl_platform[fast]'"),
    "mysqlclient": ("MySQLdb._mysql", "mysqlclient, built against libmariadb-dev + pkg-config"),
}
#: Every backend, fastest first.
KNOWN = ("connectorx", "mysqlclient", "pymysql")
#: What `auto` may pick, best first. Each keeps memory bounded: connectorx pages the windows
#: it reads and hands any other window to a streaming reader.
AUTO_ORDER = ("connectorx", "mysqlclient", "pymysql")
#: Readers that pull rows from the socket as batches are consumed, values bound by the driver.
STREAMING = ("mysqlclient", "pymysql")


@functools.cache
def is_installed(name: str) -> bool:
    """Whether the backend's driver imports in this interpreter (not just whether it exists)."""
    if name not in _DRIVERS:
        return name in _REGISTRY  # registered in-process (a test's recording reader)
    try:
        importlib.import_module(_DRIVERS[name][0])
    except ImportError:
        return False
    return True


def installed_backends() -> list[str]:
    """The backends that can run here, fastest first."""
    return [name for name in KNOWN if is_installed(name)]


def resolve_backend(name: str) -> str:
    """The backend a name stands for: `auto` becomes the first installed of `AUTO_ORDER`."""
    if name == AUTO:
        return next(n for n in AUTO_ORDER if is_installed(n))
    if name not in _REGISTRY:
        raise ValueError(
            f"unknown extract backend {name!r}; valid: {', '.join([AUTO, *sorted(_REGISTRY)])}"
        )
    if not is_installed(name):
        raise ValueError(f"extract backend {name!r} is not installed: it needs {_DRIVERS[name][1]}")
    return name


def streaming_backend() -> str:
    """The fastest installed backend that streams one statement with bound values."""
    return next(n for n in STREAMING if is_installed(n))


def streaming_reader() -> BatchReader:
    return _REGISTRY[streaming_backend()]()


def streaming_backend_for(name: str) -> str:
    """The backend that reads a whole table (no window to page) under backend `name`: the one
    named when it streams, else the fastest streaming one (connectorx reads a statement ahead
    without a limit)."""
    resolved = resolve_backend(name)
    return resolved if resolved in STREAMING else streaming_backend()


def reader_for(name: str, plan: TablePlan, query: WindowQuery) -> str:
    """Which driver reads this window under backend `name` (connectorx hands a window it cannot
    page to the streaming reader): what the materialization's metadata records."""
    resolved = resolve_backend(name)
    if resolved == "connectorx":
        from etl_platform.extract.connectorx_reader import page_key

        if page_key(plan, query) is None:
            return streaming_backend()
    return resolved


def get_batch_reader(name: str) -> BatchReader:
    """The reader for a backend name (`auto` included); an unknown name lists the valid ones."""
    return _REGISTRY[resolve_backend(name)]()
