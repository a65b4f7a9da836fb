"""Late commits: the raw condition requests today's partition on every tick, and yesterday's
too until `extract.late_commit_grace` after midnight UTC, each at most once per tick."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pydantic
import pytest

from etl_platform.automation.conditions import RAW_REFRESH, late_commit_crons, raw_refresh
from etl_platform.partitions import daily_partitions, monthly_partitions
from etl_platform.specs.sources import ExtractSettings

UTC = dt.UTC
TODAY = dt.date(2024, 3, 6)
YESTERDAY = TODAY - dt.timedelta(days=1)


def _at(day: dt.date, hour: int, minute: int, second: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


def _asset(condition: dg.AutomationCondition, *, monthly: bool = False) -> dg.AssetsDefinition:
    first = dt.date(2024, 1, 10)

    @dg.asset(
        key=dg.AssetKey(["raw", "shard_00", "orders"]),
        partitions_def=monthly_partitions(first) if monthly else daily_partitions(first),
        automation_condition=condition,
    )
    def _raw() -> None: ...

    return _raw


class _Ticks:
    """Evaluations of one asset's condition in order, each from the previous one's cursor.

    As the daemon does (every 30 s), a request is followed by an evaluation before the next
    cron tick: that evaluation sees the request and marks the tick handled. (Without it Dagster's
    `since_last_handled` would see the request and the next tick at once and let the request
    win, for `on_cron` as much as for these conditions.)"""

    def __init__(self, asset: dg.AssetsDefinition, instance: dg.DagsterInstance) -> None:
        self.asset, self.instance, self.cursor = asset, instance, None

    def at(self, when: dt.datetime) -> set[str]:
        result = dg.evaluate_automation_conditions(
            defs=[self.asset],
            instance=self.instance,
            evaluation_time=when,
            cursor=self.cursor,
        )
        self.cursor = result.cursor
        return set(result.get_requested_partitions(self.asset.key))


def test_yesterday_is_reread_within_the_grace_and_each_day_once_per_tick() -> None:
    with dg.instance_for_test() as instance:
        ticks = _Ticks(_asset(raw_refresh(dt.timedelta(hours=2))), instance)
        assert ticks.at(_at(YESTERDAY, 23, 50)) == set()  # first evaluation: no tick passed yet
        # the first tick of the day: the new day and the one that just ended
        assert ticks.at(_at(TODAY, 0, 5)) == {str(TODAY), str(YESTERDAY)}
        # the same tick again: nothing
        assert ticks.at(_at(TODAY, 0, 6)) == set()
        assert ticks.at(_at(TODAY, 0, 14, 59)) == set()
        # the next tick: both again, once
        assert ticks.at(_at(TODAY, 0, 15, 30)) == {str(TODAY), str(YESTERDAY)}
        assert ticks.at(_at(TODAY, 0, 16)) == set()
        # the last tick within the 2h grace
        assert ticks.at(_at(TODAY, 1, 45, 10)) == {str(TODAY), str(YESTERDAY)}
        assert ticks.at(_at(TODAY, 1, 46)) == set()
        # past the grace: today only
        assert ticks.at(_at(TODAY, 2, 0, 10)) == {str(TODAY)}
        assert ticks.at(_at(TODAY, 2, 1)) == set()
        assert ticks.at(_at(TODAY, 3, 0, 10)) == {str(TODAY)}


def test_past_the_grace_only_today() -> None:
    with dg.instance_for_test() as instance:
        ticks = _Ticks(_asset(raw_refresh(dt.timedelta(hours=2))), instance)
        assert ticks.at(_at(TODAY, 2, 50)) == set()
        assert ticks.at(_at(TODAY, 3, 0, 5)) == {str(TODAY)}
        assert ticks.at(_at(TODAY, 3, 1)) == set()


def test_no_grace_is_today_only() -> None:
    assert raw_refresh(dt.timedelta(0)) is RAW_REFRESH
    with dg.instance_for_test() as instance:
        ticks = _Ticks(_asset(raw_refresh(dt.timedelta(0))), instance)
        assert ticks.at(_at(YESTERDAY, 23, 50)) == set()
        assert ticks.at(_at(TODAY, 0, 5)) == {str(TODAY)}
        assert ticks.at(_at(TODAY, 0, 6)) == set()


def test_a_grace_that_is_not_whole_hours() -> None:
    with dg.instance_for_test() as instance:
        ticks = _Ticks(_asset(raw_refresh(dt.timedelta(minutes=20))), instance)
        assert ticks.at(_at(YESTERDAY, 23, 50)) == set()
        assert ticks.at(_at(TODAY, 0, 1)) == {str(TODAY), str(YESTERDAY)}
        assert ticks.at(_at(TODAY, 0, 2)) == set()
        assert ticks.at(_at(TODAY, 0, 16)) == {str(TODAY), str(YESTERDAY)}  # 00:15 < 00:20
        assert ticks.at(_at(TODAY, 0, 17)) == set()
        assert ticks.at(_at(TODAY, 0, 31)) == {str(TODAY)}  # 00:30 is past it


@pytest.mark.parametrize(
    ("grace", "crons"),
    [
        (dt.timedelta(0), []),
        (dt.timedelta(hours=2), ["*/15 0-1 * * *"]),
        (dt.timedelta(minutes=90), ["*/15 0-0 * * *", "0-29/15 1 * * *"]),
        (dt.timedelta(minutes=15), ["0-14/15 0 * * *"]),
        (dt.timedelta(minutes=16), ["0-15/15 0 * * *"]),
        (dt.timedelta(days=1), ["*/15 * * * *"]),
    ],
)
def test_late_commit_crons(grace: dt.timedelta, crons: list[str]) -> None:
    assert late_commit_crons(grace) == crons


def test_the_setting() -> None:
    assert ExtractSettings().late_commit_grace_delta == dt.timedelta(hours=2)
    assert ExtractSettings(late_commit_grace="90m").late_commit_grace_delta == dt.timedelta(
        minutes=90
    )
    assert ExtractSettings(late_commit_grace=0).late_commit_grace_delta == dt.timedelta(0)
    for bad in ("2 hours", "2d", -1):
        with pytest.raises(pydantic.ValidationError, match="late_commit_grace"):
            ExtractSettings(late_commit_grace=bad)


def test_a_monthly_table_rereads_the_previous_month_only_in_the_grace_of_the_first() -> None:
    """Monthly partitions: every tick reads the current month; the previous month is read again
    only on the first of a month until the grace ends (a row committed after midnight with a
    cursor on the last day of the month)."""
    first, mid = dt.date(2024, 3, 1), dt.date(2024, 3, 15)
    with dg.instance_for_test() as instance:
        ticks = _Ticks(
            _asset(raw_refresh(dt.timedelta(hours=2), monthly=True), monthly=True), instance
        )
        assert ticks.at(_at(dt.date(2024, 2, 29), 23, 50)) == set()
        assert ticks.at(_at(first, 0, 5)) == {"2024-03-01", "2024-02-01"}
        assert ticks.at(_at(first, 0, 6)) == set()
        assert ticks.at(_at(first, 1, 45, 10)) == {"2024-03-01", "2024-02-01"}
        assert ticks.at(_at(first, 1, 46)) == set()
        assert ticks.at(_at(first, 2, 0, 10)) == {"2024-03-01"}
        assert ticks.at(_at(first, 2, 1)) == set()
        assert ticks.at(_at(mid, 0, 5)) == {"2024-03-01"}  # not the 1st: this month only
        assert ticks.at(_at(mid, 0, 6)) == set()
