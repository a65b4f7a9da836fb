"""The run summary: a day of rows is summed over the run; an unpartitioned asset gives its count."""

import datetime as dt

import dagster as dg

from etl_platform.components.partition_metadata import add_daily_metadata, day_row_counts
from etl_platform.partitions import daily_partitions, window_days
from etl_platform.runner import run_range

FIRST, LAST = dt.date(2026, 1, 1), dt.date(2026, 1, 3)
PARTITIONS = daily_partitions(FIRST)
#: Rows each day holds.
DAY_ROWS = {FIRST: 5, dt.date(2026, 1, 2): 7, LAST: 2}


def _asset(name: str, counts: dict[dt.date, int], **kwargs: object) -> dg.AssetsDefinition:
    @dg.asset(name=name, partitions_def=PARTITIONS, **kwargs)
    def _day_counts(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        days = window_days(context.partition_time_window)
        add_daily_metadata(context, day_row_counts({d: counts[d] for d in days}))
        return dg.MaterializeResult()

    return _day_counts


@dg.asset(deps=["orders"])
def customers_state() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"dagster/row_count": 14})


def test_days_are_summed_and_an_unpartitioned_asset_reports_its_count() -> None:
    defs = dg.Definitions(
        assets=[_asset("orders", DAY_ROWS), customers_state],
        jobs=[dg.define_asset_job("both")],
    )
    with dg.DagsterInstance.ephemeral() as instance:
        run = run_range(defs, "both", FIRST, LAST, instance=instance)
    assert run.success
    rows = {o.key: o.rows for o in run.outcomes}
    assert rows == {"orders": sum(DAY_ROWS.values()), "customers_state": 14}
