"""The one loader for config files: YAML in, validated models out, errors with file and field."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import pydantic
import yaml

from etl_platform.specs.errors import SpecError, problems_from_validation
from etl_platform.specs.sources import SourcesSpec

M = TypeVar("M", bound=pydantic.BaseModel)


def read_yaml(path: Path) -> object:
    """Parse YAML; a syntax error becomes a SpecError with the line and column."""
    if not path.is_file():
        raise SpecError(path, [("", "file not found")])
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(path, [(where, f"invalid YAML: {getattr(e, 'problem', e)}")]) from None


def validate_model(model: type[M], data: object, path: Path) -> M:
    """Validate parsed YAML against a model; every problem is reported at once."""
    if not isinstance(data, dict):
        raise SpecError(path, [("", "expected a mapping at the top level")])
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as e:
        raise SpecError(path, problems_from_validation(e)) from None


def load_sources(path: Path) -> SourcesSpec:
    return validate_model(SourcesSpec, read_yaml(path), path)
