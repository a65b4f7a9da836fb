"""What the tests need from the machine, checked before they run (`make test`).

The tests fail, never skip, when a server or a driver is missing; this says which one and how
to install it, once, instead of a failure per test. Exit 1 when something is missing.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

#: The tests' servers, as `etl_platform_tests` reads them.
MYSQL_URL_ENV, MYSQL_URL = "ETL_PLATFORM_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/"
POSTGRES_URL_ENV = "ETL_PLATFORM_TEST_POSTGRES_URL"
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

#: Extract drivers CI must have (it tests every backend), and how to get each.
CI_DRIVERS = {
    "MySQLdb._mysql": (
        "the mysqlclient driver (extract backend `mysqlclient`): "
        "`apt-get install libmariadb-dev pkg-config`, then `rm .venv/.synced && make env`"
    ),
    "connectorx": "connectorx (the `fast` extra): `rm .venv/.synced && make env`",
}


def check_mariadb() -> str | None:
    """The tests' MariaDB answers a login."""
    import pymysql

    from etl_platform.extract.connection import MySqlEndpoint

    url = os.environ.get(MYSQL_URL_ENV, MYSQL_URL)
    endpoint = MySqlEndpoint.from_url(url)
    try:
        endpoint.connect(connect_timeout=3).close()
    except pymysql.err.Error as e:
        return (
            f"MariaDB at {endpoint.describe()} does not answer ({e}). Install it with "
            "`apt-get install mariadb-server` and start it (`service mariadb start`, or "
            f"`start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd`), or "
            f"set {MYSQL_URL_ENV}"
        )
    return None


def check_postgres() -> str | None:
    """The tests' PostgreSQL (the Redshift stand-in) answers a login."""
    import psycopg

    url = os.environ.get(POSTGRES_URL_ENV, POSTGRES_URL)
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error as e:
        where = url.rpartition("@")[2]
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return (
            f"PostgreSQL at {where} does not answer ({reason}). Install it with "
            "`apt-get install postgresql` and start it (`service postgresql start`), or set "
            f"{POSTGRES_URL_ENV}"
        )
    return None


def check_mariadb_binaries() -> str | None:
    """`mariadbd` for the tests that start a private server, as `make run` does."""
    found = any(
        shutil.which(name) or Path("/usr/sbin", name).exists() for name in ("mariadbd", "mysqld")
    )
    if found:
        return None
    return "no mariadbd binary (the demo's private server): `apt-get install mariadb-server`"


def check_browser() -> str | None:
    """Debian's Chromium and its driver, for the view studio's browser tests."""
    if all(shutil.which(name) for name in ("chromium", "chromedriver")):
        return None
    return (
        "no chromium/chromedriver (the studio's browser test): "
        "`apt-get install chromium chromium-driver`"
    )


def check_ci_drivers() -> list[str]:
    """Under CI=true every extract backend is tested, so each driver must import."""
    if os.environ.get("CI") != "true":
        return []
    missing = []
    for module, how in CI_DRIVERS.items():
        try:
            importlib.import_module(module)
        except ImportError as e:
            missing.append(f"CI=true needs {how} ({e})")
    return missing


def missing() -> list[str]:
    """Every missing prerequisite, described with how to install it."""
    checks: list[Callable[[], str | None]] = [
        check_mariadb,
        check_postgres,
        check_mariadb_binaries,
        check_browser,
    ]
    problems = [problem for check in checks if (problem := check())]
    return problems + check_ci_drivers()


def main() -> int:
    problems = missing()
    for problem in problems:
        print(f"missing: {problem}", file=sys.stderr)
    if problems:
        print(
            "make test: the tests need these (see README, 'What a fresh machine needs')",
            file=sys.stderr,
        )
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
