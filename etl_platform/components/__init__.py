"""Factories and component types that turn the YAML config into Dagster definitions."""
