"""Resources per environment: the same keys in every environment, one lookup."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field, field_validator

from etl_platform.destination_resources import athena_from_env, redshift_from_env
from etl_platform.env import LOCAL_DIR, Environment, lake_root
from etl_platform.extract.backends import AUTO, resolve_backend
from etl_platform.extract.connection import MySqlEndpoint
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
        return spec.endpoint(shard)


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


def _test_lake() -> str:
    return os.environ.get("ETL_PLATFORM_LAKE") or tempfile.mkdtemp(prefix="etl_platform_lake_")


def build_resources(env: Environment) -> dict[str, dg.ConfigurableResource]:
    """Every environment returns the same keys; only the values differ."""
    root = _test_lake() if env is Environment.TEST else lake_root()
    if env is Environment.TEST:
        duckdb_file = str(Path(root) / "lake.duckdb")
    elif env is Environment.LOCAL:
        duckdb_file = os.environ.get("ETL_PLATFORM_DUCKDB") or str(LOCAL_DIR / "lake.duckdb")
    else:  # prod queries go to Athena; the DuckDB catalog is a throwaway there
        duckdb_file = ":memory:"
    return {
        "athena": athena_from_env(),
        "redshift": redshift_from_env(redshift=env is Environment.PROD),
        "duckdb": DuckDBResource(database=duckdb_file),
        "mysql_shards": MySqlShardsResource(
            backend=os.environ.get("ETL_PLATFORM_EXTRACT_BACKEND") or AUTO
        ),
        "lake": LakeResource(root=root),
    }
