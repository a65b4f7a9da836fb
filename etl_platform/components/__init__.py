"""Component types that turn the YAML config into Dagster definitions; they only wire."""

from etl_platform.components.automation_component import AutomationComponent
from etl_platform.components.providers_component import ProvidersComponent
from etl_platform.components.sources_component import MySqlSourcesComponent
from etl_platform.components.view_component import ViewComponent
from etl_platform.components.views_component import ViewsComponent

__all__ = [
    "AutomationComponent",
    "MySqlSourcesComponent",
    "ProvidersComponent",
    "ViewComponent",
    "ViewsComponent",
]
