"""The capture as Dagster sees it: runless materializations of the raw days it adds to (which
the views' automation follows, as it follows a batch extract) and of its `cdc/<shard>` asset
(lag, position, events/s).

Runless events rather than a sensor: the capture knows the moment a day changed, and a
sensor would only poll the lake for what the capture already knows, a tick later.
"""

from __future__ import annotations

import datetime as dt
import time

import dagster as dg

from etl_platform.asset_keys import capture_asset_key, raw_asset_key
from etl_platform.cdc.capture import FlushReport
from etl_platform.cdc.checkpoint import Checkpoint
from etl_platform.components.capture_check import capture_check_evaluation

#: Raw days are reported at most this often (each report is a stored event per day).
REPORT_SECONDS = 10.0
#: An idle shard's capture says it is caught up this often: what keeps `cdc/<shard>` fresh,
#: so a capture that stalls or dies shows as stale (its freshness policy) and alerts.
IDLE_REPORT_SECONDS = 60.0


class DagsterReporter:
    """Reports flushes to a Dagster instance, a raw day at most once per `every` seconds."""

    def __init__(
        self,
        instance: dg.DagsterInstance,
        *,
        every: float = REPORT_SECONDS,
        idle_every: float = IDLE_REPORT_SECONDS,
    ) -> None:
        self.instance = instance
        self.every = every
        self.idle_every = idle_every
        self._due: dict[tuple[str, str, dt.date], int] = {}
        self._last = 0.0
        self._rows = 0
        self._latest: FlushReport | None = None

    def __call__(self, report: FlushReport) -> None:
        for table, days in report.touched.items():
            for day in days:
                key = (report.shard, table, day)
                self._due[key] = self._due.get(key, 0) + 1
        self._rows += report.rows
        self._latest = report
        if time.monotonic() - self._last >= self.every:
            self.flush()

    def confirmed(self, shard: str, checkpoint: Checkpoint) -> None:
        """An idle shard is caught up: reported now and then, with its lag."""
        if time.monotonic() - self._last < self.idle_every:
            return
        lag = dt.datetime.now(dt.UTC) - (checkpoint.confirmed_at or dt.datetime.now(dt.UTC))
        self.instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key=capture_asset_key(shard),
                description="caught up (idle)",
                metadata=_capture_metadata(checkpoint, lag.total_seconds(), 0.0, 0, 0),
            )
        )
        self._last = time.monotonic()

    def stopped(self, shard: str, checkpoint: Checkpoint) -> None:
        """A table was stopped: its shard's `tables_captured` check fails now, which the
        alert sensor posts (once: it follows check evaluations by storage id)."""
        self.instance.report_runless_asset_event(capture_check_evaluation(shard, checkpoint))

    def flush(self) -> None:
        """Report what accumulated since the last report."""
        report = self._latest
        if report is None:
            return
        checkpoint = report.checkpoint
        for (shard, table, day), flushes in sorted(self._due.items()):
            self.instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    asset_key=raw_asset_key(shard, table),
                    partition=day.isoformat(),
                    description="changes from the binlog",
                    metadata={
                        "source": "binlog",
                        "change_files_added": flushes,
                        "position": str(checkpoint.position),
                    },
                )
            )
        self.instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key=capture_asset_key(report.shard),
                metadata=_capture_metadata(
                    checkpoint,
                    report.lag_seconds or 0.0,
                    report.events_per_second,
                    self._rows,
                    report.quarantined,
                ),
            )
        )
        self._due.clear()
        self._rows = 0
        self._last = time.monotonic()


def _capture_metadata(
    checkpoint: Checkpoint, lag: float, events_per_second: float, rows: int, quarantined: int
) -> dict[str, dg.MetadataValue | str | int]:
    return {
        "lag_seconds": dg.MetadataValue.float(round(lag, 3)),
        "position": str(checkpoint.position),
        "gtid": checkpoint.gtid or "",
        "last_commit": checkpoint.last_commit.isoformat() if checkpoint.last_commit else "",
        "events_per_second": dg.MetadataValue.float(round(events_per_second, 1)),
        "rows_since_last_report": rows,
        "quarantined": quarantined,
        "stopped_tables": dg.MetadataValue.json(checkpoint.stopped),
    }
