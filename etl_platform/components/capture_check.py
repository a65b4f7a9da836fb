"""`tables_captured` on each `cdc/<shard>`: fails (blocking, so the alert sensor posts) when
the capture stopped a table on a TRUNCATE, DROP or RENAME it will not apply silently.

The capture reports the failure itself the moment it stops a table (`DagsterReporter`);
running the check from the UI reads the shard's checkpoint for the same answer."""

from __future__ import annotations

import dagster as dg

from etl_platform.asset_keys import capture_asset_key
from etl_platform.cdc.checkpoint import Checkpoint, read_checkpoint
from etl_platform.resources import LakeResource
from etl_platform.specs.sources import SourcesSpec

TABLES_CAPTURED = "tables_captured"


def capture_check_evaluation(shard: str, checkpoint: Checkpoint | None) -> dg.AssetCheckEvaluation:
    stopped = checkpoint.stopped if checkpoint is not None else {}
    return dg.AssetCheckEvaluation(
        asset_key=capture_asset_key(shard),
        check_name=TABLES_CAPTURED,
        passed=not stopped,
        severity=dg.AssetCheckSeverity.ERROR,
        blocking=True,
        description=(
            "; ".join(
                f"{table} stopped: {reason}; re-extract it, then "
                f"`etl-platform cdc resume --shard {shard} --table {table}`"
                for table, reason in sorted(stopped.items())
            )
            or "every `mode: cdc` table is captured"
        ),
        metadata={"stopped_tables": dg.MetadataValue.json(stopped)},
    )


def build_capture_checks(sources: SourcesSpec) -> list[dg.AssetChecksDefinition]:
    return [_capture_check(shard) for shard in sources.shards if sources.cdc_tables(shard)]


def _capture_check(shard: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=capture_asset_key(shard),
        name=TABLES_CAPTURED,
        blocking=True,
        description="No captured table was stopped by a TRUNCATE, DROP or RENAME.",
    )
    def _check(lake: LakeResource) -> dg.AssetCheckResult:
        evaluation = capture_check_evaluation(shard, read_checkpoint(lake.lake().root, shard))
        return dg.AssetCheckResult(
            passed=evaluation.passed,
            severity=evaluation.severity,
            description=evaluation.description,
            metadata=evaluation.metadata,
        )

    return _check
