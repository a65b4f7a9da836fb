"""A rule's templates, rendered from one row's fields in Jinja2's sandbox.

The context is the row and nothing else: no globals (`range`, `namespace`, ...), attributes
and methods limited by the immutable sandbox, and a field the row does not have is an error
(StrictUndefined), never an empty string sent to a customer.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, Template
from jinja2.sandbox import ImmutableSandboxedEnvironment


class RenderError(Exception):
    """A template that cannot be rendered from this row; the message says why."""


@functools.cache
def sandbox() -> ImmutableSandboxedEnvironment:
    """The one environment every rule's templates render in."""
    env = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False
    )
    env.globals.clear()
    return env


@functools.lru_cache(maxsize=256)
def compiled(text: str) -> Template:
    return sandbox().from_string(text)


def render(text: str, row: Mapping[str, Any]) -> str:
    """`text` filled from `row`.

    Raises:
        RenderError: a missing field, a sandbox refusal or an error in an expression of the
            template (a division by zero, a filter on a null), with its reason.
    """
    try:
        return compiled(text).render(dict(row))
    except Exception as error:  # a TemplateError, or one raised by the template's expressions
        raise RenderError(f"{type(error).__name__}: {error}") from None
