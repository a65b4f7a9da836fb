"""Configured secrets kept out of what a run leaves behind: errors, logs and metadata.

No message of the platform holds a password on purpose: an endpoint is logged by `describe()`,
a URL that cannot be parsed is refused without being quoted. This is the second line of
defence, for what a driver or a library puts in its own messages. Every secret the
configuration points at (the `url_env` and `password_env` variables of the shards in
sources.yaml, and `ETL_PLATFORM_REDSHIFT_DSN`) is read from the environment when a message
is made, and masked wherever it appears: as written, percent-encoded, in a repr or in JSON.

- `install_log_redaction()` masks every log record the process makes: Dagster's run log (which
  Dagster stores in run storage and prints to the captured console), and Python logging.
- `secrets_redacted()` masks the error leaving a block: Dagster stores a step's error message
  and those of its causes in run storage. `redacted_step` does it for an asset's whole body and
  masks the metadata of its results too.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import logging
import re
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import quote, quote_plus, unquote

from etl_platform.env import REDSHIFT_DSN_ENV, secret, sources_path
from etl_platform.extract.connection import MySqlEndpoint, url_password

P = ParamSpec("P")
R = TypeVar("R")

MASK = "***"
#: Shorter values are not masked: masking every "ab" would garble every message, and such a
#: value protects nothing.
MIN_SECRET_CHARS = 4


class RedactedError(RuntimeError):
    """Stands in for an error whose text held a secret that could not be masked in place."""


@functools.lru_cache(maxsize=8)
def _secret_variables(path: str, mtime_ns: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The variables sources.yaml names, (url_env, password_env); keyed by the file's mtime so
    an edited file is read again."""
    from etl_platform.specs.errors import SpecError
    from etl_platform.specs.loader import load_sources

    try:
        shards = load_sources(Path(path)).shards.values()
    except (SpecError, OSError):  # an invalid file fails the definitions, by name
        return (), ()
    return (
        tuple(s.url_env for s in shards if s.url_env),
        tuple(s.password_env for s in shards if s.password_env),
    )


def secret_values() -> frozenset[str]:
    """Every configured secret's value, read from the environment now (secrets are set at run
    time, not when the definitions load)."""
    path = sources_path()
    try:
        url_vars, password_vars = _secret_variables(str(path), path.stat().st_mtime_ns)
    except OSError:
        url_vars, password_vars = (), ()
    return _values(
        tuple(secret(v) or "" for v in url_vars),
        tuple(secret(v) or "" for v in password_vars),
        secret(REDSHIFT_DSN_ENV) or "",
    )


@functools.lru_cache(maxsize=32)
def _values(urls: tuple[str, ...], passwords: tuple[str, ...], dsn: str) -> frozenset[str]:
    found = set(passwords)
    for url in urls:
        found |= _url_secrets(url)
    if dsn:
        found |= {dsn.strip(), *_dsn_passwords(dsn)}
    return frozenset(v for v in found if len(v) >= MIN_SECRET_CHARS)


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


def redact(text: str) -> str:
    """`text` with every configured secret masked."""
    pattern = _pattern(secret_values())
    return text if pattern is None else pattern.sub(MASK, text)


def holds_secret(text: str) -> bool:
    pattern = _pattern(secret_values())
    return pattern is not None and pattern.search(text) is not None


# Errors


_TEXT_ATTRIBUTES = ("description", "msg", "message", "strerror", "filename", "filename2")


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error, its causes and contexts (and a group's members), each once."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [error]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack += [current.__cause__, current.__context__]
        if isinstance(current, BaseExceptionGroup):
            stack += current.exceptions


def _only(error: BaseException) -> str:
    """The error's own line(s): its class and message, as a traceback shows them."""
    return "".join(traceback.format_exception_only(error)).strip()


def _mask_in_place(error: BaseException) -> None:
    """Mask the error's arguments and the text attributes its message is made of."""
    error.args = tuple(redact(a) if isinstance(a, str) else a for a in error.args)
    for name in _TEXT_ATTRIBUTES:
        with contextlib.suppress(Exception):  # read-only or computed attributes stay as they are
            value = getattr(error, name, None)
            if isinstance(value, str):
                setattr(error, name, redact(value))
    metadata = getattr(error, "metadata", None)
    if isinstance(metadata, Mapping):
        with contextlib.suppress(Exception):
            error.metadata = redact_metadata(metadata)  # type: ignore[attr-defined]
    notes = getattr(error, "__notes__", None)
    if isinstance(notes, list):
        error.__notes__ = [redact(n) if isinstance(n, str) else n for n in notes]


def _stand_in(error: BaseException) -> RedactedError:
    """A `RedactedError` with the error's masked text, in its place in the chain."""
    safe = RedactedError(redact(_only(error)))
    safe.__cause__, safe.__context__ = error.__cause__, error.__context__
    safe.__suppress_context__ = error.__suppress_context__
    return safe


def _replace_unmasked_links(error: BaseException) -> None:
    """A cause or context whose text still holds a secret (its message is not made of its
    arguments) is replaced by its stand-in."""
    for current in list(_chain(error)):
        suppress = current.__suppress_context__
        if current.__cause__ is not None and holds_secret(_only(current.__cause__)):
            current.__cause__ = _stand_in(current.__cause__)
        if current.__context__ is not None and holds_secret(_only(current.__context__)):
            current.__context__ = _stand_in(current.__context__)
        current.__suppress_context__ = suppress  # setting __cause__ sets it


def redact_exception(error: BaseException) -> BaseException:
    """`error` with every configured secret masked in its text and its causes', in place; or,
    when its own message cannot be masked in place, a `RedactedError` carrying the masked text.
    An error without a secret is returned untouched."""
    if not holds_secret("".join(traceback.format_exception(error))):
        return error
    for current in _chain(error):
        _mask_in_place(current)
    _replace_unmasked_links(error)
    return _stand_in(error) if holds_secret(_only(error)) else error


@contextlib.contextmanager
def secrets_redacted() -> Iterator[None]:
    """No configured secret leaves the block in an error (its message or its causes'). Usable
    as a decorator."""
    try:
        yield
    except Exception as e:
        safe = redact_exception(e)
        if safe is e:
            raise
        raise safe from safe.__cause__  # the original stays out of the chain


# Metadata


def _redact_metadata_value(value: Any) -> Any:
    """A metadata value masked through its serialized form, so any kind of value is covered."""
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, int | float | bool):
        return value
    import dagster as dg

    try:
        text = dg.serialize_value(value)
    except Exception:  # not a value Dagster can store: it refuses it itself
        return value
    masked = redact(text)
    if masked == text:
        return value
    try:
        return dg.deserialize_value(masked)
    except Exception:  # masking broke its JSON: the value goes whole
        return dg.MetadataValue.text(MASK)


def redact_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata with every configured secret masked in its values."""
    return {key: _redact_metadata_value(value) for key, value in metadata.items()}


def _redact_result(result: Any) -> Any:
    """A step's `MaterializeResult` or `AssetCheckResult` with its metadata masked."""
    import dagster as dg

    if isinstance(result, dg.MaterializeResult):
        return result._replace(
            metadata=result.metadata and redact_metadata(result.metadata),
            check_results=[_redact_result(c) for c in result.check_results or []],
        )
    if isinstance(result, dg.AssetCheckResult):
        return result._replace(
            metadata=redact_metadata(result.metadata or {}),
            description=result.description and redact(result.description),
        )
    return result


def redacted_step(body: Callable[P, R]) -> Callable[P, R]:
    """An asset's body whose error and results (their metadata) carry no configured secret.

    Dagster reads the body's parameters through `functools.wraps`; a generator body stays a
    generator, as Dagster tells the two apart.
    """
    if inspect.isgeneratorfunction(body):

        @functools.wraps(body)
        def steps(*args: P.args, **kwargs: P.kwargs) -> Any:
            with secrets_redacted():
                for result in body(*args, **kwargs):  # type: ignore[attr-defined]
                    yield _redact_result(result)

        return steps  # type: ignore[return-value]

    @functools.wraps(body)
    def step(*args: P.args, **kwargs: P.kwargs) -> R:
        with secrets_redacted():
            return _redact_result(body(*args, **kwargs))

    return step


# Logs


class SecretFilter(logging.Filter):
    """Masks configured secrets in a record: its message (arguments merged in), its error and
    its stack. Never drops a record."""

    _busy = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(self._busy, "on", False):  # a record made while reading the configuration
            return True
        self._busy.on = True
        try:
            if _pattern(secret_values()) is not None:
                _mask_record(record)
        finally:
            self._busy.on = False
        return True


def _mask_record(record: logging.LogRecord) -> None:
    """Only a record that holds a secret is changed (its message then merged with its
    arguments, as a handler would have)."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format: the handler reports it, as it would anyway
        return
    masked = redact(message)
    if masked != message:
        record.msg, record.args = masked, ()
    if isinstance(record.exc_info, tuple) and record.exc_info[1] is not None:
        safe = redact_exception(record.exc_info[1])
        record.exc_info = (type(safe), safe, record.exc_info[2])
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


_FILTER = SecretFilter()


def install_log_redaction() -> None:
    """Mask secrets in every log record made in this process from now on (idempotent).

    Through the record factory, because Dagster's run log is a `Logger` of its own, outside the
    logging tree, made anew for every run and step: no filter on a named logger sees its
    records, and they are what Dagster stores and prints. The filter also sits on the root and
    `dagster` loggers, for records made some other way (`logging.makeLogRecord`).
    """
    current = logging.getLogRecordFactory()
    if getattr(current, "masks_secrets", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        _FILTER.filter(record)
        return record

    factory.masks_secrets = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
    for logger in (logging.getLogger(), logging.getLogger("dagster")):
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
