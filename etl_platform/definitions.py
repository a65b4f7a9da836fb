"""The one Definitions object: config loaded once, resources chosen by environment."""

from __future__ import annotations

import dagster as dg

from etl_platform.components.destinations import build_destination_assets
from etl_platform.components.lookup_state import build_state_defs
from etl_platform.components.mysql_sources import build_source_defs
from etl_platform.components.views import build_view_defs
from etl_platform.env import Environment, get_environment, sources_path, views_dir
from etl_platform.resources import build_resources
from etl_platform.specs.loader import load_source_schema, load_sources
from etl_platform.specs.source_schema import schema_path_for
from etl_platform.specs.view_loader import load_views, view_files

RAW_ASSETS = dg.AssetSelection.key_prefixes(["raw"])
VIEW_ASSETS = dg.AssetSelection.key_prefixes(["state"]) | dg.AssetSelection.key_prefixes(["views"])
DESTINATION_ASSETS = dg.AssetSelection.groups("destinations")

#: The assets carry their conditions (raw: today every 15 minutes; the rest: eager on their
#: inputs). Operators switch these sensors on in the UI; they start stopped.
AUTOMATION = [
    dg.AutomationConditionSensorDefinition(
        "raw_extract_automation",
        target=dg.AssetSelection.kind("mysql"),
        description="Re-extract today's partition of every shard x table every 15 minutes.",
    ),
    dg.AutomationConditionSensorDefinition(
        "derived_assets_automation",
        target=VIEW_ASSETS | DESTINATION_ASSETS,
        description="Rebuild a day's lookup state, views and destinations when its inputs change.",
    ),
]


def build_definitions(env: Environment | None = None) -> dg.Definitions:
    resources = build_resources(env or get_environment())
    path = sources_path()
    sources = load_sources(path)
    views: list = []
    if view_files(views_dir()):  # the snapshot is needed only to validate views
        schema = load_source_schema(schema_path_for(path))
        views = [v.spec for v in load_views(views_dir(), sources, schema)]
    jobs = [
        dg.define_asset_job(
            "extract_raw",
            selection=RAW_ASSETS,
            description="Extract every shard x table for the selected days into the raw zone.",
        ),
        dg.define_asset_job(
            "build_views",
            selection=VIEW_ASSETS,
            description="Lookup state and every view for the selected days, from the raw zone.",
        ),
        dg.define_asset_job(
            "etl_all",
            selection=RAW_ASSETS | VIEW_ASSETS | DESTINATION_ASSETS,
            description="Extract, build every view and land it in its destinations.",
        ),
        dg.define_asset_job(
            "copy_redshift_to_athena",
            selection=dg.AssetSelection.groups("backward_compat"),
            description="Copy days of Redshift-landed views into the S3/Athena layout.",
        ),
    ]
    return dg.Definitions.merge(
        build_source_defs(sources),
        dg.Definitions(assets=build_state_defs(sources, views)),
        *(build_view_defs(view, sources) for view in views),
        dg.Definitions(
            assets=[
                asset
                for view in views
                for asset in build_destination_assets(
                    view, sources, athena=resources["athena"], redshift=resources["redshift"]
                )
            ]
        ),
        dg.Definitions(jobs=jobs, sensors=AUTOMATION, resources=resources),
    )


defs = build_definitions()
