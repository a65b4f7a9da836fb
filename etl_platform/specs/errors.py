"""Config errors that name the file and the field, all of them at once."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pydantic
from pydantic.fields import FieldInfo


class SpecError(ValueError):
    """One or more problems in a config file; the message lists each as `file: field: reason`."""

    def __init__(self, path: Path | str, problems: Iterable[tuple[str, str]]):
        self.path = str(path)
        self.problems = list(problems)
        lines = [
            f"{self.path}: {field or '<top level>'}: {reason}" for field, reason in self.problems
        ]
        super().__init__(
            f"{len(self.problems)} problem(s) in {self.path}:\n  " + "\n  ".join(lines)
        )


def problems_from_validation(
    exc: pydantic.ValidationError, model: type[pydantic.BaseModel] | None = None
) -> list[tuple[str, str]]:
    """Turn pydantic's errors into (dotted field path, reason) pairs. With the `model` that was
    validated, an unknown field names the closest field allowed where it was written."""
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = _unknown_field(err["loc"], model)
            if loc.endswith(")"):
                msg = (
                    "a comma split this mapping: quote a type like decimal(p,s) inside {...}, "
                    'e.g. type: "decimal(12,2)"'
                )
        out.append((loc, msg))
    return out


def _unknown_field(loc: tuple[int | str, ...], model: type[pydantic.BaseModel] | None) -> str:
    """`unknown field; did you mean 'columns'?` when a field allowed there is close."""
    if model is not None and loc and (accepted := allowed_fields(model, loc[:-1])):
        close = difflib.get_close_matches(str(loc[-1]), accepted, n=1, cutoff=0.6)
        if close:
            return f"unknown field; did you mean {close[0]!r}?"
        spelled = ", ".join(allowed_fields(model, loc[:-1], every_name=False))
        return f"unknown field (check the spelling; the fields here: {spelled})"
    return "unknown field (check the spelling; see the README for the fields)"


def allowed_fields(
    model: type[pydantic.BaseModel], loc: Sequence[int | str], *, every_name: bool = True
) -> list[str]:
    """The field names that the model accepts at `loc`, a location of one of pydantic's
    errors: a model's field, an item of a list or a value of a dict, a union's member (named
    in the location by its class) or any member that has the next step. Read from the models,
    so a new field is offered as soon as it exists. Without `every_name`, a field is named
    once, as a file would spell it (its alias)."""
    annotations: list[object] = [model]
    for part in loc:
        if isinstance(part, str) and part.startswith("function-"):
            continue  # a validator's wrapper in the location, not a step into the data
        annotations = [step for a in annotations for step in _step(a, part)]
    names: list[str] = []
    for annotation in annotations:
        for member in _members(annotation):
            if _is_model(member):
                names += [n for n in _field_names(member, every_name) if n not in names]
    return names


def _members(annotation: object) -> list[object]:
    """The annotation without `Annotated[...]`, split into its union's members (None left
    out)."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _members(arg)]
    return [] if annotation is type(None) else [annotation]


def _step(annotation: object, part: int | str) -> list[object]:
    """The annotations one step of an error location leads to from `annotation`."""
    members = _members(annotation)
    if len(members) > 1:
        # pydantic names the union member it tried: `lookups.0.columns.x.LookupColumnSpec.as`.
        named = [m for m in members if getattr(m, "__name__", None) == part]
        if named:
            return named
    found = [step for member in members for step in _member_step(member, part)]
    # A member's tag that is not its class name (a discriminated union): any member.
    return found if found or len(members) < 2 else members


def _member_step(annotation: object, part: int | str) -> list[object]:
    if _is_model(annotation):
        for name, field in annotation.model_fields.items():  # type: ignore[attr-defined]
            if part == name or part in _aliases(field):
                return [field.annotation]
        return []
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if not isinstance(origin, type):
        return []
    if issubclass(origin, Mapping) and len(args) == 2:
        return [args[1]]
    if issubclass(origin, Sequence | frozenset | set) and args and isinstance(part, int):
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return [args[part]] if 0 <= part < len(args) else []
        return [args[0]]
    return []


def _is_model(annotation: object) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel)


def _aliases(field: FieldInfo) -> list[str]:
    """The names a field's data may use besides its own: its alias, its validation aliases."""
    out = [field.alias] if isinstance(field.alias, str) else []
    choices = field.validation_alias
    for choice in choices.choices if isinstance(choices, pydantic.AliasChoices) else [choices]:
        if isinstance(choice, str) and choice not in out:
            out.append(choice)
    return out


def _field_names(model: type[pydantic.BaseModel], every_name: bool) -> list[str]:
    """What the model's data may name: each field's aliases, and its own name when there are
    none or (with `every_name`) when the model also takes fields by name."""
    config = model.model_config
    by_name = every_name and (config.get("populate_by_name") or config.get("validate_by_name"))
    names: list[str] = []
    for name, field in model.model_fields.items():
        aliases = _aliases(field)
        names += [
            *(aliases if every_name else aliases[:1]),
            *([name] if by_name or not aliases else []),
        ]
    return names


class SpecErrors(ValueError):
    """Problems in several files, reported together."""

    def __init__(self, errors: Iterable[SpecError]):
        self.errors = list(errors)
        count = sum(len(e.problems) for e in self.errors)
        body = "\n".join(
            f"  {e.path}: {field or '<top level>'}: {reason}"
            for e in self.errors
            for field, reason in e.problems
        )
        super().__init__(f"{count} problem(s) in {len(self.errors)} file(s):\n{body}")
