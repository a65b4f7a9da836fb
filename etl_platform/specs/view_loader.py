"""Find and validate the view specs: `<dir>/<view>/defs.yaml`, one Dagster component each."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pydantic

from etl_platform.specs.errors import SpecError, SpecErrors, problems_from_validation
from etl_platform.specs.loader import read_yaml
from etl_platform.specs.source_schema import SourceSchema
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.view_partial import PartialView, partial_view
from etl_platform.specs.view_validation import Problem, validate_view
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


def check_view_file(
    path: Path, sources: SourcesSpec, schema: SourceSchema
) -> tuple[ViewSpec | None, list[Problem]]:
    """The file's spec when it is valid, and every problem of the file in one pass: a part
    that fails its shape is reported, and the rest is still checked against the sources."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        return None, [("", "expected `type:` and `attributes:` at the top level")]
    problems: list[Problem] = []
    if set(data) - {"type", "attributes", "requirements", "post_processing"}:
        problems.append(("", "expected `type:` and `attributes:` at the top level"))
    if data.get("type") != VIEW_COMPONENT_TYPE:
        problems.append(("type", f"must be {VIEW_COMPONENT_TYPE}, got {data.get('type')!r}"))
    attributes = data.get("attributes")
    if not isinstance(attributes, dict):
        return None, [*problems, ("attributes", "expected a mapping")]
    found: list[Problem] = []  # the attributes' problems
    try:
        partial = PartialView(ViewSpec.model_validate(attributes))
        valid = True
    except pydantic.ValidationError as e:
        found += problems_from_validation(e, ViewSpec)
        partial, valid = partial_view(attributes), False
    name = partial.spec.name
    if not partial.covers("name") and name != path.parent.name:
        found.append(("name", f"{name!r} must match its folder {path.parent.name!r}"))
    found += [
        (f, r) for f, r in validate_view(partial.spec, sources, schema) if not partial.covers(f)
    ]
    if not partial.covers("source"):
        found += snapshot_source_problems(partial.spec, sources)
    problems += [(f"attributes.{f}", r) for f, r in found]
    return (partial.spec if valid and not problems else None), problems


def snapshot_source_problems(spec: ViewSpec, sources: SourcesSpec) -> list[Problem]:
    """A view's days are its source's cursor days; a snapshot table has none (it holds only
    the table as it is now), so it can be looked up but cannot drive a view."""
    table = sources.tables.get(spec.source)
    if table is None or not table.is_snapshot:
        return []
    return [
        (
            "source",
            f"table {spec.source!r} is a snapshot table (mode: snapshot): it has no cursor days "
            "to build a view's days from; use it in `lookups` of a view on another table",
        )
    ]


def load_views(
    directory: Path,
    sources: SourcesSpec,
    schema: SourceSchema,
    check: Callable[[ViewSpec], list[Problem]] | None = None,
) -> list[LoadedView]:
    """All views in `directory`, each validated; every problem in every file is reported at once.

    `check` adds the problems that need the dataframe layer (a computed column's types) for
    each spec that is otherwise valid; they are named under `attributes.` like the rest."""
    loaded: list[LoadedView] = []
    errors: list[SpecError] = []
    for path in view_files(directory):
        try:
            spec, problems = check_view_file(path, sources, schema)
        except SpecError as e:
            errors.append(e)
            continue
        if spec is not None and check is not None:
            problems = [(f"attributes.{f}", r) for f, r in check(spec)]
            spec = None if problems else spec
        if spec is None:
            errors.append(SpecError(path, problems))
        else:
            loaded.append(LoadedView(path, spec))
    names = [v.spec.name for v in loaded]
    for name in {n for n in names if names.count(n) > 1}:
        errors.append(SpecError(directory, [("", f"view name {name!r} is used more than once")]))
    if errors:
        raise SpecErrors(errors)
    return loaded
