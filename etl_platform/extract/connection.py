"""How to reach one MySQL server or shard: parsed from a URL held in the environment.

The password lives only in `MySqlEndpoint.password`, which is excluded from `repr` and from
`describe()`, so an endpoint can be logged or put in an error message safely.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import ssl
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import pymysql
import pymysql.converters

if TYPE_CHECKING:
    from etl_platform.specs.sources import ShardSpec

#: Encoders only: values are bound by pymysql, but results come back as the server's text
#: (str, or bytes for binary columns) and are typed in Arrow, column at a time.
RAW_TEXT_CONVERSIONS = {
    k: v for k, v in pymysql.converters.conversions.items() if not isinstance(k, int)
}


@functools.cache
def _preferred_tls_context() -> ssl.SSLContext:
    """pymysql's context for its "preferred" TLS mode (no option given), built once."""
    return pymysql.connections.Connection._create_ssl_ctx(None, {})  # type: ignore[arg-type]


class _Connection(pymysql.connections.Connection):
    """pymysql's connection with its default TLS context shared by every connection.

    Given no TLS option, pymysql (1.2) tries TLS where the server offers it, with a context
    that verifies nothing (no CA), and builds that context again on every connect, loading the
    system's CA store each time: most of a local connect's cost. The context is the same each
    time, so one per process does; explicit TLS options (`ssl_*`) still get their own.
    """

    def _create_ssl_ctx(self, sslp: object) -> ssl.SSLContext:
        if sslp == {}:
            return _preferred_tls_context()
        return super()._create_ssl_ctx(sslp)


class ShardUnavailableError(RuntimeError):
    """A shard that cannot be reached or refuses the login; names the shard, never the secret."""


@dataclasses.dataclass(frozen=True)
class MySqlEndpoint:
    host: str
    port: int = 3306
    user: str = "root"
    password: str = dataclasses.field(default="", repr=False)
    database: str | None = None

    @classmethod
    def from_url(cls, url: str, database: str | None = None) -> MySqlEndpoint:
        """Parse `mysql://user:password@host:port/database` (the database part is optional)."""
        parts = urlsplit(url)
        if parts.scheme not in ("mysql", "mariadb", "mysql+pymysql"):
            raise ValueError(f"MySQL URL must start with mysql:// (got scheme {parts.scheme!r})")
        if not parts.hostname:
            raise ValueError("MySQL URL has no host")
        path_db = unquote(parts.path.lstrip("/")) or None
        return cls(
            host=parts.hostname,
            port=parts.port or 3306,
            user=unquote(parts.username or "root"),
            password=unquote(parts.password or ""),
            database=database or path_db,
        )

    def with_database(self, database: str | None) -> MySqlEndpoint:
        return dataclasses.replace(self, database=database)

    def describe(self) -> str:
        """Where this endpoint points, safe for logs: no password."""
        db = f"/{self.database}" if self.database else ""
        return f"{self.user}@{self.host}:{self.port}{db}"

    def url(self) -> str:
        """The URL again, password included: for child processes' environment only."""
        auth = self.user + (f":{self.password}" if self.password else "")
        db = f"/{self.database}" if self.database else "/"
        return f"mysql://{auth}@{self.host}:{self.port}{db}"

    def connect(
        self,
        *,
        connect_timeout: float = 10,
        read_timeout: float | None = None,
        raw_text: bool = False,
        autocommit: bool = True,
        local_infile: bool = False,
    ) -> pymysql.connections.Connection:
        """Open a connection; `raw_text` returns every value as the server's text."""
        kwargs: dict = {}
        if raw_text:
            kwargs["conv"] = RAW_TEXT_CONVERSIONS
        return _Connection(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=self.database,
            charset="utf8mb4",
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            autocommit=autocommit,
            local_infile=local_infile,
            **kwargs,
        )


def endpoint_for(shard: str, spec: ShardSpec) -> MySqlEndpoint:
    """Resolve a shard's endpoint from the environment; errors name the shard and the variable."""
    if spec.url_env:
        url = os.environ.get(spec.url_env)
        if not url:
            raise LookupError(
                f"shard {shard}: environment variable {spec.url_env} (url_env) is not set"
            )
        try:
            return MySqlEndpoint.from_url(url, database=spec.database)
        except ValueError as e:
            raise ValueError(f"shard {shard}: {spec.url_env}: {e}") from None
    password = ""
    if spec.password_env:
        if spec.password_env not in os.environ:
            raise LookupError(
                f"shard {shard}: environment variable {spec.password_env} (password_env) is not set"
            )
        password = os.environ[spec.password_env]
    assert spec.host and spec.user
    return MySqlEndpoint(
        host=spec.host,
        port=spec.port,
        user=spec.user,
        password=password,
        database=spec.database,
    )
