"""The sources component: `sources.yaml` → one raw asset per shard x table."""

from __future__ import annotations

import dagster as dg

from etl_platform.automation.new_data import build_new_data_sensors
from etl_platform.components.capture_check import build_capture_checks
from etl_platform.components.mysql_sources import build_capture_specs, build_source_assets
from etl_platform.env import sources_path
from etl_platform.specs.loader import load_checked_sources


class MySqlSourcesComponent(dg.Component, dg.Model, dg.Resolvable):
    """The shards and tables of `sources.yaml` (`ETL_PLATFORM_SOURCES`, else the demo's: one
    path for every reader of it, so the snapshot and the secrets are those of the same file).
    Its cursors are checked against the schema snapshot beside it, when there is one.
    Produces `raw/<shard>/<table>` for every table on every shard that carries it,
    group `raw_<shard>`, pool `mysql_<shard>`, and `cdc/<shard>` for a shard whose binlog is
    captured; and the sensor `new_data_<shard>` for each shard with a batch table, which
    requests the days whose newest cursor moved (stopped until an operator starts it)."""

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        sources = load_checked_sources(sources_path())
        return dg.Definitions(
            assets=[*build_source_assets(sources), *build_capture_specs(sources)],
            asset_checks=build_capture_checks(sources),
            sensors=build_new_data_sensors(sources),
        )
