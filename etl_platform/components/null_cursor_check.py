"""The `null_cursor_rows` check on every raw asset: fails when a shard's NULL-cursor rows grew.

Severity WARN, not blocking. The read is still complete by its rule (rows with a cursor are all
in their days; NULL-cursor rows are counted, and kept aside or placed by the fallback), and the
views downstream are right for what they read. The growth is the source application writing
rows without a cursor: someone has to look at it, but holding back every view of the table
would not help them.
"""

from __future__ import annotations

import dagster as dg

#: The check's name, and the metadata key the count is kept under on every materialization.
NULL_CURSOR_ROWS = "null_cursor_rows"


def null_cursor_check_spec(key: dg.AssetKey) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        NULL_CURSOR_ROWS,
        asset=key,
        description="Rows whose cursor is NULL did not grow since the previous materialization.",
        blocking=False,
    )


def previous_null_cursor_rows(instance: dg.DagsterInstance, key: dg.AssetKey) -> int | None:
    """The count the latest materialization recorded (any day: the count is the table's)."""
    event = instance.get_latest_materialization_event(key)
    materialization = event.asset_materialization if event is not None else None
    value = materialization.metadata.get(NULL_CURSOR_ROWS) if materialization else None
    return None if value is None else int(value.value)


def grew(previous: int | None, current: int) -> bool:
    """Growth since the last count; a first count (or one from before counting) is no growth."""
    return previous is not None and current > previous


def null_cursor_check_result(
    key: dg.AssetKey, *, previous: int | None, current: int, rule: str
) -> dg.AssetCheckResult:
    metadata: dict[str, object] = {NULL_CURSOR_ROWS: current, "rule": rule}
    if previous is not None:
        metadata["previous_null_cursor_rows"] = previous
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=NULL_CURSOR_ROWS,
        passed=not grew(previous, current),
        severity=dg.AssetCheckSeverity.WARN,
        metadata=metadata,
    )
