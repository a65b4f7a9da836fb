"""The providers component: `sources.yaml`'s `providers:` → one asset per external HTTP API."""

from __future__ import annotations

import dagster as dg

from etl_platform.components.providers import build_provider_assets, build_provider_sensor
from etl_platform.env import sources_path
from etl_platform.specs.loader import load_sources


class ProvidersComponent(dg.Component, dg.Model, dg.Resolvable):
    """The `providers:` of `sources.yaml` (`ETL_PLATFORM_SOURCES`, else the demo's, which has
    none). Produces `providers/<name>` per provider, group `providers`, read whole on its
    `refresh_cron` into the lake, and the `provider_refresh_automation` sensor that evaluates
    those crons (stopped until an operator starts it). Views that list a provider under
    `refresh:` depend on its asset (docs/providers.md)."""

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        sources = load_sources(sources_path())
        sensor = build_provider_sensor(sources)
        return dg.Definitions(
            assets=build_provider_assets(sources), sensors=[sensor] if sensor else []
        )
