"""Turn `sources.yaml`'s `providers:` into assets: `providers/<name>`, one external HTTP API
read whole on a cron into `<lake>/providers/<name>/data.parquet` (`extract.http_provider`),
registered in DuckDB as `providers_<name>`. A view that lists the provider under `refresh:`
depends on this asset, so its automation waits for it (docs/providers.md).

Retries are the client's own, per page (`retry:` in the spec), not a Dagster `RetryPolicy`:
a `RetryPolicy` would read every page again, and the next cron tick is the next try anyway.
"""

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from etl_platform.asset_keys import PROVIDERS_GROUP, provider_asset_key
from etl_platform.automation.conditions import provider_refresh
from etl_platform.components.source_metadata import table_schema
from etl_platform.components.view_metadata import markdown_preview
from etl_platform.env import missing_setting, secret
from etl_platform.extract.http_provider import (
    ProviderRead,
    provider_path,
    read_provider,
    shown_url,
    write_provider_file,
)
from etl_platform.load.duckdb_catalog import register_parquet_view
from etl_platform.redaction import redacted_step
from etl_platform.resources import LakeResource
from etl_platform.specs.providers import ProviderSpec
from etl_platform.specs.sources import SourcesSpec


def provider_duckdb_view(name: str) -> str:
    """The DuckDB view over the provider's file, beside the views' own."""
    return f"providers_{name}"


def provider_metadata(name: str, spec: ProviderSpec, read: ProviderRead, path: str) -> dict:
    """What the read saw; the URL as written (the spec refuses credentials in it), no token."""
    head = pl.from_arrow(read.table.slice(0, 10))
    assert isinstance(head, pl.DataFrame)
    return {
        "dagster/row_count": dg.MetadataValue.int(read.table.num_rows),
        "dagster/column_schema": table_schema(read.table.schema),
        "pages": dg.MetadataValue.int(read.pages),
        "retries": dg.MetadataValue.int(read.retries),
        "duplicate_keys": dg.MetadataValue.int(read.duplicates),
        "url": dg.MetadataValue.url(shown_url(spec.url)),
        "duckdb_view": provider_duckdb_view(name),
        "path": dg.MetadataValue.path(path),
        "preview": dg.MetadataValue.md(markdown_preview(head)),
    }


def build_provider_asset(name: str, spec: ProviderSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=provider_asset_key(name),
        group_name=PROVIDERS_GROUP,
        description=spec.description
        or f"Every record of provider {name} ({shown_url(spec.url)}), read whole on each refresh.",
        kinds={"http", "parquet"},
        automation_condition=provider_refresh(spec.refresh_cron),
        metadata={"url": dg.MetadataValue.url(shown_url(spec.url))},
        tags={"provider": name},
    )
    @redacted_step
    def _provider(
        context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource
    ) -> dg.MaterializeResult:
        token = None
        if spec.auth_env:
            token = secret(spec.auth_env)
            if token is None:
                raise missing_setting(spec.auth_env, f"provider {name}", "its auth header's value")
        read = read_provider(name, spec, token)
        path = provider_path(lake.lake().root, name)
        write_provider_file(path, read.table)
        with duckdb.get_connection() as conn:
            register_parquet_view(conn, provider_duckdb_view(name), str(path))
        context.log.info(
            f"provider {name}: {read.table.num_rows} records in {read.pages} page(s), "
            f"{read.retries} retried request(s)"
        )
        return dg.MaterializeResult(metadata=provider_metadata(name, spec, read, str(path)))

    return _provider


def build_provider_assets(sources: SourcesSpec) -> list[dg.AssetsDefinition]:
    return [build_provider_asset(name, spec) for name, spec in sources.providers.items()]


def build_provider_sensor(sources: SourcesSpec) -> dg.AutomationConditionSensorDefinition | None:
    """Evaluates the providers' crons; stopped until an operator starts it, as the others."""
    if not sources.providers:
        return None
    return dg.AutomationConditionSensorDefinition(
        "provider_refresh_automation",
        target=dg.AssetSelection.groups(PROVIDERS_GROUP),
        description="Read each external provider on its refresh_cron.",
    )
