"""The one Definitions object: the component tree under `defs/`, and the resources of the
environment (`ETL_PLATFORM_ENV`).

`dg`, `dagster dev` (workspace.yaml), the CLI and the tests all load it through here.
"""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path

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
    # The defs folder, not the tree's root: the root adds the metadata of every installed
    # component library (the UI's catalogue), importing them all at each load.
    return dg.Definitions.merge(
        tree.build_defs(Path(".")),
        dg.Definitions(resources=build_resources(env or get_environment())),
    )


@dg.definitions
def defs() -> dg.Definitions:
    # A code server (`dg dev`) would log, at WARNING, each beta/preview API that Dagster's own
    # component loader calls: hundreds of lines nothing here can act on (the CLI does the same).
    for category in (dg.BetaWarning, dg.PreviewWarning):
        warnings.filterwarnings("ignore", category=category)
    return build_definitions()
