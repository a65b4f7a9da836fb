"""What is built from all of a view's days follows any day that lands, even when most days
since the start were never built (a view built for its recent days only)."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from etl_platform.automation.conditions import WHOLE_REFRESH

DAYS = dg.DailyPartitionsDefinition(start_date="2026-11-01")


@dg.asset(key=["views", "v"], partitions_def=DAYS)
def _view() -> None:
    """A daily view."""


@dg.asset(key=["views", "v__current"], deps=[_view], automation_condition=WHOLE_REFRESH)
def _current() -> None:
    """Built from all of the view's days."""


def test_a_landed_day_requests_the_whole_asset_once_despite_missing_days() -> None:
    defs = dg.Definitions(assets=[_view, _current])
    now = dt.datetime(2026, 12, 7, 10, tzinfo=dt.UTC)
    requested = []
    with dg.instance_for_test() as instance:
        cursor = None
        for step in range(4):
            if step in (1, 3):  # a recent day of the view lands; 30 older days never do
                dg.materialize([_view], instance=instance, partition_key="2026-12-06")
            result = dg.evaluate_automation_conditions(
                defs,
                instance,
                asset_selection=dg.AssetSelection.assets(_current),
                evaluation_time=now + dt.timedelta(minutes=step),
                cursor=cursor,
            )
            requested.append(result.total_requested)
            cursor = result.cursor
            if result.total_requested:
                dg.materialize([_current], instance=instance)
    # Nothing before a day lands; then once per day that lands, never twice for one.
    assert requested == [0, 1, 0, 1]
