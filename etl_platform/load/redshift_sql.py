"""SQL text for the Redshift destination: types, DDL and the partition swap (pure, no I/O).

One set of builders serves real Redshift (`redshift=True`: DIST/SORT keys, VARBYTE, COPY from
S3) and its PostgreSQL stand-in (`redshift=False`), so the statements the tests run on
PostgreSQL are the ones Redshift runs, minus the clauses PostgreSQL would reject.
Identifiers are always validated and quoted with `quote_ansi`; values are always bound
(`%s`), except COPY's S3 URI and IAM role, which Redshift only takes as literals and which are
validated and quoted here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import pyarrow as pa

from etl_platform.identifiers import quote_ansi, validate_identifier
from etl_platform.layout import PARTITION_COLUMN

STAGE_TABLE = "_etl_stage"
"""The temporary stage table: one per session, so a fixed name is enough."""

# VARCHAR(65535) is Redshift's maximum, counted in *bytes* (an emoji takes 4). Views hold free
# text and JSON of unknown length; Redshift stores VARCHAR at its actual length, so the widest
# declaration costs no disk and rejects only values no Redshift VARCHAR could hold. (The
# PostgreSQL stand-in counts characters, so it accepts a little more than Redshift would.)
MAX_VARCHAR = 65535
MAX_VARBYTE = 65535
MAX_DECIMAL_PRECISION = 38
_UTC_ZONES = frozenset({"UTC", "Etc/UTC", "+00:00"})

_SIMPLE_TYPES: dict[pa.DataType, str] = {
    pa.int8(): "SMALLINT",  # Redshift has no 1-byte integer
    pa.int16(): "SMALLINT",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.uint8(): "SMALLINT",
    pa.uint16(): "INTEGER",
    pa.uint32(): "BIGINT",
    pa.uint64(): "DECIMAL(20,0)",  # no unsigned 64-bit type; 20 digits hold 2^64 - 1
    pa.float32(): "REAL",
    pa.float64(): "DOUBLE PRECISION",
    pa.bool_(): "BOOLEAN",
    pa.string(): f"VARCHAR({MAX_VARCHAR})",
    pa.large_string(): f"VARCHAR({MAX_VARCHAR})",
    pa.date32(): "DATE",
}

_ROLE_ARN = re.compile(r"^arn:aws(?:-cn|-us-gov)?:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")


class ColumnTypeChangedError(ValueError):
    """A view column's type differs from the warehouse column's; columns are never retyped."""


def redshift_type(arrow_type: pa.DataType, *, column: str = "?", redshift: bool = True) -> str:
    """The column type for an Arrow type; `column` only names the place in errors.

    `redshift=False` gives the PostgreSQL stand-in's spelling, which differs only for binary
    (BYTEA: PostgreSQL has no VARBYTE).
    """
    simple = _SIMPLE_TYPES.get(arrow_type)
    if simple is not None:
        return simple
    if pa.types.is_decimal(arrow_type):
        precision, scale = arrow_type.precision, arrow_type.scale
        if precision > MAX_DECIMAL_PRECISION or not 0 <= scale <= precision:
            raise TypeError(
                f"column {column!r}: {arrow_type} does not fit Redshift's DECIMAL "
                f"(precision at most {MAX_DECIMAL_PRECISION}, 0 <= scale <= precision)"
            )
        return f"DECIMAL({precision},{scale})"
    is_ts = pa.types.is_timestamp(arrow_type)
    if is_ts and arrow_type.unit == "us" and arrow_type.tz in _UTC_ZONES:
        return "TIMESTAMPTZ"
    # large_binary too: polars hands binary columns to Arrow as large_binary.
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return f"VARBYTE({MAX_VARBYTE})" if redshift else "BYTEA"
    raise TypeError(
        f"column {column!r}: Arrow type {arrow_type} has no Redshift mapping "
        "(integers, floats, bool, string, decimal(p<=38,s), date32, timestamp[us, UTC], binary)"
    )


def canonical_type(sql_type: str) -> str:
    """One spelling per type, so DDL text and the catalog's `format_type()` compare equal."""
    text = re.sub(r"\s+", " ", sql_type.strip().lower())
    head, _, args = text.partition("(")
    head = _TYPE_ALIASES.get(head.strip(), head.strip())
    args = args.replace(" ", "")
    return f"{head}({args}" if args else head


_TYPE_ALIASES = {
    "int2": "smallint",
    "int": "integer",
    "int4": "integer",
    "int8": "bigint",
    "decimal": "numeric",
    "float4": "real",
    "float8": "double precision",
    "float": "double precision",
    "bool": "boolean",
    "varchar": "character varying",
    "timestamptz": "timestamp with time zone",
    "binary varying": "varbyte",
    "varbinary": "varbyte",
}


def _columns(arrow_schema: pa.Schema, *, redshift: bool) -> list[tuple[str, str]]:
    """(validated name, SQL type) per Arrow field; the partition column is the loader's own."""
    seen: set[str] = set()
    columns = []
    for field in arrow_schema:
        name = validate_identifier(field.name, what="column")
        if name == PARTITION_COLUMN:
            raise ValueError(
                f"column {name!r} is reserved: it holds the partition day, set by the loader"
            )
        if name.lower() in seen:
            raise ValueError(f"column {name!r} appears twice (names compare case-insensitively)")
        seen.add(name.lower())
        columns.append((name, redshift_type(field.type, column=name, redshift=redshift)))
    if not columns:
        raise ValueError("a table needs at least one column besides the partition day")
    return columns


def _dist_clause(dist_key: str | None, names: Sequence[str]) -> str:
    if dist_key is None:
        return ""
    if validate_identifier(dist_key, what="dist key") not in names:
        raise ValueError(f"dist key {dist_key!r} is not one of the columns {list(names)}")
    return f" DISTSTYLE KEY DISTKEY({quote_ansi(dist_key)})"


def create_schema_sql(schema_name: str) -> str:
    return f"CREATE SCHEMA IF NOT EXISTS {quote_ansi(schema_name)}"


def create_table_sql(
    schema_name: str,
    table: str,
    arrow_schema: pa.Schema,
    *,
    dist_key: str | None,
    redshift: bool,
) -> str:
    """The target table: the Arrow columns plus `updated_at DATE NOT NULL` (the day).

    On Redshift the day is the sort key, so the partition DELETE and date-range queries skip
    blocks; without a dist key Redshift picks (`DISTSTYLE AUTO`).
    """
    columns = _columns(arrow_schema, redshift=redshift)
    body = ", ".join(f"{quote_ansi(n)} {t}" for n, t in columns)
    sql = (
        f"CREATE TABLE IF NOT EXISTS {quote_ansi(schema_name, table)} "
        f"({body}, {quote_ansi(PARTITION_COLUMN)} DATE NOT NULL)"
    )
    dist = _dist_clause(dist_key, [n for n, _ in columns])  # validated on both flags
    if redshift:
        sql += f"{dist or ' DISTSTYLE AUTO'} SORTKEY({quote_ansi(PARTITION_COLUMN)})"
    return sql


def create_stage_sql(
    arrow_schema: pa.Schema, *, dist_key: str | None, redshift: bool, stage_table: str = STAGE_TABLE
) -> str:
    """A session-temporary stage with exactly the rows' columns, in their order.

    Not `LIKE` the target: Redshift's COPY from Parquet fills a table's columns by position
    and needs as many columns as the file, while the target also has `updated_at` (not in the
    view's files) and any column older views had. Same dist key as the target, so the
    INSERT into it needs no redistribution.
    """
    columns = _columns(arrow_schema, redshift=redshift)
    body = ", ".join(f"{quote_ansi(n)} {t}" for n, t in columns)
    sql = f"CREATE TEMPORARY TABLE {quote_ansi(stage_table)} ({body})"
    dist = _dist_clause(dist_key, [n for n, _ in columns])
    return sql + dist if redshift else sql


def add_columns_sql(
    schema_name: str,
    table: str,
    existing: Mapping[str, str],
    arrow_schema: pa.Schema,
    *,
    redshift: bool,
) -> list[str]:
    """`ALTER TABLE ... ADD COLUMN` per column new in `arrow_schema` (one per statement, as
    Redshift requires). `existing` maps the table's column names to their catalog types.

    Columns missing from `arrow_schema` stay (NULL in new rows): columns are never dropped.
    On Redshift names match case-insensitively: it folds identifiers to lower case, quoted
    or not (unless `enable_case_sensitive_identifier` is on).

    Raises:
        ColumnTypeChangedError: a column exists with another type; names it and both types.
    """
    if redshift:
        existing = {k.lower(): v for k, v in existing.items()}
    statements = []
    for name, sql_type in _columns(arrow_schema, redshift=redshift):
        key = name.lower() if redshift else name
        if key not in existing:
            statements.append(
                f"ALTER TABLE {quote_ansi(schema_name, table)} "
                f"ADD COLUMN {quote_ansi(name)} {sql_type}"
            )
        elif canonical_type(existing[key]) != canonical_type(sql_type):
            raise ColumnTypeChangedError(
                f"{schema_name}.{table}.{name}: the table has {existing[key]} but the rows "
                f"need {sql_type}; columns are never retyped (add a new column instead)"
            )
    return statements


def schema_exists_sql() -> str:
    """One row when the schema exists; binds (schema,)."""
    return "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s"


def table_columns_sql() -> str:
    """The table's columns and their types, in order; binds (schema, table)."""
    return (
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) "
        "FROM pg_catalog.pg_attribute a "
        "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p') "
        "AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum"
    )


def lock_table_sql(schema_name: str, table: str, *, redshift: bool) -> str:
    """Serialize loads of one table (no racing ADD COLUMNs, no Redshift serializable errors).

    PostgreSQL's SHARE ROW EXCLUSIVE blocks other writers but not readers; Redshift's LOCK
    has no modes.
    """
    name = quote_ansi(schema_name, table)
    return f"LOCK {name}" if redshift else f"LOCK TABLE {name} IN SHARE ROW EXCLUSIVE MODE"


def copy_from_stdin_sql(columns: Sequence[str], stage_table: str = STAGE_TABLE) -> str:
    """PostgreSQL only: the rows streamed by the client into the stage."""
    names = ", ".join(quote_ansi(c) for c in columns)
    return f"COPY {quote_ansi(stage_table)} ({names}) FROM STDIN"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def copy_from_s3_sql(
    schema_name: str | None, stage_table: str, s3_uri: str, iam_role_arn: str
) -> str:
    """Redshift only: load staged Parquet into the stage (`schema_name=None`: a temp table).

    The URI and the role are literals in Redshift's grammar, so they are validated (no
    backslash or control characters, which Redshift's literals might interpret) and quoted.
    """
    if not s3_uri.startswith("s3://") or len(s3_uri) <= len("s3://"):
        raise ValueError(f"staged URI must be s3://bucket/key (got {s3_uri!r})")
    if "\\" in s3_uri or any(ord(ch) < 32 or ord(ch) == 127 for ch in s3_uri):
        raise ValueError(f"staged URI {s3_uri!r} holds a backslash or control character")
    if not _ROLE_ARN.match(iam_role_arn):
        raise ValueError(
            f"IAM role {iam_role_arn!r} does not look like arn:aws:iam::<12 digits>:role/<name>"
        )
    target = quote_ansi(schema_name, stage_table) if schema_name else quote_ansi(stage_table)
    return (
        f"COPY {target} FROM {_literal(s3_uri)} IAM_ROLE {_literal(iam_role_arn)} FORMAT AS PARQUET"
    )


def count_rows_sql(stage_table: str = STAGE_TABLE) -> str:
    return f"SELECT COUNT(*) FROM {quote_ansi(stage_table)}"


def delete_partition_sql(schema_name: str, table: str) -> str:
    """Remove the day's rows; binds the day."""
    return f"DELETE FROM {quote_ansi(schema_name, table)} WHERE {quote_ansi(PARTITION_COLUMN)} = %s"


def insert_from_stage_sql(
    schema_name: str, table: str, columns: Sequence[str], stage_table: str = STAGE_TABLE
) -> str:
    """Move the stage's rows into the target, with the day (bound) as `updated_at`.

    Target columns the rows lack are left out, so they get NULL.
    """
    names = ", ".join(quote_ansi(c) for c in columns)
    return (
        f"INSERT INTO {quote_ansi(schema_name, table)} ({names}, {quote_ansi(PARTITION_COLUMN)}) "
        f"SELECT {names}, CAST(%s AS DATE) FROM {quote_ansi(stage_table)}"
    )
