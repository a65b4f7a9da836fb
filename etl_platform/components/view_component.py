"""The view component: `type: etl_platform.components.ViewComponent` in a view's defs.yaml."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from dagster_shared.check import CheckError
from pydantic import BaseModel

from etl_platform.components.views import build_view_defs
from etl_platform.env import sources_path
from etl_platform.specs.errors import SpecError
from etl_platform.specs.loader import load_source_schema, load_sources
from etl_platform.specs.source_schema import schema_path_for
from etl_platform.specs.view_validation import validate_view
from etl_platform.specs.views import ViewSpec


class ViewComponent(dg.Component):
    """A business view written in YAML: the attributes are a view spec (see the README).

    Produces `views/<name>` and `views/<name>__rejects` with their checks, and a
    `refresh_<name>` job and schedule when the spec has a `schedule`.
    """

    def __init__(self, spec: ViewSpec):
        self.spec = spec

    @classmethod
    def get_model_cls(cls) -> type[BaseModel]:
        return ViewSpec

    @classmethod
    def load(cls, attributes: BaseModel | None, context: dg.ComponentLoadContext) -> ViewComponent:
        if not isinstance(attributes, ViewSpec):
            raise TypeError("ViewComponent needs view spec attributes")
        return cls(attributes)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        path = sources_path()
        sources = load_sources(path)
        problems = validate_view(self.spec, sources, load_source_schema(schema_path_for(path)))
        if problems:
            raise SpecError(
                _spec_file(context, self.spec.name), [(f"attributes.{f}", r) for f, r in problems]
            )
        return build_view_defs(self.spec, sources)


def _spec_file(context: dg.ComponentLoadContext, name: str) -> Path:
    """The defs.yaml the component came from, or its usual place when built outside a tree."""
    try:
        return context.path / "defs.yaml"
    except CheckError:
        return Path(name) / "defs.yaml"
