import datetime as dt
import gc

import dagster as dg

from etl_platform.runner import run_range

DAY = dt.date(2024, 1, 2)


def test_a_run_keeps_the_heap_before_it_out_of_the_collector_and_gives_it_back() -> None:
    """The objects alive before the run are frozen while it runs (GC passes skip them) and
    collectable again afterwards, whether the run succeeds or fails."""
    seen: dict[str, int] = {}
    partitions = dg.DailyPartitionsDefinition(start_date="2024-01-01")

    @dg.asset(partitions_def=partitions)
    def counted() -> None:
        seen["frozen"] = gc.get_freeze_count()

    @dg.asset(partitions_def=partitions)
    def failing() -> None:
        raise RuntimeError("boom")

    defs = dg.Definitions(
        assets=[counted, failing],
        jobs=[
            dg.define_asset_job("ok", selection=[counted]),
            dg.define_asset_job("bad", selection=[failing]),
        ],
    )
    before = gc.get_freeze_count()
    with dg.DagsterInstance.ephemeral() as instance:
        run = run_range(defs, "ok", DAY, DAY, instance=instance)
        assert run.success
        assert seen["frozen"] > before
        assert gc.get_freeze_count() == 0
        failed = run_range(defs, "bad", DAY, DAY, instance=instance)
        assert not failed.success
        assert [o.error for o in failed.outcomes] == ["RuntimeError: boom"]
        assert gc.get_freeze_count() == 0


def test_a_heap_someone_else_froze_stays_frozen() -> None:
    """A host that froze its heap (before forking workers) keeps it frozen: unfreezing after
    the run would thaw theirs too."""
    partitions = dg.DailyPartitionsDefinition(start_date="2024-01-01")

    @dg.asset(partitions_def=partitions)
    def noop() -> None:
        pass

    defs = dg.Definitions(assets=[noop], jobs=[dg.define_asset_job("ok", selection=[noop])])
    gc.freeze()
    try:
        assert gc.get_freeze_count() > 0
        with dg.DagsterInstance.ephemeral() as instance:
            assert run_range(defs, "ok", DAY, DAY, instance=instance).success
        # Still frozen (a few of those objects may have been freed meanwhile): not thawed.
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
