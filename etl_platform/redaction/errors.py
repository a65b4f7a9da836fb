"""Secrets masked in what a step leaves in run storage: its error (message, causes, notes) and
its results' metadata. A driver's error may quote a URL it was given, password and all."""

from __future__ import annotations

import contextlib
import functools
import inspect
import traceback
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ParamSpec, TypeVar

from etl_platform.redaction.secrets import MASK, holds_secret, redact

P = ParamSpec("P")
R = TypeVar("R")


class RedactedError(RuntimeError):
    """Stands in for an error whose text held a secret that could not be masked in place."""


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
