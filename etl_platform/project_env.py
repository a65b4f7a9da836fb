"""The project's `.env`: how the CLI and `dg dev` find the demo's settings in a fresh shell.

`make run` (`etl-platform demo up`) writes the demo server's URL and `DAGSTER_HOME` there. The
CLI loads it at start without overriding what the shell already set; `dg dev` reads the same
file itself (Dagster loads `.env` from the folder it runs in, over the shell's values).
`python -m etl_platform.project_env` (`make env`) prepares the local Dagster instance and
records it, so `make dev` finds it before any `make run`.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

from etl_platform.env import DAGSTER_HOME_ENV, PROJECT_ROOT, env_file, local_dagster_home

HEADER = (
    "# Local settings that `make env` and `make run` write (the Dagster instance, the demo's\n"
    "# server), read by the etl-platform command and by `dg dev`. Lines of your own are kept.\n"
)
#: A value written as is; anything else is quoted, so that python-dotenv reads it back as is.
_PLAIN = re.compile(r"[A-Za-z0-9_@:/.,+%=~-]*")

_loaded: set[str] = set()


def load_env_file(path: Path | None = None) -> list[str]:
    """Set the variables of `.env` that the environment does not already have; their names."""
    names = []
    for name, value in file_values(path or env_file()).items():
        if name not in os.environ:
            os.environ[name] = value
            names.append(name)
    _loaded.update(names)
    return names


def file_values(path: Path | None = None) -> dict[str, str]:
    """The variables `.env` sets; python-dotenv parses it, as Dagster does."""
    from dotenv import dotenv_values

    path = path or env_file()
    if not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def from_env_file(name: str) -> bool:
    """Whether this process took `name` from `.env` (not from its own environment)."""
    return name in _loaded


def prepare_local_home() -> Path:
    """The local instance's folder with the repo's `dagster.yaml` (kept in step with it)."""
    home = local_dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config, template = home / "dagster.yaml", PROJECT_ROOT / "dagster.yaml"
    if not config.is_file() or config.read_bytes() != template.read_bytes():
        shutil.copyfile(template, config)
    return home


def ensure_dagster_home() -> Path | None:
    """`DAGSTER_HOME`, set to the local instance when unset, which is then prepared: a fresh
    shell, or a `.local` removed since, needs no step first. A home set elsewhere is left as
    it is."""
    configured = os.environ.get(DAGSTER_HOME_ENV)
    if not configured and not (PROJECT_ROOT / "dagster.yaml").is_file():
        # Installed as a package, not run from a checkout: no local instance to set up; a
        # command that needs an instance says DAGSTER_HOME is not set.
        return None
    home = Path(configured or local_dagster_home())
    os.environ[DAGSTER_HOME_ENV] = str(home)
    if home.resolve() == local_dagster_home():
        prepare_local_home()
    return home


def record_local_home(path: Path | None = None) -> None:
    """Name the local instance in `.env` unless it names one: `dg dev` takes `DAGSTER_HOME`
    from there, so it shows the runs the CLI made."""
    path = path or env_file()
    if not file_values(path).get(DAGSTER_HOME_ENV):
        record({DAGSTER_HOME_ENV: str(local_dagster_home())}, path)


def prepare() -> None:
    """What a command run from a shell needs before it reads any setting."""
    load_env_file()
    ensure_dagster_home()


def _line(name: str, value: str) -> str:
    if _PLAIN.fullmatch(value):
        return f"{name}={value}\n"
    if "'" not in value and "\\" not in value:
        return f"{name}='{value}'\n"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{name}="{escaped}"\n'


def record(values: Mapping[str, str | None], path: Path | None = None) -> Path:
    """Write `values` into `.env` (None removes a name), keeping every other line; readable by
    its owner only, since a URL may hold a password."""
    path = path or env_file()
    lines = path.read_text().splitlines(keepends=True) if path.is_file() else [HEADER]
    pending = dict(values)
    kept = []
    for line in lines:
        match = re.match(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=", line)
        name = match.group(1) if match else None
        if name in values:
            value = pending.pop(name, None)
            if value is not None:
                kept.append(_line(name, value))
        else:
            kept.append(line if line.endswith("\n") else line + "\n")
    kept.extend(_line(name, value) for name, value in pending.items() if value is not None)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    os.chmod(path, 0o600)  # it may hold a server's password: its owner's alone, new or not
    path.write_text("".join(kept))
    return path


def main() -> int:
    """`make env`: the local instance ready and named in `.env`, for `make dev`."""
    record_local_home()
    prepare_local_home()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
