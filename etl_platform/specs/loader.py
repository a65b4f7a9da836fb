"""The one loader for config files: YAML in, validated models out, errors with file and field."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TypeVar

import pydantic
import yaml

from etl_platform.specs.errors import SpecError, problems_from_validation
from etl_platform.specs.source_schema import SourceSchema, cursor_problems, schema_path_for
from etl_platform.specs.sources import SourcesSpec

M = TypeVar("M", bound=pydantic.BaseModel)


class _ConfigLoader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. YAML 1.1 would read a lookup's `on:` as True."""


_ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def read_yaml(path: Path) -> object:
    """Parse YAML; a syntax error becomes a SpecError with the line and column."""
    if not path.is_file():
        raise SpecError(path, [("", "file not found")])
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_ConfigLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(path, [(where, f"invalid YAML: {getattr(e, 'problem', e)}")]) from None


def validate_model(model: type[M], data: object, path: Path, *, prefix: str = "") -> M:
    """Validate parsed YAML against a model; every problem is reported at once."""
    if not isinstance(data, dict):
        raise SpecError(path, [(prefix.rstrip("."), "expected a mapping")])
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as e:
        raise SpecError(
            path, [(prefix + f, r) for f, r in problems_from_validation(e, model)]
        ) from None


#: `${NAME}` or `${NAME:-default}`, the whole of a value.
_ENV_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?\}$")


def expand_env_references(data: object, path: Path, field: str = "") -> object:
    """Values written `${NAME}` or `${NAME:-default}` taken from the environment: a setting
    that differs by machine (the demo's first day, written to `.env` when it is seeded) without
    a copy of the file. Not for secrets: those stay named by `url_env`/`password_env`."""
    if isinstance(data, dict):
        return {
            k: expand_env_references(v, path, f"{field}.{k}".lstrip(".")) for k, v in data.items()
        }
    if isinstance(data, list):
        return [expand_env_references(v, path, f"{field}.{i}") for i, v in enumerate(data)]
    if isinstance(data, str) and (match := _ENV_REFERENCE.match(data.strip())):
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name) or default
        if value is None:
            raise SpecError(path, [(field, f"environment variable {name} is not set")])
        return value
    return data


def load_sources(path: Path) -> SourcesSpec:
    return validate_model(SourcesSpec, expand_env_references(read_yaml(path), path), path)


def load_source_schema(path: Path) -> SourceSchema:
    return validate_model(SourceSchema, read_yaml(path), path)


def load_checked_sources(path: Path) -> SourcesSpec:
    """`sources.yaml` with its cursors checked against the schema snapshot beside it, when there
    is one (it is optional for sources): a cursor that is missing or not a date is refused
    when definitions load, not at its first run."""
    sources = load_sources(path)
    snapshot = schema_path_for(path)
    if snapshot.is_file():
        problems = cursor_problems(sources, load_source_schema(snapshot))
        if problems:
            raise SpecError(path, problems)
    return sources
