"""The views component: the views folder → lookup state, views, destinations, refresh jobs."""

from __future__ import annotations

import dagster as dg

from etl_platform.automation.jobs import view_refresh
from etl_platform.automation.reconcile import reconcile_schedule
from etl_platform.components.by_column import build_by_column_asset
from etl_platform.components.current_rows import build_current_asset
from etl_platform.components.data_lag import build_data_lag_sensor
from etl_platform.components.destinations import build_destination_assets
from etl_platform.components.lookup_state import build_state_assets
from etl_platform.components.notifications import build_notification_assets
from etl_platform.components.reconcile import build_reconcile_assets
from etl_platform.components.report import build_report_assets
from etl_platform.components.views import build_view_assets
from etl_platform.env import sources_path, views_dir
from etl_platform.specs.loader import load_source_schema, load_sources
from etl_platform.specs.source_schema import schema_path_for
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.view_loader import load_views, view_files
from etl_platform.specs.views import ViewSpec
from etl_platform.transform.view_types import view_type_check


class ViewsComponent(dg.Component, dg.Model, dg.Resolvable):
    """Every view spec in a folder (`<dir>/<view>/defs.yaml`; default `ETL_PLATFORM_VIEWS_DIR`,
    else the demo's), validated against `sources.yaml` and its schema snapshot, all problems
    of all files at once.

    Produces, per view `V`: `views/V` and `views/V__rejects` with four blocking checks;
    `athena/V`, `redshift/V` and `athena_from_redshift/V` for its `destinations`; a
    `refresh_V` job and schedule when it has a `schedule`; with a report or a `partition_by`,
    `views/V__current` (each key's latest version), then `reports/V` with its
    `report_matches_detail` check, and `views/V__by_C`. Per shard `S` x looked-up table
    `L` of any view: `state/S/L`, keeping the columns every view's lookups read; and when `L`
    sets `reconcile_keys`, `reconcile/S/L` with the `reconcile_keys` job and its schedule.
    A view with a `freshness` gets a `data_lag` check, evaluated by the `view_data_lag` sensor.
    """

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        folder = views_dir()
        if not view_files(folder):
            return dg.Definitions()
        path = sources_path()
        sources = load_sources(path)
        snapshot = load_source_schema(schema_path_for(path))
        views = [v.spec for v in load_views(folder, sources, snapshot, view_type_check(snapshot))]
        assets: list[dg.AssetsDefinition] = list(build_state_assets(sources, views))
        jobs, schedules = [], []
        for view in views:
            assets.append(build_view_assets(view, sources))
            assets.extend(build_destination_assets(view, sources))
            assets.extend(_current_row_assets(view, sources))
            assets.extend(build_notification_assets(view, sources))
            if view.schedule:
                job, schedule = view_refresh(view.name, view.schedule)
                jobs.append(job)
                schedules.append(schedule)
        looked_up = {lookup.table for view in views for lookup in view.lookups}
        reconciled = build_reconcile_assets(sources, looked_up)
        if reconciled:
            assets.extend(reconciled)
            job, schedule = reconcile_schedule(reconciled)
            jobs.append(job)
            schedules.append(schedule)
        lag_sensor = build_data_lag_sensor(views, sources)
        return dg.Definitions(
            assets=assets,
            jobs=jobs,
            schedules=schedules,
            sensors=[lag_sensor] if lag_sensor is not None else [],
        )


def _current_row_assets(view: ViewSpec, sources: SourcesSpec) -> list[dg.AssetsDefinition]:
    """What is built from the view's current rows: the rows, its report, its second layout."""
    if not view.needs_current:
        return []
    assets = [build_current_asset(view, sources)]
    if view.is_report:
        assets.append(build_report_assets(view, sources))
    if view.partition_by:
        assets.append(build_by_column_asset(view, sources))
    return assets
