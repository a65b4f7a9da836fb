"""Errors the steps raise for a run to report as a plain message (no traceback needed)."""

from __future__ import annotations


class PartitionMissing(LookupError):
    """An input partition a step needs is not in the lake: materialize it first."""


class ColumnMissing(LookupError):
    """A lake partition lacks a column a step reads: most likely dropped at the source."""


class SchemaChanged(ValueError):
    """A table's live columns differ from the schema snapshot under `on_schema_change: fail`.

    `drift` is the `schema_drift` metadata, kept for the failure's event.
    """

    def __init__(self, message: str, drift: dict) -> None:
        super().__init__(message)
        self.drift = drift
