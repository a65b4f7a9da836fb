"""The `providers:` map of `sources.yaml`: external HTTP APIs whose volatile data some views
wait for (docs/providers.md).

A provider's token is named by `auth_env` and read from the environment when its asset runs,
never from the file: the URL may not carry credentials either (no `user:pass@`, no
`token=`-like query parameter), so the URL can be shown in metadata and errors as written.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import parse_qsl, urlsplit

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator

from etl_platform.identifiers import IdentifierError, validate_identifier
from etl_platform.specs.types import parse_type_name

#: Query parameter names that hold a credential: refused in a provider's URL.
_SECRET_PARAM = re.compile(
    r"(token|secret|password|passwd|pwd|api[_-]?key|apikey|key|auth|signature|sig|session)",
    re.IGNORECASE,
)
_CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z?LW#]+$")
_PATH_SEGMENT = re.compile(r"^[A-Za-z0-9_\-$@]+$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")  # an HTTP token (RFC 9110)
#: The header that carries the token unless `auth_header` says otherwise.
DEFAULT_AUTH_HEADER = "Authorization"


def _identifier(value: str) -> str:
    # specs.sources.Identifier cannot be imported here: sources.py imports this module.
    try:
        return validate_identifier(value)
    except IdentifierError as e:
        raise ValueError(str(e)) from None


_Name = Annotated[str, pydantic.AfterValidator(_identifier)]


def _body_path(value: str) -> str:
    """A dot-separated path of object keys into a page's JSON body (`data.items`)."""
    if not value or not all(_PATH_SEGMENT.match(p) for p in value.split(".")):
        raise ValueError(f"bad body path {value!r}: use dot-separated object keys, e.g. data.items")
    return value


BodyPath = Annotated[str, pydantic.AfterValidator(_body_path)]


def _cron(value: str) -> str:
    fields = value.split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        raise ValueError(f"{value!r} is not a cron expression (five fields, e.g. */15 * * * *)")
    return value


def _type_name(value: str) -> str:
    parse_type_name(value)  # raises ValueError naming the type and the supported ones
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NextUrlPaging(_Strict):
    """`style: next_url`: each page's body holds the next page's URL at `next` (absolute, or
    relative to the page's URL); a missing, null or empty value ends the read. The next URL
    must stay on the provider's scheme, host and port: the token is never sent elsewhere."""

    style: Literal["next_url"] = "next_url"
    next: BodyPath = "next"


class PageNumberPaging(_Strict):
    """`style: page`: `?page=1&per_page=100`, then 2, 3...; an empty page ends the read (a
    server may cap a page below `size`, so a short page is not taken as the last)."""

    style: Literal["page"]
    page_param: str = Field(default="page", min_length=1)
    size_param: str = Field(default="per_page", min_length=1)
    size: int = Field(default=100, ge=1, le=10_000)
    first_page: int = Field(default=1, ge=0)


Paging = Annotated[NextUrlPaging | PageNumberPaging, Field(discriminator="style")]


class ProviderRetry(_Strict):
    """Retries of one request (a page), not of the whole read: 5xx, 429, timeouts and refused
    or dropped connections are retried after `backoff_seconds * 2**attempt` (at most
    `max_backoff_seconds`, or the server's `Retry-After` when it asks for longer, within
    that cap); any other 4xx fails at once."""

    max_retries: int = Field(default=3, ge=0, le=10)
    backoff_seconds: float = Field(default=1.0, ge=0, le=300)
    max_backoff_seconds: float = Field(default=60.0, ge=0, le=3_600)


class ProviderSpec(_Strict):
    """One external API read whole on each refresh into `<lake>/providers/<name>/data.parquet`
    (asset `providers/<name>`), which views wait for with `refresh: [<name>]`."""

    url: str
    description: str = ""
    #: The variable holding the header's value (e.g. `Bearer abc...`); none: no auth header.
    auth_env: str | None = None
    auth_header: str = DEFAULT_AUTH_HEADER
    #: Where the records list is in each page's body; null: the body itself is the list.
    items: BodyPath | None = "items"
    pagination: Paging = NextUrlPaging()
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    retry: ProviderRetry = ProviderRetry()
    max_pages: int = Field(default=1_000, ge=1, le=1_000_000)
    primary_key: list[_Name] = Field(min_length=1)
    #: Record key -> spec type (`int64`, `decimal(5,2)`, `timestamp`...): only these are kept,
    #: and a value that does not fit fails the read. Without it, every top-level key is kept
    #: with the type polars infers.
    columns: dict[_Name, Annotated[str, pydantic.AfterValidator(_type_name)]] | None = None
    #: When automation refreshes it (UTC); views that wait for it are rebuilt afterwards.
    refresh_cron: Annotated[str, pydantic.AfterValidator(_cron)] = "*/15 * * * *"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url {value!r}: give an http:// or https:// URL with a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError(
                "url: credentials in the URL are refused: put the token in the environment "
                "variable named by auth_env"
            )
        secret = [
            k for k, _ in parse_qsl(parts.query, keep_blank_values=True) if _SECRET_PARAM.search(k)
        ]
        if secret:
            raise ValueError(
                f"url: query parameter(s) {secret} look like credentials: send the token in "
                "the header named by auth_header, its value in the variable named by auth_env"
            )
        if parts.fragment:
            raise ValueError(f"url {value!r}: a fragment (#...) means nothing to the server")
        return value

    @field_validator("auth_header")
    @classmethod
    def _header(cls, value: str) -> str:
        if not _HEADER_NAME.match(value):
            raise ValueError(f"auth_header {value!r} is not an HTTP header name")
        return value

    @field_validator("auth_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", value):
            raise ValueError(
                f"auth_env {value!r} is not an environment variable name: name the variable "
                "that holds the token, not the token"
            )
        return value

    @pydantic.model_validator(mode="after")
    def _keys_kept(self) -> ProviderSpec:
        if self.columns is not None:
            missing = [k for k in self.primary_key if k not in self.columns]
            if missing:
                raise ValueError(f"primary_key {missing} must be among columns")
        return self
