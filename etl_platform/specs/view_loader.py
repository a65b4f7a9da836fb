"""Find and validate the view specs: `<dir>/<view>/defs.yaml`, one Dagster component each."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from etl_platform.specs.errors import SpecError, SpecErrors
from etl_platform.specs.loader import read_yaml, validate_model
from etl_platform.specs.source_schema import SourceSchema
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.view_validation import validate_view
from etl_platform.specs.views import ViewSpec

#: The `type:` of a view's defs.yaml: the project's view component.
VIEW_COMPONENT_TYPE = "etl_platform.components.ViewComponent"


@dataclasses.dataclass(frozen=True)
class LoadedView:
    path: Path
    spec: ViewSpec


def view_files(directory: Path) -> list[Path]:
    """Every `defs.yaml` one level below `directory`, in name order."""
    if not directory.is_dir():
        return []
    return sorted(directory.glob("*/defs.yaml"))


def parse_view_file(path: Path) -> ViewSpec:
    """The spec in one file, shape-checked (not yet against the sources)."""
    data = read_yaml(path)
    if not isinstance(data, dict) or set(data) - {
        "type",
        "attributes",
        "requirements",
        "post_processing",
    }:
        raise SpecError(path, [("", "expected `type:` and `attributes:` at the top level")])
    if data.get("type") != VIEW_COMPONENT_TYPE:
        raise SpecError(
            path, [("type", f"must be {VIEW_COMPONENT_TYPE}, got {data.get('type')!r}")]
        )
    spec = validate_model(ViewSpec, data.get("attributes"), path, prefix="attributes.")
    if spec.name != path.parent.name:
        raise SpecError(
            path, [("attributes.name", f"{spec.name!r} must match its folder {path.parent.name!r}")]
        )
    return spec


def load_views(directory: Path, sources: SourcesSpec, schema: SourceSchema) -> list[LoadedView]:
    """All views in `directory`, each validated; every problem in every file is reported at once."""
    loaded: list[LoadedView] = []
    errors: list[SpecError] = []
    for path in view_files(directory):
        try:
            spec = parse_view_file(path)
        except SpecError as e:
            errors.append(e)
            continue
        problems = validate_view(spec, sources, schema)
        if problems:
            errors.append(SpecError(path, [(f"attributes.{f}", r) for f, r in problems]))
        else:
            loaded.append(LoadedView(path, spec))
    names = [v.spec.name for v in loaded]
    for name in {n for n in names if names.count(n) > 1}:
        errors.append(SpecError(directory, [("", f"view name {name!r} is used more than once")]))
    if errors:
        raise SpecErrors(errors)
    return loaded
