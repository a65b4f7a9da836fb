"""A run's progress from its events: the plain line per step, the live display, and what a run
feeds them; the failed checks `etl-platform run` prints."""

from __future__ import annotations

import datetime as dt
import io
import re

import dagster as dg
import pytest
from dagster._core.events import ComputeLogsCaptureData, StepMaterializationData
from dagster._core.execution.plan.objects import StepFailureData, StepSuccessData
from dagster_shared.error import SerializableErrorInfo
from rich.console import Console

from etl_platform.cli.check_report import check_lines
from etl_platform.cli.progress import LiveProgress, PlainProgress, run_progress
from etl_platform.cli.step_tracker import StepTracker
from etl_platform.runner import FailedCheck, RunPlan, run_range

T = dg.DagsterEventType
PLAN = RunPlan(
    run_id="r1",
    job_name="etl_all",
    first=dt.date(2025, 3, 1),
    last=dt.date(2025, 3, 2),
    steps={
        "raw__shard_03__orders": ("raw/shard_03/orders",),
        "state__shard_03__customers": ("state/shard_03/customers",),
        "view__v": ("views/v", "views/v__rejects"),
        "athena__v": ("athena/v",),
    },
    unpartitioned=frozenset({"state/shard_03/customers"}),
)


def _event(kind: dg.DagsterEventType, step: str | None, at: float, data: object = None):
    event = dg.DagsterEvent(
        event_type_value=kind.value, job_name="etl_all", step_key=step, event_specific_data=data
    )
    return dg.EventLogEntry(
        error_info=None,
        level=10,
        user_message="",
        run_id="r1",
        timestamp=at,
        step_key=step,
        job_name="etl_all",
        dagster_event=event,
    )


def _day(step: str, asset: str, day: str | None, rows: int, at: float):
    mat = dg.AssetMaterialization(
        asset_key=dg.AssetKey.from_user_string(asset),
        partition=day,
        metadata={"dagster/row_count": rows},
    )
    return _event(T.ASSET_MATERIALIZATION, step, at, StepMaterializationData(mat))


def _failure(step: str, at: float):
    user = SerializableErrorInfo("LookupError: shard_03 is down\nmore", [], "LookupError")
    wrapper = SerializableErrorInfo(
        "Error in user code", [], "DagsterExecutionStepExecutionError", user
    )
    return _event(T.STEP_FAILURE, step, at, StepFailureData(wrapper, None))


EVENTS = [
    _event(T.LOGS_CAPTURED, None, 0.0, ComputeLogsCaptureData("f", list(PLAN.steps))),
    _event(T.STEP_START, "raw__shard_03__orders", 1.0),
    _day("raw__shard_03__orders", "raw/shard_03/orders", "2025-03-01", 10_000, 3.0),
    _day("raw__shard_03__orders", "raw/shard_03/orders", "2025-03-02", 10_412, 3.1),
    _event(T.STEP_SUCCESS, "raw__shard_03__orders", 4.1, StepSuccessData(3100.0)),
    _event(T.STEP_START, "state__shard_03__customers", 4.2),
    _day("state__shard_03__customers", "state/shard_03/customers", None, 95, 4.4),
    _event(T.STEP_SUCCESS, "state__shard_03__customers", 4.5, StepSuccessData(300.0)),
    _event(T.STEP_START, "view__v", 5.0),
    _day("view__v", "views/v", "2025-03-02", 7, 5.5),
    _day("view__v", "views/v__rejects", "2025-03-02", 1, 5.6),
    _failure("view__v", 6.0),
]


def test_plain_mode_prints_one_line_per_finished_step() -> None:
    out = io.StringIO()
    progress = PlainProgress(out)
    progress.run_started(PLAN)
    for event in EVENTS:
        progress.on_event(event)
    progress.run_ended()
    assert out.getvalue().splitlines() == [
        "run r1: etl_all, 4 steps, 2025-03-01 .. 2025-03-02",
        "[1/4] raw/shard_03/orders 2025-03-01..2025-03-02 20,412 rows 3.1 s",
        "[2/4] state/shard_03/customers 0.3 s",
        "[3/4] FAILED views/v 2025-03-02 7 rows 1.0 s: LookupError: shard_03 is down",
        "[4/4] not run athena/v: a step it needs did not succeed",
    ]


def test_the_tracker_counts_steps_partitions_rows_and_time_left() -> None:
    now = [0.0]
    tracker = StepTracker(PLAN, clock=lambda: now[0])
    for event in EVENTS[:8]:
        tracker.on_event(event)
    now[0] = 10.0
    progress = tracker.progress()
    assert (progress.steps_done, progress.steps_total) == (2, 4)
    assert (progress.partitions_done, progress.partitions_total) == (3, 9)  # 4 assets x 2 days + 1
    assert progress.rows == 20_412  # the state's count is its size, not rows written
    assert progress.running == ()
    done = (2 / 4 + 3 / 9) / 2
    assert progress.seconds_left == pytest.approx(10 * (1 - done) / done)
    tracker.on_event(EVENTS[8])
    assert tracker.progress().running == ("views/v",)


def test_the_live_display_draws_on_a_terminal_and_prints_failures() -> None:
    out = io.StringIO()
    progress = LiveProgress(Console(file=out, force_terminal=True, width=120))
    progress.run_started(PLAN)
    for event in EVENTS:
        progress.on_event(event)
    progress.run_ended()
    text = out.getvalue()
    assert "partitions" in text and "rows" in text and "left" in text
    assert "[3/4] FAILED views/v 2025-03-02 7 rows 1.0 s: LookupError: shard_03 is down" in text
    assert "[4/4] not run athena/v" in text
    assert "[1/4] raw/shard_03/orders" not in text  # steps that went well only move the bar


def test_off_a_terminal_the_display_is_plain(capsys: pytest.CaptureFixture) -> None:
    with run_progress() as progress:
        assert isinstance(progress, PlainProgress)
        progress.run_started(PLAN)
    assert capsys.readouterr().out.startswith("run r1: etl_all, 4 steps")


DAYS = dg.DailyPartitionsDefinition(start_date="2025-03-01")


@dg.asset(
    partitions_def=DAYS,
    check_specs=[
        dg.AssetCheckSpec("reject_ratio", asset=dg.AssetKey(["views", "v"]), blocking=True)
    ],
    key=["views", "v"],
)
def _view():
    yield dg.MaterializeResult(metadata={"dagster/row_count": 5})
    yield dg.AssetCheckResult(
        check_name="reject_ratio",
        passed=False,
        metadata={"rejected": 15, "rows_in": 802, "ratio": 15 / 802, "max_reject_ratio": 0.01},
    )


@dg.asset(
    partitions_def=DAYS,
    deps=[_view],
    key=["athena", "v"],
)
def _athena() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"dagster/row_count": 5})


def test_a_run_feeds_its_observer_and_reports_its_failed_checks() -> None:
    defs = dg.Definitions(assets=[_view, _athena], jobs=[dg.define_asset_job("all")])
    out = io.StringIO()
    with dg.instance_for_test() as instance:
        run = run_range(
            defs,
            "all",
            dt.date(2025, 3, 1),
            dt.date(2025, 3, 3),
            instance=instance,
            observer=PlainProgress(out),
        )
    lines = out.getvalue().splitlines()
    assert re.fullmatch(
        r"\[1/2\] FAILED views/v 2025-03-01\.\.2025-03-03 15 rows [\d.]+ s: "
        "a blocking check failed",
        lines[1],
    )
    assert lines[2:] == ["[2/2] not run athena/v: a step it needs did not succeed"]
    (check,) = run.failed_checks
    assert (check.asset, check.name, check.blocking) == (
        dg.AssetKey(["views", "v"]),
        "reject_ratio",
        True,
    )
    assert check_lines(
        check, first=dt.date(2025, 3, 1), last=dt.date(2025, 3, 3), duckdb_file="lake.duckdb"
    ) == [
        "  FAILED views/v reject_ratio: 1.87% > 1.00% (15 of 802 rows rejected)",
        "    the rows kept aside: views/v__rejects, e.g. the most common reasons:",
        "    .venv/bin/python -c \"import duckdb; duckdb.connect('lake.duckdb', read_only=True)"
        '.sql(\\"SELECT reason, count(*) AS rows FROM v__rejects WHERE updated_at BETWEEN '
        "DATE '2025-03-01' AND DATE '2025-03-03' GROUP BY 1 ORDER BY 2 DESC LIMIT 20\\\")"
        '.show()"',
    ]


def test_other_failed_checks_show_their_metadata() -> None:
    check = FailedCheck(
        dg.AssetKey(["views", "v"]), "unique_key_unique", True, {"duplicate_rows": 3, "key": ["id"]}
    )
    assert check_lines(
        check, first=dt.date(2025, 3, 1), last=dt.date(2025, 3, 1), duckdb_file="x"
    ) == ['  FAILED views/v unique_key_unique: duplicate_rows 3, key ["id"]']
    warn = FailedCheck(dg.AssetKey(["views", "v"]), "all_shards_present", False, {"missing": {}})
    assert check_lines(
        warn, first=dt.date(2025, 3, 1), last=dt.date(2025, 3, 1), duckdb_file="x"
    ) == ["  WARN views/v all_shards_present: missing {}"]
