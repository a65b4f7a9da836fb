"""Every `ETL_PLATFORM_*` variable is read here: the environment, local paths and settings."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULTS_DIR = Path(__file__).resolve().parent / "defaults"
LOCAL_DIR = Path(os.environ.get("ETL_PLATFORM_LOCAL_DIR") or PROJECT_ROOT / ".local")
#: Dagster's own variable: the instance (run history, pool slots) a process uses.
DAGSTER_HOME_ENV = "DAGSTER_HOME"

#: Days a view shapes at once inside one step; also read by `runtime.parallel`.
THREADS_ENV = "ETL_PLATFORM_THREADS"


class Environment(StrEnum):
    LOCAL = "local"
    TEST = "test"
    PROD = "prod"


def get_environment() -> Environment:
    """Read `ETL_PLATFORM_ENV` (default `local`); an unknown value is an error, not a guess."""
    raw = os.environ.get("ETL_PLATFORM_ENV", Environment.LOCAL.value).strip().lower()
    try:
        return Environment(raw)
    except ValueError:
        valid = ", ".join(e.value for e in Environment)
        raise ValueError(f"ETL_PLATFORM_ENV={raw!r} is not one of: {valid}") from None


def sources_path() -> Path:
    """`ETL_PLATFORM_SOURCES`, else the demo's `defaults/sources.yaml`."""
    return Path(os.environ.get("ETL_PLATFORM_SOURCES") or DEFAULTS_DIR / "sources.yaml")


def views_dir() -> Path:
    """`ETL_PLATFORM_VIEWS_DIR`, else the demo's `defaults/views/`."""
    return Path(os.environ.get("ETL_PLATFORM_VIEWS_DIR") or DEFAULTS_DIR / "views")


def lake_root(env: Environment | None = None) -> str:
    """`ETL_PLATFORM_LAKE`, else `.local/lake` (the test environment: a fresh temporary folder)."""
    configured = os.environ.get("ETL_PLATFORM_LAKE")
    if configured:
        return configured
    if env is Environment.TEST:
        import tempfile

        return tempfile.mkdtemp(prefix="etl_platform_lake_")
    return str(LOCAL_DIR / "lake")


def duckdb_file(env: Environment, lake: str) -> str:
    """`ETL_PLATFORM_DUCKDB`, else `lake.duckdb` beside the lake folder (prod: in memory, since
    queries go to Athena there)."""
    configured = os.environ.get("ETL_PLATFORM_DUCKDB")
    if configured:
        return configured
    if env is Environment.PROD or "://" in lake:
        return ":memory:"
    if env is Environment.TEST:
        return str(Path(lake) / "lake.duckdb")
    return str(Path(lake).resolve().parent / "lake.duckdb")


def extract_backend() -> str | None:
    """`ETL_PLATFORM_EXTRACT_BACKEND` (auto, mysqlclient, pymysql, connectorx), if set."""
    return os.environ.get("ETL_PLATFORM_EXTRACT_BACKEND") or None


def threads() -> str | None:
    """`ETL_PLATFORM_THREADS` as given (validated where it is used)."""
    return os.environ.get(THREADS_ENV) or None


def athena_settings() -> dict[str, str | None]:
    """Where views land for Athena; no bucket means the destination is not configured."""
    return {
        "bucket": os.environ.get("ETL_PLATFORM_S3_BUCKET", ""),
        "prefix": os.environ.get("ETL_PLATFORM_S3_PREFIX", "views"),
        "database": os.environ.get("ETL_PLATFORM_GLUE_DATABASE", "etl_platform"),
        "region": os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or "us-east-1",
        "endpoint_url": os.environ.get("ETL_PLATFORM_AWS_ENDPOINT_URL") or None,
    }


#: The variable that holds Redshift's DSN (a secret: only its name is config).
REDSHIFT_DSN_ENV = "ETL_PLATFORM_REDSHIFT_DSN"


#: Locally, the Redshift destination lands in this PostgreSQL (the wire-compatible stand-in)
#: unless `ETL_PLATFORM_REDSHIFT_DSN` names another.
LOCAL_REDSHIFT_STAND_IN = "postgresql://postgres@127.0.0.1:5432/postgres"


def redshift_settings() -> dict[str, str | None]:
    return {
        "schema_name": os.environ.get("ETL_PLATFORM_REDSHIFT_SCHEMA", "etl_platform"),
        "iam_role_arn": os.environ.get("ETL_PLATFORM_REDSHIFT_IAM_ROLE") or None,
    }


#: The demo's shards: an existing server's URL, else `make run` starts a private one (and the
#: demo's sources.yaml reads its URL from this variable).
DEMO_URL_ENV = "ETL_PLATFORM_DEMO_MYSQL_URL"


#: The demo's first seeded day, which its sources.yaml starts its partitions at.
DEMO_START_ENV = "ETL_PLATFORM_DEMO_START"


def demo_mysql_url() -> str | None:
    return os.environ.get(DEMO_URL_ENV) or None


def env_file() -> Path:
    """The `.env` that `make run` writes and the CLI reads: the project's own (which `dg dev`
    also reads) beside the project's `.local`; with `ETL_PLATFORM_LOCAL_DIR` set elsewhere,
    `.env` in that folder, so another setup (a test's) never reads or rewrites the project's."""
    if LOCAL_DIR.resolve() == (PROJECT_ROOT / ".local").resolve():
        return PROJECT_ROOT / ".env"
    return LOCAL_DIR / ".env"


def local_dagster_home() -> Path:
    """The local Dagster instance: `DAGSTER_HOME` when it is not set otherwise."""
    return (LOCAL_DIR / "dagster").resolve()


class SettingMissing(LookupError):
    """A variable the config names is not set; the message says what to set and how."""


def missing_setting(name: str, who: str, role: str) -> SettingMissing:
    """The error for the unset variable `name` that `who` reads as `role`, with how to set it:
    a newcomer's shell has only what `make run` wrote to `.env`."""
    how = f"set {name} in the environment or in {env_file()}"
    if name == DEMO_URL_ENV:
        how = (
            "run `make run` first (it starts the demo server and writes its URL to "
            f"{env_file()}), or set {name}=mysql://user:password@host:port/"
        )
    return SettingMissing(f"{who}: environment variable {name} ({role}) is not set; {how}")


def secret(name: str) -> str | None:
    """A secret's value from the environment, read at run time only."""
    return os.environ.get(name) or None


#: The alert webhook's URL: a credential (its path holds the token), read when a tick runs.
ALERT_WEBHOOK_URL_ENV = "ETL_PLATFORM_ALERT_WEBHOOK_URL"
#: The UI's base URL (e.g. http://127.0.0.1:3000), for links in alerts.
UI_URL_ENV = "ETL_PLATFORM_UI_URL"


#: The notification ledger's PostgreSQL URL (a credential: it may hold a password) and schema.
NOTIFY_LEDGER_URL_ENV = "ETL_PLATFORM_NOTIFY_LEDGER_URL"
NOTIFY_LEDGER_SCHEMA_ENV = "ETL_PLATFORM_NOTIFY_LEDGER_SCHEMA"


#: The view studio's access token, required when it listens beyond loopback (a credential).
STUDIO_TOKEN_ENV = "ETL_PLATFORM_STUDIO_TOKEN"
#: The Dagster webserver the studio asks to reload the code location after a publish.
DAGSTER_URL_ENV = "ETL_PLATFORM_DAGSTER_URL"


def studio_token() -> str | None:
    return (secret(STUDIO_TOKEN_ENV) or "").strip() or None


def dagster_url() -> str | None:
    return (os.environ.get(DAGSTER_URL_ENV) or "").strip() or None


def alert_webhook_url() -> str | None:
    return (secret(ALERT_WEBHOOK_URL_ENV) or "").strip() or None


def ui_url() -> str | None:
    return (os.environ.get(UI_URL_ENV) or "").strip().rstrip("/") or None
