"""A fix to Dagster's pool waits: a run waiting for a pool slot sleeps instead of spinning."""

from __future__ import annotations

import time


def pace_pool_waits() -> None:
    """Make a run that waits for a pool sleep between its claim checks.

    Dagster's in-process executor asks `interval_to_next_pending_claim_check` how long to sleep;
    in 1.13 it returns `min([0, ...])`, never above 0, so a waiting run spins at 100% CPU. This
    returns the time to the next due check instead (dagster/_core/execution/plan/
    instance_concurrency_context.py). Skipped if that class changes shape.
    """
    try:
        from dagster._core.execution.plan.instance_concurrency_context import (
            InstanceConcurrencyContext,
        )
    except ImportError:
        return
    if getattr(InstanceConcurrencyContext, "_etl_paced", False) or not hasattr(
        InstanceConcurrencyContext, "interval_to_next_pending_claim_check"
    ):
        return

    def interval_to_next_pending_claim_check(self: InstanceConcurrencyContext) -> float:
        if not self._pending_claims:
            return 0.0
        now = time.time()
        return max(0.0, min((t - now for t in self._pending_timeouts.values()), default=0.0))

    InstanceConcurrencyContext.interval_to_next_pending_claim_check = (  # type: ignore[method-assign]
        interval_to_next_pending_claim_check
    )
    InstanceConcurrencyContext._etl_paced = True  # type: ignore[attr-defined]
