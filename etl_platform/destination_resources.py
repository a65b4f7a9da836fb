"""Destination resources: S3 + Glue for Athena, and Redshift, configured from the environment.

Destination assets exist in every environment; a resource that is not configured fails its
asset with the setting to give. Locally the Redshift destination lands in the PostgreSQL
stand-in on 127.0.0.1:5432 unless `ETL_PLATFORM_REDSHIFT_DSN` names another server.
"""

from __future__ import annotations

import dagster as dg

from etl_platform.env import (
    LOCAL_REDSHIFT_STAND_IN,
    REDSHIFT_DSN_ENV,
    athena_settings,
    redshift_settings,
    secret,
)
from etl_platform.load.athena_lake import AthenaTarget


class NotConfiguredError(dg.Failure):
    """A destination asset ran where its destination is not configured."""

    def __init__(self, message: str) -> None:
        super().__init__(description=message, allow_retries=False)


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
    """Where views land for Redshift. The DSN is a secret: only the variable's name is config;
    `stand_in_dsn` (local only, no secret) is used when the variable is unset."""

    dsn_env: str = REDSHIFT_DSN_ENV
    stand_in_dsn: str | None = None
    schema_name: str = "etl_platform"
    redshift: bool = False  # True on real Redshift (DIST/SORT keys, COPY from S3)
    iam_role_arn: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(secret(self.dsn_env) or self.stand_in_dsn)

    def dsn(self) -> str:
        dsn = secret(self.dsn_env) or self.stand_in_dsn
        if not dsn:
            raise NotConfiguredError(
                f"the redshift destination is not configured here: set {self.dsn_env}"
            )
        return dsn

    def unreachable_reason(self, timeout_seconds: float = 2.0) -> str | None:
        """Why the server cannot be used now (None: it answers); checked at run time, never
        at load. The reason names the server as `user@host:port/db`, never the password."""
        import psycopg

        from etl_platform.load.redshift_loader import RedshiftTarget

        if not self.enabled:
            return f"not configured (set {self.dsn_env})"
        dsn = self.dsn()
        try:
            with psycopg.connect(dsn, connect_timeout=max(1, int(timeout_seconds))):
                return None
        except psycopg.Error as e:
            target = RedshiftTarget(dsn=dsn, schema=self.schema_name)
            first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            return f"{target.describe()} does not answer: {target.scrub(first_line)}"


def athena_from_env() -> AthenaResource:
    return AthenaResource(**athena_settings())  # type: ignore[arg-type]


def redshift_from_env(*, redshift: bool, local_stand_in: bool = False) -> RedshiftResource:
    return RedshiftResource(
        **redshift_settings(),  # type: ignore[arg-type]
        redshift=redshift,
        stand_in_dsn=LOCAL_REDSHIFT_STAND_IN if local_stand_in else None,
    )
