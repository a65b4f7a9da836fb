"""Errors a step raises for the operator, reported as a Dagster failure with its message."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import dagster as dg

from etl_platform.errors import PartitionMissing


@contextlib.contextmanager
def step_failures() -> Iterator[None]:
    """A missing input partition fails the step with the message alone, no retry."""
    try:
        yield
    except PartitionMissing as e:
        raise dg.Failure(description=str(e), allow_retries=False) from None
