"""What the command prints instead of a traceback: config problems, a stopped run."""

from __future__ import annotations

from etl_platform.specs.errors import SpecError, SpecErrors


def config_error(exc: BaseException) -> SpecError | SpecErrors | None:
    """The config problems behind `exc`, if that is what it is.

    Dagster's component loader wraps a spec's error in its own (`ComponentTreeException`, with
    the component tree drawn), so the chain is searched, not just `exc`.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, SpecError | SpecErrors):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
