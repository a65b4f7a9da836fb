"""The environment variables the views' notification channels name as secrets.

A webhook's URL (its token often sits in the path) and header values, and an SMTP password,
are read at send time; they are masked like the shards' passwords wherever a message carries
them. Read from the view files directly, without validating them (the definitions do that),
and again when a file changes, looked at no more often than `RECHECK_SECONDS`.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import yaml

from etl_platform.env import views_dir

#: How long the views folder's state is trusted before its files are looked at again.
RECHECK_SECONDS = 5.0

_checked: dict[str, tuple[float, tuple[tuple[str, int], ...]]] = {}


def channel_variables() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(variables holding URLs, variables holding other secrets) of the views' channels."""
    folder = str(views_dir())
    now = time.monotonic()
    seen = _checked.get(folder)
    if seen is None or now - seen[0] > RECHECK_SECONDS:
        seen = (now, _stamp(Path(folder)))
        _checked[folder] = seen
    return _variables(seen[1])


def _stamp(folder: Path) -> tuple[tuple[str, int], ...]:
    # Imported here: the view specs' modules would add a fifth of a second to every process
    # that masks a message, a capture's start included.
    from etl_platform.specs.view_loader import view_files

    stamp = []
    for path in view_files(folder):
        try:
            stamp.append((str(path), path.stat().st_mtime_ns))
        except OSError:
            continue
    return tuple(stamp)


@functools.lru_cache(maxsize=8)
def _variables(stamp: tuple[tuple[str, int], ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    urls: list[str] = []
    others: list[str] = []
    for path, _ in stamp:
        for channel in _channels(Path(path)):
            if channel.get("type") == "webhook":
                urls.append(channel.get("url_env"))
                headers = channel.get("headers_env")
                if isinstance(headers, dict):
                    others.extend(headers.values())
            elif channel.get("type") == "smtp":
                others.append(channel.get("password_env"))
    return _names(urls), _names(others)


def _channels(path: Path) -> list[dict]:
    """The `channel` mappings of a view file's rules; nothing from a file that does not
    parse (the definitions report it)."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return []
    attributes = document.get("attributes") if isinstance(document, dict) else None
    rules = attributes.get("notifications") if isinstance(attributes, dict) else None
    if not isinstance(rules, list):
        return []
    return [
        rule["channel"]
        for rule in rules
        if isinstance(rule, dict) and isinstance(rule.get("channel"), dict)
    ]


def _names(values: list[object]) -> tuple[str, ...]:
    return tuple(sorted({v for v in values if isinstance(v, str) and v}))
