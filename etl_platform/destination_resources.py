"""Destination resources: S3 + Glue for Athena, and Redshift. Disabled until configured, so the
local default stays the folder lake + DuckDB; prod configures both from the environment."""

from __future__ import annotations

import os

import dagster as dg

from etl_platform.load.athena_lake import AthenaTarget


class NotConfiguredError(RuntimeError):
    pass


class AthenaResource(dg.ConfigurableResource):
    """Where views land for Athena. `bucket` empty = not configured in this environment."""

    bucket: str = ""
    prefix: str = "views"
    database: str = "etl_platform"
    region: str = "us-east-1"
    endpoint_url: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.bucket)

    def target(self) -> AthenaTarget:
        if not self.enabled:
            raise NotConfiguredError(
                "the athena destination is not configured here: set ETL_PLATFORM_S3_BUCKET "
                "(and ETL_PLATFORM_S3_PREFIX, ETL_PLATFORM_GLUE_DATABASE, AWS_REGION)"
            )
        return AthenaTarget(self.bucket, self.prefix, self.database, self.region, self.endpoint_url)


class RedshiftResource(dg.ConfigurableResource):
    """Where views land for Redshift. The DSN is a secret: only the variable's name is config."""

    dsn_env: str = "ETL_PLATFORM_REDSHIFT_DSN"
    schema_name: str = "etl_platform"
    redshift: bool = False  # True on real Redshift (DIST/SORT keys, COPY from S3)
    iam_role_arn: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(os.environ.get(self.dsn_env))

    def dsn(self) -> str:
        dsn = os.environ.get(self.dsn_env)
        if not dsn:
            raise NotConfiguredError(
                f"the redshift destination is not configured here: set {self.dsn_env}"
            )
        return dsn


def athena_from_env() -> AthenaResource:
    return AthenaResource(
        bucket=os.environ.get("ETL_PLATFORM_S3_BUCKET", ""),
        prefix=os.environ.get("ETL_PLATFORM_S3_PREFIX", "views"),
        database=os.environ.get("ETL_PLATFORM_GLUE_DATABASE", "etl_platform"),
        region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        endpoint_url=os.environ.get("ETL_PLATFORM_AWS_ENDPOINT_URL") or None,
    )


def redshift_from_env(*, redshift: bool) -> RedshiftResource:
    return RedshiftResource(
        schema_name=os.environ.get("ETL_PLATFORM_REDSHIFT_SCHEMA", "etl_platform"),
        redshift=redshift,
        iam_role_arn=os.environ.get("ETL_PLATFORM_REDSHIFT_IAM_ROLE") or None,
    )
