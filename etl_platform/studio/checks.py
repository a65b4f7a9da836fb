"""A draft checked exactly as the platform checks a views folder when definitions load."""

from __future__ import annotations

import tempfile
from pathlib import Path

from etl_platform.identifiers import IdentifierError, validate_identifier
from etl_platform.specs.errors import SpecError, SpecErrors
from etl_platform.specs.source_schema import SourceSchema
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.view_loader import load_views
from etl_platform.specs.view_validation import Problem
from etl_platform.specs.views import ViewSpec
from etl_platform.transform.view_types import view_type_check

#: The folder a draft whose name is not a plain name is checked in (its name is reported).
DRAFT_FOLDER = "_draft"


def check_draft(
    text: str, name: object, sources: SourcesSpec, schema: SourceSchema
) -> tuple[ViewSpec | None, list[Problem]]:
    """The spec when the text is a valid view, and every problem in the validator's words.

    The text is written to `<tmp>/<name>/defs.yaml` and read by `load_views`, the loader the
    definitions use, with the same dataframe-layer check: no second validator to drift."""
    try:
        folder = validate_identifier(str(name), what="view name")
    except IdentifierError:
        folder = DRAFT_FOLDER
    with tempfile.TemporaryDirectory(prefix="etl_studio_check_") as tmp:
        path = Path(tmp) / folder / "defs.yaml"
        path.parent.mkdir()
        path.write_text(text, encoding="utf-8")
        try:
            (loaded,) = load_views(Path(tmp), sources, schema, view_type_check(schema))
        except SpecErrors as e:
            return None, [p for error in e.errors for p in error.problems]
        except SpecError as e:
            return None, list(e.problems)
    return loaded.spec, []
