"""Turn a view spec into its Dagster assets.

For a view `V` on driving table `T` this produces the assets `views/V` (the wide table) and
`views/V__rejects` (rows kept aside, with the reason), group `views` (or `views_<domain>`),
daily-partitioned by the UTC day of `T`'s cursor; they depend on `raw/S/T` for every shard `S`,
on `state/S/L` for every looked-up table `L` and on the providers it waits for. Four blocking
checks guard `views/V` (`view_checks.py`), and with a `freshness` its `data_lag` check reports
how far behind the shards its data is (`data_lag.py`); the work of a run is
`steps.view_days.build_view_days`.

The two assets are one subsettable multi-asset: a backfill or a job may select either or both,
as the UI lets a user pick them. A run always builds its days whole (the rejects are a
by-product of the same pass), so it writes the lake data of both and reports only what was
selected.
"""

import datetime as dt
from collections.abc import Iterator

import dagster as dg
import pyarrow as pa
from dagster_duckdb import DuckDBResource

from etl_platform.asset_keys import (
    DATA_LAG_CHECK,
    provider_asset_key,
    raw_asset_key,
    rejects_asset_key,
    state_asset_key,
    view_asset_key,
    view_group,
)
from etl_platform.automation.conditions import PROVIDERS_READY, VIEW_REFRESH
from etl_platform.components.data_lag import (
    data_as_of,
    data_as_of_metadata,
    data_lag_check_specs,
    data_lag_result,
)
from etl_platform.components.failures import step_failures
from etl_platform.components.partition_metadata import day_row_counts, range_metadata
from etl_platform.components.view_checks import view_check_results, view_check_specs
from etl_platform.components.view_metadata import (
    EMPTY_VIEW_DAY,
    says_more,
    view_day_metadata,
    view_window_metadata,
)
from etl_platform.layout import PARTITION_COLUMN
from etl_platform.load.duckdb_catalog import register_view
from etl_platform.partitions import (
    allow_beta_backfill_policy,
    bounded_backfill,
    platform_partitions,
    window_days,
)
from etl_platform.resources import LakeResource
from etl_platform.specs.durations import parse_duration
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.views import ViewSpec
from etl_platform.steps.view_days import ViewInputs, ViewWindow, build_view_days, lookup_tables
from etl_platform.transform._rejects import empty_rejects
from etl_platform.transform.view_shape import window_drift


def _freshness(spec: ViewSpec) -> dg.FreshnessPolicy | None:
    if not spec.freshness:
        return None
    warn = spec.freshness.warn_after
    return dg.FreshnessPolicy.time_window(
        fail_window=parse_duration(spec.freshness.fail_after),
        warn_window=parse_duration(warn) if warn is not None else None,
    )


def _asset_specs(spec: ViewSpec, sources: SourcesSpec) -> list[dg.AssetSpec]:
    shards = sources.shards_for(spec.source)
    deps = [raw_asset_key(s, spec.source) for s in shards] + [
        state_asset_key(s, t) for t in lookup_tables(spec) for s in shards
    ]
    # A provider it waits for: not built before its first read, nor after a failed one.
    deps += [provider_asset_key(p) for p in spec.refresh]
    condition = VIEW_REFRESH & PROVIDERS_READY if spec.refresh else VIEW_REFRESH
    # The rejects come from the same inputs in the same pass: the same deps give them the same
    # automation decisions as the view, so automation requests both in one run.
    shared = {
        "group_name": view_group(spec.domain),
        "owners": spec.owners,
        "kinds": {"polars", "parquet", "duckdb"},
        "automation_condition": condition,
        "tags": {"view": spec.name},
        "deps": deps,
    }
    return [
        dg.AssetSpec(
            view_asset_key(spec.name),
            description=spec.description or None,
            metadata={"partition_expr": PARTITION_COLUMN, "destinations": spec.destinations},
            freshness_policy=_freshness(spec),
            **shared,
        ),
        dg.AssetSpec(
            rejects_asset_key(spec.name),
            description=f"Rows of {spec.name} kept aside: shard, key, column, raw value, reason.",
            metadata={"partition_expr": PARTITION_COLUMN},
            **shared,
        ),
    ]


#: A rejects day's columns (`build_view_day` adds the run's id), for an empty DuckDB view.
REJECTS_ARROW_SCHEMA = pa.schema(
    [*empty_rejects().to_arrow().schema, pa.field("_run_id", pa.large_string())]
)


def _view_schema(window: ViewWindow) -> pa.Schema | None:
    """The columns of the window's last day (its preview's), for an empty DuckDB view: a view
    whose days all had no rows has no file to read them from."""
    preview = window.days[max(window.days)].preview if window.days else None
    return None if preview is None else preview.to_arrow().schema


def build_view_assets(spec: ViewSpec, sources: SourcesSpec) -> dg.AssetsDefinition:
    with allow_beta_backfill_policy():

        @dg.multi_asset(
            name=f"view__{spec.name}",
            specs=_asset_specs(spec, sources),
            check_specs=[*view_check_specs(spec), *data_lag_check_specs(spec)],
            partitions_def=platform_partitions(sources),
            backfill_policy=bounded_backfill(sources.extract.max_days_per_run),
            can_subset=True,
        )
        def _view(
            context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource
        ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
            the_lake = lake.lake()
            selected = context.selected_asset_keys
            lag_key = dg.AssetCheckKey(view_asset_key(spec.name), DATA_LAG_CHECK)
            lag_asked = lag_key in context.selected_asset_check_keys
            days_asked = window_days(context.partition_time_window)
            if not selected and context.selected_asset_check_keys == {lag_key}:
                # The lag alone (the UI's "Execute" on it): nothing to build.
                now = dt.datetime.now(dt.UTC)
                yield data_lag_result(context.instance, spec, None, days_asked, now)
                return
            inputs = ViewInputs(
                spec,
                sources,
                the_lake,
                context.run.run_id,
                write_view=view_asset_key(spec.name) in selected,
                write_rejects=rejects_asset_key(spec.name) in selected,
            )
            # Read before the raw days: the rows read hold at least what was landed by then.
            as_of = data_as_of(context.instance, the_lake.root, sources, spec, max(days_asked))
            with step_failures():
                window = build_view_days(inputs, days_asked)
            view, rejects = the_lake.view(spec.name), the_lake.rejects(spec.name)
            with duckdb.get_connection() as conn:
                register_view(conn, spec.name, view, _view_schema(window))
                register_view(conn, f"{spec.name}__rejects", rejects, REJECTS_ARROW_SCHEMA)
            days = sorted(window.days)
            if view_asset_key(spec.name) in selected:
                # The last day always describes itself: its schema and preview show on the
                # asset's latest event.
                own = {
                    d: view_day_metadata(r)
                    for d, r in window.days.items()
                    if says_more(r) or d == days[-1]
                }
                shared = {
                    **view_window_metadata(
                        window_drift(spec, window.drift_samples), path=str(view.dir)
                    ),
                    **data_as_of_metadata(as_of),
                }
                yield dg.MaterializeResult(
                    asset_key=view_asset_key(spec.name),
                    metadata=range_metadata(
                        context,
                        days,
                        own,
                        shared=shared,
                        empty=EMPTY_VIEW_DAY,
                        asset_key=view_asset_key(spec.name),
                    ),
                )
            if rejects_asset_key(spec.name) in selected:
                yield dg.MaterializeResult(
                    asset_key=rejects_asset_key(spec.name),
                    metadata=range_metadata(
                        context,
                        days,
                        day_row_counts(
                            {d: r.rejected for d, r in window.days.items() if r.rejected}
                        ),
                        shared={"path": dg.MetadataValue.path(str(rejects.dir))},
                        empty={"dagster/row_count": dg.MetadataValue.int(0)},
                        asset_key=rejects_asset_key(spec.name),
                    ),
                )
            yield from view_check_results(spec, window, context.selected_asset_check_keys)
            if lag_asked:
                now = dt.datetime.now(dt.UTC)
                yield data_lag_result(context.instance, spec, as_of, days_asked, now)

    return _view
