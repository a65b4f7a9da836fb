"""The one place that decides which environment we run in and where local files live."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULTS_DIR = Path(__file__).resolve().parent / "defaults"
LOCAL_DIR = Path(os.environ.get("ETL_PLATFORM_LOCAL_DIR") or PROJECT_ROOT / ".local")


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


def lake_root() -> str:
    """`ETL_PLATFORM_LAKE` (a folder or an `s3://bucket/prefix` URI), else `.local/lake`."""
    return os.environ.get("ETL_PLATFORM_LAKE") or str(LOCAL_DIR / "lake")
