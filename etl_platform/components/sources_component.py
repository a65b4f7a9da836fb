"""The sources component: `sources.yaml` → one raw asset per shard x table."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from etl_platform.components.mysql_sources import build_source_assets
from etl_platform.env import sources_path
from etl_platform.specs.loader import load_sources


class MySqlSourcesComponent(dg.Component, dg.Model, dg.Resolvable):
    """The shards and tables of a `sources.yaml` (default: `ETL_PLATFORM_SOURCES`, else the
    demo's). Produces `raw/<shard>/<table>` for every table on every shard that carries it,
    group `raw_<shard>`, pool `mysql_<shard>`."""

    sources_file: str | None = None

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        path = Path(self.sources_file) if self.sources_file else sources_path()
        return dg.Definitions(assets=build_source_assets(load_sources(path)))
