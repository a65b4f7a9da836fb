"""Config errors that name the file and the field, all of them at once."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pydantic


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


def problems_from_validation(exc: pydantic.ValidationError) -> list[tuple[str, str]]:
    """Turn pydantic's errors into (dotted field path, reason) pairs."""
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; see the README for the fields)"
            if loc.endswith(")"):
                msg = (
                    "a comma split this mapping: quote a type like decimal(p,s) inside {...}, "
                    'e.g. type: "decimal(12,2)"'
                )
        out.append((loc, msg))
    return out


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
