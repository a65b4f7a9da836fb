"""Resources per environment: the same keys in every environment, one lookup."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field, field_validator

from etl_platform.destination_resources import athena_from_env, redshift_from_env
from etl_platform.env import Environment, duckdb_file, extract_backend, lake_root
from etl_platform.extract.backends import AUTO, resolve_backend
from etl_platform.extract.connection import MySqlEndpoint, endpoint_for
from etl_platform.load.lake import Lake
from etl_platform.specs.sources import ShardSpec


class MySqlShardsResource(dg.ConfigurableResource):
    """How assets reach the shards. Endpoints are resolved from the environment at run time,
    never at load time, so a missing secret fails only the assets of that shard."""

    backend: str = Field(
        default=AUTO,
        validate_default=True,
        description=(
            "Extract backend: `auto` (mysqlclient if installed, else pymysql), `mysqlclient`, "
            "`pymysql` or `connectorx` (see extract.backends). Held resolved, so the "
            "materialization metadata names the backend that ran."
        ),
    )

    @field_validator("backend")
    @classmethod
    def _resolve_backend(cls, name: str) -> str:
        return resolve_backend(name)

    def endpoint(self, shard: str, spec: ShardSpec) -> MySqlEndpoint:
        return endpoint_for(shard, spec)


class LakeResource(dg.ConfigurableResource):
    """Where the lake lives: a local folder (`ETL_PLATFORM_LAKE`)."""

    root: str

    def lake(self) -> Lake:
        if "://" in self.root:
            raise ValueError(
                f"lake root {self.root!r}: only a local folder is supported for the lake's raw "
                "and state zones so far (object-store zones are not built yet)"
            )
        return Lake(Path(self.root))


def build_resources(env: Environment) -> dict[str, dg.ConfigurableResource]:
    """Every environment returns the same keys; only the values differ."""
    root = lake_root(env)
    return {
        "athena": athena_from_env(),
        "redshift": redshift_from_env(
            redshift=env is Environment.PROD, local_stand_in=env is Environment.LOCAL
        ),
        "duckdb": DuckDBResource(database=duckdb_file(env, root)),
        "mysql_shards": MySqlShardsResource(backend=extract_backend() or AUTO),
        "lake": LakeResource(root=root),
    }
