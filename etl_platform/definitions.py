"""The one Definitions object: config loaded once, resources chosen by environment."""

from __future__ import annotations

import dagster as dg

from etl_platform.components.mysql_sources import build_source_defs
from etl_platform.env import Environment, get_environment, sources_path
from etl_platform.resources import build_resources
from etl_platform.specs.loader import load_sources

RAW_ASSETS = dg.AssetSelection.key_prefixes(["raw"])


def build_definitions(env: Environment | None = None) -> dg.Definitions:
    sources = load_sources(sources_path())
    raw_job = dg.define_asset_job(
        "extract_raw",
        selection=RAW_ASSETS,
        description="Extract every shard x table for the selected days into the raw zone.",
    )
    return dg.Definitions.merge(
        build_source_defs(sources),
        dg.Definitions(jobs=[raw_job], resources=build_resources(env or get_environment())),
    )


defs = build_definitions()
