"""Save a view: `<views>/<name>/defs.yaml`, never outside the views folder, swapped in whole;
then, when a Dagster webserver is configured, ask it to reload the code location."""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path
from urllib.parse import urlsplit

from etl_platform.env import DAGSTER_URL_ENV
from etl_platform.identifiers import IdentifierError, validate_identifier
from etl_platform.load.atomic_file import write_atomic

#: The code location the views belong to (workspace.yaml, pyproject's [tool.dg.project]).
CODE_LOCATION = "etl_platform"


class PublishRefused(ValueError):
    """A name or place the studio does not write to; the message says why."""


def view_file(views_dir: Path, name: object) -> Path:
    """`<views_dir>/<name>/defs.yaml` for a plain name, resolved inside the views folder."""
    try:
        name = validate_identifier(str(name), what="view name")
    except IdentifierError as e:
        raise PublishRefused(str(e)) from None
    root = views_dir.resolve()
    target = (views_dir / name / "defs.yaml").resolve()
    if not target.is_relative_to(root):
        raise PublishRefused(f"{views_dir / name} leads outside the views folder {root}")
    return target


def read_view(views_dir: Path, name: object) -> str:
    """The view's file as it is on disk (empty when there is none)."""
    path = view_file(views_dir, name)
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def unified_diff(old: str, new: str, name: str) -> str:
    """What saving changes, as `diff -u` shows it."""
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{name}/defs.yaml",
            tofile=f"b/{name}/defs.yaml",
        )
    )


@dataclasses.dataclass(frozen=True)
class Published:
    path: Path
    diff: str
    #: What the webserver said, or why no reload was asked for.
    reload: str


def publish_view(views_dir: Path, name: str, text: str, *, dagster_url: str | None) -> Published:
    """Write the view's file and reload the code location when a webserver is configured. The
    caller has validated `text`; the name and the place are checked here."""
    path = view_file(views_dir, name)
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    diff = unified_diff(old, text, name)
    if diff:
        write_atomic(path, text.encode("utf-8"))
    return Published(path, diff, reload_location(dagster_url) if diff else "unchanged: no reload")


def reload_location(url: str | None, location: str = CODE_LOCATION) -> str:
    """Ask the webserver at `url` to reload `location` with Dagster's own GraphQL client."""
    if not url:
        return f"no reload: {DAGSTER_URL_ENV} is not set"
    from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"no reload: {DAGSTER_URL_ENV} is not an http(s) URL"
    try:
        client = DagsterGraphQLClient(
            parts.hostname,
            port_number=parts.port,
            use_https=parts.scheme == "https",
            timeout=30,
            path_prefix=parts.path.rstrip("/"),
        )
        info = client.reload_repository_location(location)
    except (DagsterGraphQLClientError, OSError) as e:
        return f"reload of {location} failed: {type(e).__name__}: {e}"
    if info.message:
        return f"reload of {location}: {info.status.value}: {info.message}"
    return f"reload of {location}: {info.status.value}"
