"""Errors the steps raise for a run to report as a plain message (no traceback needed)."""

from __future__ import annotations


class PartitionMissing(LookupError):
    """An input partition a step needs is not in the lake: materialize it first."""
