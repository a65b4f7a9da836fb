"""Factories and component types that turn the YAML config into Dagster definitions."""

from etl_platform.components.view_component import ViewComponent

__all__ = ["ViewComponent"]
