"""The `type:` of a view's `defs.yaml`: its attributes are a view spec.

A view file is read by `ViewsComponent` with every other view of its folder (lookup state is
shared between views, so no view builds alone); this type names the schema of its attributes
for `dg` and editors.
"""

from __future__ import annotations

import dagster as dg
from pydantic import BaseModel

from etl_platform.specs.views import ViewSpec


class ViewComponent(dg.Component):
    """A business view written in YAML (see docs/views.md); loaded by `ViewsComponent`."""

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
        raise TypeError(
            f"view {self.spec.name}: a view's defs.yaml is loaded with its folder by "
            "etl_platform.components.ViewsComponent (set ETL_PLATFORM_VIEWS_DIR to the folder), "
            "not as a component of its own"
        )
