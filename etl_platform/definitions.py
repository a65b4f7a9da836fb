"""The one Definitions object: the component tree under `defs/`, and the resources of the
environment (`ETL_PLATFORM_ENV`).

`dg`, `dagster dev` (workspace.yaml), the CLI and the tests all load it through here.
"""

from __future__ import annotations

import importlib

import dagster as dg

from etl_platform.env import PROJECT_ROOT, Environment, get_environment
from etl_platform.redaction import install_log_redaction
from etl_platform.runtime import configure_process


def build_definitions(env: Environment | None = None) -> dg.Definitions:
    configure_process()  # before polars and pyarrow load (the components import them)
    install_log_redaction()
    from etl_platform.resources import build_resources

    tree = dg.ComponentTree.from_module(
        defs_module=importlib.import_module("etl_platform.defs"), project_root=PROJECT_ROOT
    )
    return dg.Definitions.merge(
        tree.build_defs(),
        dg.Definitions(resources=build_resources(env or get_environment())),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
