"""How to reach one MySQL server or shard: parsed from a URL held in the environment.

The password lives only in `MySqlEndpoint.password`, which is excluded from `repr` and from
`describe()`, so an endpoint can be logged or put in an error message safely. A URL is parsed
here rather than by `urllib.parse`: a password may hold `/ # ? @ : [ ]` unescaped, and no error
about a URL quotes any part of it before the host.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import ssl
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

import pymysql
import pymysql.converters

from etl_platform.env import missing_setting

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


#: pymysql/MySQL error numbers that mean the server is gone, refusing or unreachable (not a
#: statement's own failure, which a retry would only repeat).
CONNECT_ERRNOS = frozenset({1044, 1045, 1698, 2002, 2003, 2005, 2006, 2013})


def is_connect_error(exc: BaseException) -> bool:
    return isinstance(exc, pymysql.err.Error) and bool(exc.args) and exc.args[0] in CONNECT_ERRNOS


def shard_unavailable(
    shard: str, endpoint: MySqlEndpoint, table: str, error: Exception
) -> ShardUnavailableError:
    """The error a shard that is down fails its assets with: the shard named, never the
    password."""
    return ShardUnavailableError(
        f"shard {shard} ({endpoint.host}:{endpoint.port}, database {endpoint.database}) "
        f"is unavailable for table {table}: {error}"
    )


class MySqlUrlError(ValueError):
    """A URL that cannot be read. The message names the host at most, never the user or password."""


_SCHEMES = ("mysql", "mariadb", "mysql+pymysql")
_AUTHORITY = re.compile(
    r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9_.-]+))(?::(?P<port>.*))?", re.DOTALL
)
_PORT = re.compile(r"[0-9]{1,5}")
_EXPECTED = "expected mysql://user:password@host:port/database"


def _invalid(reason: str) -> MySqlUrlError:
    return MySqlUrlError(f"MySQL URL: {reason} ({_EXPECTED})")


def _split_url(url: str) -> tuple[str | None, str]:
    """(userinfo, what follows it): split at the last `@`, as no host or database holds one.

    A URL without `://` and a known scheme is refused whole: its text is not quoted.
    """
    scheme, sep, rest = url.strip().partition("://")
    if not sep or scheme.lower() not in _SCHEMES:
        raise MySqlUrlError(f"MySQL URL must start with mysql:// ({_EXPECTED})")
    userinfo, at, after = rest.rpartition("@")
    return (userinfo if at else None), after


def url_password(url: str) -> str:
    """The password of a URL as written (percent-escapes not decoded), "" if it has none;
    whether or not the rest of the URL is valid, so that it can be masked in any message."""
    try:
        userinfo, _ = _split_url(url)
    except MySqlUrlError:
        return ""
    return (userinfo or "").partition(":")[2]


def _authority_and_path(after: str) -> tuple[str, str]:
    """`host:port` and the path up to a query or fragment, from what follows the userinfo."""
    cut = re.search(r"[/?#]", after)
    if cut is None:
        return after, ""
    authority, rest = after[: cut.start()], after[cut.start() :]
    return authority, re.split(r"[?#]", rest, maxsplit=1)[0]


def _host_and_port(authority: str, *, has_userinfo: bool) -> tuple[str, int]:
    """`host[:port]` or `[v6]:port`. The host is named in an error only once it is known to be
    one: after an `@`, and a valid name. Without an `@`, the text may be a user and password."""
    parts = _AUTHORITY.fullmatch(authority)
    if parts is None:
        raise _invalid("the host is missing or not a host name")
    host = parts["v6"] or parts["name"]
    port = parts["port"]
    if not port:
        return host, 3306
    if not _PORT.fullmatch(port) or not 1 <= int(port) <= 65535:
        where = f" of host {host}" if has_userinfo else ""
        raise _invalid(f"the port{where} is not a number from 1 to 65535")
    return host, int(port)


@dataclasses.dataclass(frozen=True)
class MySqlEndpoint:
    host: str
    port: int = 3306
    user: str = "root"
    password: str = dataclasses.field(default="", repr=False)
    database: str | None = None

    @classmethod
    def from_url(cls, url: str, database: str | None = None) -> MySqlEndpoint:
        """Parse `mysql://user:password@host:port/database` (the database part is optional).

        The user and password are what comes before the last `@`, split at their first `:`, so
        a password may hold `/ # ? @ : [ ]` or a space unescaped; percent-escapes are decoded
        (a literal `%` before two hex digits is written `%25`). A query or fragment after the
        database is ignored. Errors are `MySqlUrlError`, and quote nothing before the host.
        """
        userinfo, after = _split_url(url)
        authority, path = _authority_and_path(after)
        host, port = _host_and_port(authority, has_userinfo=userinfo is not None)
        path_db = unquote(path.lstrip("/"))
        if "/" in path_db:
            where = f" on host {host}" if userinfo is not None else ""
            raise _invalid(f"the database{where} is not one name")
        user, _, password = (userinfo or "").partition(":")
        return cls(
            host=host,
            port=port,
            user=unquote(user) or "root",
            password=unquote(password),
            database=database or path_db or None,
        )

    def with_database(self, database: str | None) -> MySqlEndpoint:
        return dataclasses.replace(self, database=database)

    def describe(self) -> str:
        """Where this endpoint points, safe for logs: no password."""
        db = f"/{self.database}" if self.database else ""
        return f"{self.user}@{self.host}:{self.port}{db}"

    def url(self) -> str:
        """The URL again, password included: for child processes' environment only. User,
        password and database are percent-encoded, so `from_url` reads back the same values."""
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        db = "/" + quote(self.database, safe="") if self.database else "/"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"mysql://{auth}@{host}:{self.port}{db}"

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
            raise missing_setting(spec.url_env, f"shard {shard}", "url_env")
        try:
            return MySqlEndpoint.from_url(url, database=spec.database)
        except MySqlUrlError as e:
            raise MySqlUrlError(f"shard {shard}: {spec.url_env}: {e}") from None
    password = ""
    if spec.password_env:
        if spec.password_env not in os.environ:
            raise missing_setting(spec.password_env, f"shard {shard}", "password_env")
        password = os.environ[spec.password_env]
    assert spec.host and spec.user
    return MySqlEndpoint(
        host=spec.host,
        port=spec.port,
        user=spec.user,
        password=password,
        database=spec.database,
    )
