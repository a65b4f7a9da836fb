"""The configured secrets' values, and how to mask them in a text.

Read from the environment when a message is made, not when the definitions load: secrets are
set at run time. Masked however a library spells them: as written, percent-encoded, in a repr
or in JSON.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote, urlsplit

from etl_platform.env import (
    ALERT_WEBHOOK_URL_ENV,
    NOTIFY_LEDGER_URL_ENV,
    REDSHIFT_DSN_ENV,
    secret,
    sources_path,
)
from etl_platform.extract.connection import MySqlEndpoint, url_password
from etl_platform.redaction.channel_secrets import channel_variables

MASK = "***"
#: Shorter values are not masked: masking every "ab" would garble every message, and such a
#: value protects nothing.
MIN_SECRET_CHARS = 4


@functools.lru_cache(maxsize=8)
def _secret_variables(path: str, mtime_ns: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The variables sources.yaml names, (url_env, password_env and the providers' auth_env);
    keyed by the file's mtime so an edited file is read again."""
    from etl_platform.specs.errors import SpecError
    from etl_platform.specs.loader import load_sources

    try:
        sources = load_sources(Path(path))
    except (SpecError, OSError):  # an invalid file fails the definitions, by name
        return (), ()
    shards = sources.shards.values()
    tokens = [p.auth_env for p in sources.providers.values() if p.auth_env]
    return (
        tuple(s.url_env for s in shards if s.url_env),
        (*(s.password_env for s in shards if s.password_env), *tokens),
    )


def secret_values() -> frozenset[str]:
    """Every configured secret's value, read from the environment now (secrets are set at run
    time, not when the definitions load)."""
    path = sources_path()
    try:
        url_vars, password_vars = _secret_variables(str(path), path.stat().st_mtime_ns)
    except OSError:
        url_vars, password_vars = (), ()
    channel_urls, channel_secrets = channel_variables()
    return _values(
        (*(secret(v) or "" for v in url_vars), secret(NOTIFY_LEDGER_URL_ENV) or ""),
        tuple(secret(v) or "" for v in (*password_vars, *channel_secrets)),
        secret(REDSHIFT_DSN_ENV) or "",
        secret(ALERT_WEBHOOK_URL_ENV) or "",
        tuple(secret(v) or "" for v in channel_urls),
    )


@functools.lru_cache(maxsize=32)
def _values(
    urls: tuple[str, ...],
    passwords: tuple[str, ...],
    dsn: str,
    webhook: str = "",
    webhooks: tuple[str, ...] = (),
) -> frozenset[str]:
    """The values to mask: passwords as they are, the database URLs' passwords (and the URL
    when it does not parse), webhook URLs whole."""
    found = set(passwords)
    # An Authorization value is quoted without its scheme as often as with it.
    found |= {rest for p in passwords if (rest := _without_scheme(p)) is not None}
    for url in (webhook, *webhooks):
        if url.strip():
            found |= webhook_url_secrets(url)
    for url in urls:
        found |= _url_secrets(url)
    if dsn:
        found |= {dsn.strip(), *_dsn_passwords(dsn)}
    return frozenset(v for v in found if len(v) >= MIN_SECRET_CHARS)


def webhook_url_secrets(url: str) -> set[str]:
    """The URL and each credential-bearing part of it (path, query, user info), as written and
    decoded: any of them may turn up in a library's message."""
    url = url.strip()
    found = {url, unquote(url)}
    try:
        parts = urlsplit(url)
    except ValueError:
        return found
    for part in (parts.path, parts.query, parts.fragment, parts.netloc.rpartition("@")[0]):
        if part.strip("/"):
            found |= {part, unquote(part)}
    return {v for v in found if len(v) > 1}


def _without_scheme(value: str) -> str | None:
    """`xyz` of `Bearer xyz` (Basic, Token too); None for any other value."""
    scheme, _, rest = value.strip().partition(" ")
    return rest.strip() if scheme.lower() in {"bearer", "basic", "token"} and rest else None


def _url_secrets(url: str) -> set[str]:
    """A URL's password, raw and decoded, and the URL itself. A URL that does not parse may
    hold its password anywhere after `://`: that text, and what follows its first `:`, too."""
    raw = url_password(url)
    found = {raw, unquote(raw)}
    try:
        MySqlEndpoint.from_url(url)
    except ValueError:
        after = url.strip().partition("://")[2]
        found |= {url.strip(), after, after.partition(":")[2]}
    else:
        if raw:
            found.add(url.strip())
    return found


def _dsn_passwords(dsn: str) -> set[str]:
    """The password of a PostgreSQL DSN, as a URL (raw and decoded) or as `key=value` pairs."""
    found = set()
    if "://" in dsn:
        raw = dsn.strip().partition("://")[2].rpartition("@")[0].partition(":")[2]
        found |= {raw, unquote(raw)}
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        password = conninfo_to_dict(dsn).get("password")
    except psycopg.Error:
        password = None
    if password:
        found.add(str(password))
    return found


def _spellings(value: str) -> set[str]:
    """How a value may be written out: as is, percent-encoded, inside a repr or JSON."""
    return {
        value,
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        repr(value)[1:-1],
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    }


@functools.lru_cache(maxsize=32)
def _pattern(values: frozenset[str]) -> re.Pattern[str] | None:
    """One regex for every spelling, longest first, so a URL is masked whole."""
    spellings = sorted({s for value in values for s in _spellings(value)}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, spellings))) if spellings else None


def secrets_configured() -> bool:
    """Whether any secret is set now: with none, a log record need not be looked at."""
    return _pattern(secret_values()) is not None


def redact(text: str) -> str:
    """`text` with every configured secret masked."""
    pattern = _pattern(secret_values())
    return text if pattern is None else pattern.sub(MASK, text)


def holds_secret(text: str) -> bool:
    pattern = _pattern(secret_values())
    return pattern is not None and pattern.search(text) is not None
