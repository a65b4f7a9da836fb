"""Read many paths of a JSON text column with one parse per document (DuckDB's JSON reader).

polars' `str.json_path_match` parses a document again for every path it reads. DuckDB reads
all the paths of a document in one pass (yyjson, on every core) straight from the Arrow
memory, so the parses per document do not grow with the number of paths.

DuckDB's reader is lenient where MariaDB's JSON_VALID is not (trailing commas, NaN and
Infinity): the few documents that could be relying on that are checked again strictly, so a
document is valid here exactly when it is valid JSON.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence

import duckdb
import polars as pl
import pyarrow as pa

Path = tuple[str, ...]

#: JSON type names as DuckDB's `json_type` gives them.
OBJECT, ARRAY, STRING, NULL = "OBJECT", "ARRAY", "VARCHAR", "NULL"
#: Text that could only be valid to a lenient parser: a trailing comma, or NaN or infinity
#: (any case) where a value starts. Strings may match too; those documents are just re-read.
_TRAILING_COMMA = r",\s*[\]}]"
#: A closing bracket after a comma or whitespace: every trailing comma has one. The regex
#: engine finds these two-byte pairs with SIMD (`_TRAILING_COMMA` stops at every comma), and
#: compact documents, `", "`-separated ones included, have none but the trailing commas
#: themselves: only the documents that do are searched with the exact pattern.
_CLOSER_AFTER_COMMA_OR_SPACE = r"[, \t\n\r][\]}]"
#: NaN or infinity inside an object or array (JSON whitespace only, as the parser takes no
#: other). Kept apart from the document's start: the regex engine looks for the letters first,
#: and an alternation with `^` defeats that search.
_NAN_OR_INF_INSIDE = r"[:,\[][ \t\n\r]*[-+]?(?i:nan|inf)"
#: ... or as the whole document: looked for only in documents that do not start with `{`.
_NAN_OR_INF_AT_START = r"^[ \t\n\r]*[-+]?(?i:nan|inf)"

_local = threading.local()
#: Text per Arrow batch handed to DuckDB (`_source_table`), within these row bounds (DuckDB's
#: vectors are 2,048 rows; tiny documents still make batches worth a task).
_BATCH_BYTES = 512 * 1024
_MIN_BATCH_ROWS, _MAX_BATCH_ROWS = 64, 2_048


_database: duckdb.DuckDBPyConnection | None = None
_database_lock = threading.Lock()


def _connection() -> duckdb.DuckDBPyConnection:
    """A connection per thread to one in-memory DuckDB per process: days shaped on threads
    share its worker threads and memory instead of each holding its own."""
    global _database
    con = getattr(_local, "con", None)
    if con is None:
        with _database_lock:
            if _database is None:
                # Results are matched to their input rows by position: keep DuckDB's row order.
                _database = duckdb.connect(config={"preserve_insertion_order": True})
        con = _local.con = _database.cursor()
    return con


def share_cores(readers: int) -> None:
    """Give DuckDB the machine's cores divided among `readers` threads that query it at once.

    Two days shaped at once, each with DuckDB on every core, would oversubscribe the machine;
    a run of a single day still gets every core.
    """
    threads = max(1, (os.cpu_count() or 1) // max(1, readers))
    _connection().execute(f"SET threads = {int(threads)}")


def pointer(path: Sequence[str]) -> str:
    """JSON pointer for object keys (RFC 6901): reaches any key, `~` and `/` escaped."""
    return "".join("/" + key.replace("~", "~0").replace("/", "~1") for key in path)


def _sql_list(items: Sequence[str]) -> str:
    """A DuckDB list literal of strings (our own pointers; quotes doubled)."""
    return "[" + ", ".join("'" + item.replace("'", "''") + "'" for item in items) + "]"


def _query(con: duckdb.DuckDBPyConnection, sql: str, **tables: pa.Table) -> pl.DataFrame:
    for name, table in tables.items():
        con.register(name, table)
    try:
        return pl.from_arrow(con.sql(sql).to_arrow_table())  # type: ignore[return-value]
    finally:
        for name in tables:
            con.unregister(name)


def _source_table(texts: pl.Series) -> pa.Table:
    """The texts as an Arrow table in batches of about `_BATCH_BYTES` of text.

    DuckDB's scan holds far more per batch than the batch's text, so batches are kept small
    to bound the query's memory. Batches are also what DuckDB's threads share.
    """
    texts = texts.cast(pl.String)
    # String views straight from polars' memory: no copy into a contiguous string array.
    table = pa.table({"src": texts.to_arrow(compat_level=pl.CompatLevel.newest())})
    mean = texts.str.len_bytes().mean()
    per_row = int(mean) if isinstance(mean, int | float) and mean >= 1 else 1
    size = min(_MAX_BATCH_ROWS, max(_MIN_BATCH_ROWS, _BATCH_BYTES // per_row))
    return pa.Table.from_batches(table.to_batches(max_chunksize=size), table.schema)


def read_paths(
    texts: pl.Series, paths: Sequence[Path], *, types: Sequence[bool] | None = None
) -> pl.DataFrame:
    """Per document: its status, and each path's JSON type, text and JSON text.

    Returns a frame as tall as `texts` with
      `status`: null for NULL, "invalid", "null" (the literal), "object" or "other";
      `type{j}`: the JSON type at `paths[j]` (`OBJECT`, `ARRAY`, `VARCHAR`, `BIGINT`, `UBIGINT`,
          `DOUBLE`, `BOOLEAN`, `NULL`), null when missing or when a parent is not an object;
      `text{j}`: the value as text: strings unquoted, other values as their JSON, JSON null
          and missing values null;
      `json{j}`: the value as compact JSON text (strings quoted), null as for `text{j}`;
      `broken{j}`: a parent of the path holds a value that is not an object (or null).
    Values are read from objects only. Duplicate keys: the first one counts. `types` (one flag
    a path, all by default) says which paths get `type{j}`: telling a number's type apart is
    most of what a path costs here, and a caller that types the text itself does not need it.
    """
    typed = [True] * len(paths) if types is None else list(types)
    if len(typed) != len(paths):
        raise ValueError(f"types: {len(typed)} flags for {len(paths)} paths")
    parents = _parents(paths)
    out = _query(_connection(), _paths_sql(paths, parents), src_table=_source_table(texts))
    if out.height != texts.len():
        raise AssertionError(f"JSON reader returned {out.height} rows for {texts.len()}")
    out = out.with_columns(_broken(paths, parents))
    valid = _strictly_valid(texts, out["valid"])
    status = (
        pl.when(pl.lit(texts).is_null())
        .then(None)
        .when(~valid)
        .then(pl.lit("invalid"))
        .when(pl.col("root") == NULL)
        .then(pl.lit("null"))
        .when(pl.col("root") == OBJECT)
        .then(pl.lit("object"))
        .otherwise(pl.lit("other"))
    )
    # A document only a lenient parser accepts reads as invalid: nothing is read from it.
    demoted = valid.not_() & out["valid"].fill_null(False)
    read = (pl.col("root") == OBJECT).fill_null(False) & ~pl.col("_demoted")
    # A value is there unless it is JSON null (the only value whose text starts with `n`:
    # NaN was demoted above), missing, or under a parent that is not an object.
    out = out.with_columns(_demoted=demoted, _status=status).with_columns(
        (read & ~pl.col(f"b{j}") & ~pl.col(f"v{j}").str.starts_with("n"))
        .fill_null(False)
        .alias(f"p{j}")
        for j in range(len(paths))
    )
    columns = [pl.col("_status").alias("status")]
    for j in range(len(paths)):
        value, present = pl.col(f"v{j}"), pl.col(f"p{j}")
        string = present & value.str.starts_with('"')
        escaped = string & value.str.contains("\\", literal=True)
        if typed[j]:
            columns.append(pl.when(present).then(_kind(value)).alias(f"type{j}"))
        columns += [
            # A string's text is what lies between its quotes, decoded where it has escapes;
            # other values' text is their JSON.
            pl.when(~present)
            .then(None)
            .when(escaped)
            .then(pl.when(escaped).then(value).str.json_decode(pl.String))
            .when(string)
            .then(value.str.slice(1, value.str.len_chars() - 2))
            .otherwise(value)
            .alias(f"text{j}"),
            pl.when(present).then(value).alias(f"json{j}"),
            (pl.col(f"b{j}") & ~pl.col("_demoted")).alias(f"broken{j}"),
        ]
    return out.select(columns)


def _parents(paths: Sequence[Path]) -> list[Path]:
    """The parents of the nested paths, each once, in order."""
    return list(dict.fromkeys(path[:d] for path in paths for d in range(1, len(path))))


def _suspect(path: Path) -> bool:
    """Whether a present value can still be under a parent that is not an object: a key of
    digits also indexes an array (`/items/0`)."""
    return any(key.isdigit() for key in path)


def _broken(paths: Sequence[Path], parents: Sequence[Path]) -> list[pl.Expr]:
    """`b{j}` from the parents' JSON types (`t{i}`, read only where some path needed them):
    a value is missing, or maybe misread, under a parent that is neither object nor null."""
    bad = [
        (pl.col(f"t{i}").is_not_null() & ~pl.col(f"t{i}").is_in([OBJECT, NULL])).fill_null(False)
        for i in range(len(parents))
    ]
    flags = []
    for j, path in enumerate(paths):
        mine = [bad[parents.index(path[:d])] for d in range(1, len(path))]
        if not mine:
            flags.append(pl.lit(False).alias(f"b{j}"))
            continue
        broken = pl.any_horizontal(mine)
        if not _suspect(path):
            broken = broken & pl.col(f"v{j}").is_null()
        flags.append(broken.alias(f"b{j}"))
    return flags


def _paths_sql(paths: Sequence[Path], parents: Sequence[Path]) -> str:
    """One parse per object document for every path (plus one for its parents where needed).

    Only the values' JSON text comes back: what each is (from its first character) and a
    string's text are worked out by polars, since each expression here costs DuckDB time to
    bind on every call, however small the slice, and to evaluate.
    """
    values_sql = _sql_list([pointer(p) for p in paths])
    # The parents' types are read (one more parse) only where a nested value is missing, or
    # where a key could index an array: a few rows, not every document. One list for all
    # paths, so a row missing two nested values (no address: no city, no country) is parsed
    # once more, not twice.
    needs = [
        "true" if _suspect(path) else f"jv[{j + 1}] IS NULL"
        for j, path in enumerate(paths)
        if len(path) > 1
    ]
    parent_types = []
    if parents:
        parent_types = [
            f"CASE WHEN root = '{OBJECT}' AND ({' OR '.join(needs)}) THEN "
            f"json_type(src, {_sql_list([pointer(p) for p in parents])}) END AS pt"
        ]
    flags = [f"pt[{i + 1}] AS t{i}" for i in range(len(parents))]
    values = ", ".join(f"jv[{j + 1}]::VARCHAR AS v{j}" for j in range(len(paths)))
    # A document that looks like a whole object (`{` ... `}`, nearly every one) is parsed once:
    # the extract is its check, since an extract from valid JSON is never NULL. TRY makes a
    # malformed one NULL instead of failing the query; DuckDB then redoes that document's
    # vector row by row, so what fails that often (truncated text, not JSON) is kept out of
    # it by the shape test and goes through `json_valid` first. Valid JSON whose first
    # character is `{` is an object: no parse needed to know it.
    return f"""
        WITH shaped AS (
            SELECT src, starts_with(src, '{{') AND ends_with(src, '}}') AS whole FROM src_table
        ), quick AS (
            SELECT src, whole,
                CASE WHEN whole THEN TRY(json_extract(src, {values_sql})) END AS jq
            FROM shaped
        ), checked AS (
            SELECT src, whole, jq,
                CASE WHEN whole THEN jq IS NOT NULL ELSE json_valid(src) END AS valid
            FROM quick
        ), rooted AS (
            SELECT src, whole, jq, valid, CASE WHEN NOT valid THEN NULL
                WHEN starts_with(src, '{{') THEN '{OBJECT}' ELSE json_type(src) END AS root
            FROM checked
        ), valued AS (
            SELECT src, valid, root, CASE WHEN whole THEN jq
                WHEN root = '{OBJECT}' THEN json_extract(src, {values_sql}) END AS jv
            FROM rooted
        ), typed AS (
            SELECT valid, root, jv{"".join(", " + c for c in parent_types)} FROM valued
        )
        SELECT {", ".join(["valid", "root", *flags, values])} FROM typed
    """


#: What a value is, by the first character of its JSON text (DuckDB's `json_type` names).
_FIRST_CHARACTER = {"{": OBJECT, "[": ARRAY, '"': STRING, "n": NULL, "t": "BOOLEAN", "f": "BOOLEAN"}


def _kind(value: pl.Expr) -> pl.Expr:
    """The JSON type of a value's text, as DuckDB's `json_type` names it. A number is DOUBLE
    when written with a fraction or exponent or too large for 64 bits, else BIGINT when
    negative and UBIGINT when not."""
    first = value.str.head(1)
    digits = value.str.strip_prefix("-")
    length = digits.str.len_bytes()
    negative = first == "-"
    # Digit strings of one length compare as their numbers do (JSON has no leading zeros).
    too_large = (
        pl.when(negative)
        .then((length > 19) | ((length == 19) & (digits > "9223372036854775808")))
        .otherwise((length > 20) | ((length == 20) & (digits > "18446744073709551615")))
    )
    number = (
        pl.when(value.str.contains(r"[.eE]") | too_large)
        .then(pl.lit("DOUBLE"))
        .when(negative)
        .then(pl.lit("BIGINT"))
        .otherwise(pl.lit("UBIGINT"))
    )
    kind = first.replace_strict(_FIRST_CHARACTER, default=number, return_dtype=pl.String)
    return pl.when(value.is_not_null()).then(kind)


def _strictly_valid(texts: pl.Series, lenient_valid: pl.Series) -> pl.Series:
    """DuckDB's verdict, with documents that may lean on its leniency parsed again strictly."""
    valid = lenient_valid.fill_null(False)
    suspect = valid & texts.str.contains(_NAN_OR_INF_INSIDE).fill_null(False)
    maybe = (valid & texts.str.contains(_CLOSER_AFTER_COMMA_OR_SPACE).fill_null(False)).arg_true()
    suspect = _or_matching(suspect, texts, maybe, _TRAILING_COMMA)
    bare = (valid & ~texts.str.starts_with("{").fill_null(False)).arg_true()
    suspect = _or_matching(suspect, texts, bare, _NAN_OR_INF_AT_START)
    rows = suspect.arg_true()
    if rows.len() == 0:
        return valid
    strict = [_strictly_json(text) for text in texts.gather(rows).to_list()]
    return valid.scatter(rows, pl.Series(strict, dtype=pl.Boolean))


def _or_matching(flags: pl.Series, texts: pl.Series, rows: pl.Series, pattern: str) -> pl.Series:
    """`flags`, set also where `texts` match `pattern`, searched on `rows` only (the few that
    a cheaper test let through)."""
    if rows.len() == 0:
        return flags
    found = texts.gather(rows).str.contains(pattern).fill_null(False)
    return flags.scatter(rows, flags.gather(rows) | found)


def _strictly_json(text: str) -> bool:
    """JSON as RFC 8259 has it: Python's reader (no trailing commas) without its NaN and
    Infinity, nested as deep as the interpreter allows (polars' reader stops at 127)."""
    try:
        json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return False
    return True


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def key_paths(texts: pl.Series, *, max_depth: int, skip: Sequence[Path] = ()) -> pl.DataFrame:
    """Every key path of the objects in `texts` down to `max_depth`, with rows having it.

    Paths under one in `skip` are not descended into (their parents are still reported).
    Returns `path` (list of keys) and `rows`, sorted by path. Invalid JSON is ignored.
    """
    table = _source_table(texts)
    con = _connection()
    found: dict[Path, int] = {}
    level: list[Path] = [()]
    for _depth in range(max_depth):
        parents = [p for p in level if not any(p[: len(s)] == s for s in skip if s)]
        if not parents:
            break
        counts = _child_keys(con, table, parents)
        level = []
        for (index, key), rows in counts.items():
            path = (*parents[index], key)
            found[path] = rows
            level.append(path)
    ordered = sorted(found)
    return pl.DataFrame(
        {"path": [list(p) for p in ordered], "rows": [found[p] for p in ordered]},
        schema={"path": pl.List(pl.String), "rows": pl.Int64},
    )


def _child_keys(
    con: duckdb.DuckDBPyConnection, table: pa.Table, parents: Sequence[Path]
) -> dict[tuple[int, str], int]:
    """{(parent index, key): rows whose object at that parent has the key}."""
    pointers = _sql_list([pointer(p) or "" for p in parents])
    sql = f"""
        SELECT i - 1 AS i, k, count(*) AS n FROM (
            SELECT i, unnest(list_distinct(ks)) AS k FROM (
                SELECT unnest(range(1, {len(parents) + 1})) AS i,
                       unnest(json_keys(src, {pointers})) AS ks
                FROM src_table WHERE json_valid(src) AND json_type(src) = '{OBJECT}'
            )
        ) GROUP BY ALL
    """
    frame = _query(con, sql, src_table=table)
    return {(int(i), str(k)): int(n) for i, k, n in frame.iter_rows()}
