"""Errors a step raises for the operator, reported as a Dagster failure with its message."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import dagster as dg

from etl_platform.errors import ColumnMissing, PartitionMissing
from etl_platform.redaction import secrets_redacted


@contextlib.contextmanager
def step_failures() -> Iterator[None]:
    """A missing input partition or column fails the step with the message alone, no retry.
    No error leaves with a configured secret in it (Dagster stores the message)."""
    with secrets_redacted():
        try:
            yield
        except (PartitionMissing, ColumnMissing) as e:
            raise dg.Failure(description=str(e), allow_retries=False) from None
