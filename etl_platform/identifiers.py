"""The one identifier helper: names from config are validated, then quoted per dialect."""

from __future__ import annotations

import re

_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class IdentifierError(ValueError):
    pass


def validate_identifier(name: str, *, what: str = "identifier") -> str:
    """Accept only plain names (letters, digits, underscore; not starting with a digit)."""
    if not isinstance(name, str) or not _PLAIN_NAME.match(name):
        raise IdentifierError(
            f"{what} {name!r} is not a plain name "
            "(letters, digits and _, starting with a letter or _, at most 64 characters)"
        )
    return name


def quote_mysql(*parts: str) -> str:
    """`a`.`b` for MySQL/MariaDB, after validating each part."""
    return ".".join(f"`{validate_identifier(p)}`" for p in parts)


def quote_ansi(*parts: str) -> str:
    """ "a"."b" for PostgreSQL/Redshift/DuckDB/Athena, after validating each part."""
    return ".".join(f'"{validate_identifier(p)}"' for p in parts)


def quote_hive(*parts: str) -> str:
    """`a`.`b` for Athena/Hive DDL, which quotes like MySQL."""
    return quote_mysql(*parts)
