"""Load one day of a view into Redshift (or its PostgreSQL stand-in) in one transaction.

The day's rows go into a session-temporary stage first (PostgreSQL: streamed by the client
with `COPY ... FROM STDIN`; Redshift: `COPY` of the staged Parquet from S3), then the target's
rows for the day are deleted and the stage's inserted, and only then is the transaction
committed. A failure anywhere rolls everything back, so readers keep the previous rows and a
re-run of the day replaces them (same rows, no duplicates). A day written with no rows has no
file to load: `clear_day` only deletes the day's rows.

The DSN may hold a password: it is kept out of `repr`, metadata and error messages;
`RedshiftTarget.describe()` is what gets logged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg.conninfo import conninfo_to_dict

from etl_platform.identifiers import validate_identifier
from etl_platform.load import redshift_sql as sql

CONNECT_TIMEOUT_SECONDS = 10
COPY_BATCH_ROWS = 10_000
CURSOR_COLUMN = "_updated_at"


class RedshiftLoadError(RuntimeError):
    """A partition load failed and was rolled back; names table, day and target, no secret."""


@dataclasses.dataclass(frozen=True)
class RedshiftTarget:
    """Where views are loaded: a connection string and the schema holding the tables."""

    dsn: str = dataclasses.field(repr=False)  # postgresql://… ; may hold the password
    schema: str
    redshift: bool = False  # True on real Redshift: DIST/SORT clauses and COPY from S3
    iam_role_arn: str | None = None  # the role Redshift's COPY reads S3 with

    def __post_init__(self) -> None:
        validate_identifier(self.schema, what="Redshift schema")
        self._conninfo()  # a malformed DSN fails here, not mid-run

    def _conninfo(self) -> dict[str, str]:
        try:
            return {k: str(v) for k, v in conninfo_to_dict(self.dsn).items()}
        except Exception:
            # The parser's message quotes the DSN, which may hold the password.
            raise ValueError(
                "RedshiftTarget: dsn is not a valid connection string (not shown: it may "
                "hold a password)"
            ) from None

    def describe(self) -> str:
        """user@host:port/database, safe for logs: no password."""
        info = self._conninfo()
        return (
            f"{info.get('user', '(default user)')}@{info.get('host', '(default host)')}:"
            f"{info.get('port', '5432')}/{info.get('dbname', '(default db)')}"
        )

    def scrub(self, text: str) -> str:
        """`text` with the DSN's password (and the DSN itself) masked."""
        raw = urlsplit(self.dsn).password if "://" in self.dsn else None  # still %-encoded
        for secret in (self.dsn, raw, self._conninfo().get("password")):
            if secret:
                text = text.replace(secret, "***")
        return text

    def connect(self) -> psycopg.Connection:
        """A connection in a transaction (autocommit off); raises psycopg errors as they are."""
        info = self._conninfo()
        timeout = {} if "connect_timeout" in info else {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
        return psycopg.connect(self.dsn, autocommit=False, **timeout)


def load_partition(
    target: RedshiftTarget,
    table: str,
    day: dt.date,
    rows: pa.Table,
    *,
    dist_key: str | None = None,
    staged_s3_uri: str | None = None,
) -> dict:
    """Replace `table`'s rows for `day` with `rows`, atomically; returns what was done.

    `rows` are the view's columns (no `updated_at`: the loader sets it to `day`). On real
    Redshift the data comes from `staged_s3_uri` instead: Parquet holding exactly `rows`
    (same columns in the same order, as the lake writes them); `rows` still gives the
    schema and the expected row count, which is checked before anything is deleted.

    Raises:
        RedshiftLoadError: anything failed; nothing changed in the warehouse.
    """
    place = f"{target.schema}.{table} day {day} at {target.describe()}"
    try:
        if isinstance(day, dt.datetime) or not isinstance(day, dt.date):
            raise TypeError(f"day must be a datetime.date, got {type(day).__name__}")
        validate_identifier(table, what="table")
        load = _Statements.build(target, table, rows, dist_key, staged_s3_uri)
        _check_day(rows, day)
    except (TypeError, ValueError) as e:
        message = f"{place}: {e}"
        scrubbed = target.scrub(message)
        raise RedshiftLoadError(scrubbed) from (e if scrubbed == message else None)

    run = _Run(target, place)
    with run:
        run.step = "connecting"
        run.conn = target.connect()
        cur = run.conn.cursor()

        run.step = "creating the schema and table"
        # Catalog checks first: CREATE ... IF NOT EXISTS needs the CREATE privilege even
        # when the object exists, which a loading user may lack.
        had_table = bool(run.fetch(cur, sql.table_columns_sql(), (target.schema, table)))
        if not had_table:
            if not run.fetch(cur, sql.schema_exists_sql(), (target.schema,)):
                run.execute(cur, sql.create_schema_sql(target.schema))
            run.execute(cur, load.create_table)

        run.step = "loading the stage"
        run.execute(cur, load.create_stage)
        if staged_s3_uri is None:
            run.log.append(load.copy)
            _copy_rows(cur, load.copy, rows)
        else:
            run.execute(cur, load.copy)
        staged = run.fetch(cur, sql.count_rows_sql())[0][0]
        if staged != rows.num_rows:
            raise _Mismatch(f"the stage holds {staged} rows but {rows.num_rows} were given")

        run.step = "adding columns"
        run.execute(cur, load.lock)
        existing = dict(run.fetch(cur, sql.table_columns_sql(), (target.schema, table)))
        added = sql.add_columns_sql(
            target.schema, table, existing, rows.schema, redshift=target.redshift
        )
        for statement in added:
            run.execute(cur, statement)

        run.step = "deleting the day's rows"
        deleted = run.execute(cur, load.delete, (day,))
        run.step = "inserting from the stage"
        inserted = run.execute(cur, load.insert, (day,))
        run.step = "committing"
        run.conn.commit()

    return {
        "table": f"{target.schema}.{table}",
        "day": day.isoformat(),
        "target": target.describe(),
        "rows_loaded": inserted,
        "rows_deleted": deleted,
        "table_created": not had_table,
        "columns_added": _new_columns(rows.column_names, existing, redshift=target.redshift),
        "statements": [target.scrub(s) for s in run.log],
    }


def clear_day(target: RedshiftTarget, table: str, day: dt.date) -> dict:
    """Delete `table`'s rows for `day`, in one transaction: a view day written with no rows
    has no file to load, and its previous rows must still go. No table yet: nothing to do.

    Raises:
        RedshiftLoadError: anything failed; nothing changed in the warehouse.
    """
    place = f"{target.schema}.{table} day {day} at {target.describe()}"
    try:
        if isinstance(day, dt.datetime) or not isinstance(day, dt.date):
            raise TypeError(f"day must be a datetime.date, got {type(day).__name__}")
        validate_identifier(table, what="table")
    except (TypeError, ValueError) as e:
        raise RedshiftLoadError(target.scrub(f"{place}: {e}")) from None

    run = _Run(target, place)
    deleted = 0
    with run:
        run.step = "connecting"
        run.conn = target.connect()
        cur = run.conn.cursor()
        run.step = "deleting the day's rows"
        if run.fetch(cur, sql.table_columns_sql(), (target.schema, table)):
            run.execute(cur, sql.lock_table_sql(target.schema, table, redshift=target.redshift))
            deleted = run.execute(cur, sql.delete_partition_sql(target.schema, table), (day,))
        run.step = "committing"
        run.conn.commit()

    return {
        "table": f"{target.schema}.{table}",
        "day": day.isoformat(),
        "target": target.describe(),
        "rows_loaded": 0,
        "rows_deleted": deleted,
        "table_created": False,
        "columns_added": [],
        "statements": [target.scrub(s) for s in run.log],
    }


class _Mismatch(Exception):
    """The stage does not hold the rows it should (a staged S3 file that does not match)."""


@dataclasses.dataclass(frozen=True)
class _Statements:
    """The SQL of one load that does not depend on what the catalog says."""

    create_table: str
    create_stage: str
    copy: str
    lock: str
    delete: str
    insert: str

    @classmethod
    def build(
        cls,
        target: RedshiftTarget,
        table: str,
        rows: pa.Table,
        dist_key: str | None,
        staged_s3_uri: str | None,
    ) -> _Statements:
        if target.redshift and staged_s3_uri is None:
            raise ValueError(
                "real Redshift loads from S3: pass staged_s3_uri (COPY FROM STDIN is PostgreSQL's)"
            )
        if staged_s3_uri is not None and not target.redshift:
            raise ValueError("staged_s3_uri needs a Redshift target (PostgreSQL cannot read S3)")
        if staged_s3_uri is not None and target.iam_role_arn is None:
            raise ValueError("COPY from S3 needs the target's iam_role_arn")
        schema, flag = target.schema, target.redshift
        columns = rows.column_names
        if staged_s3_uri is None:
            copy = sql.copy_from_stdin_sql(columns)
        else:
            copy = sql.copy_from_s3_sql(None, sql.STAGE_TABLE, staged_s3_uri, target.iam_role_arn)
        return cls(
            create_table=sql.create_table_sql(
                schema, table, rows.schema, dist_key=dist_key, redshift=flag
            ),
            create_stage=sql.create_stage_sql(rows.schema, dist_key=dist_key, redshift=flag),
            copy=copy,
            lock=sql.lock_table_sql(schema, table, redshift=flag),
            delete=sql.delete_partition_sql(schema, table),
            insert=sql.insert_from_stage_sql(schema, table, columns),
        )


class _Run:
    """One load's connection, current step and statement log; any failure rolls back and is
    re-raised as a `RedshiftLoadError` naming the step, with the password masked."""

    def __init__(self, target: RedshiftTarget, place: str) -> None:
        self.target = target
        self.place = place
        self.step = "starting"
        self.conn: psycopg.Connection | None = None
        self.log: list[str] = []

    def execute(self, cur: psycopg.Cursor, statement: str, params: tuple = ()) -> int:
        self.log.append(statement)
        cur.execute(statement, params or None)
        return cur.rowcount

    def fetch(self, cur: psycopg.Cursor, statement: str, params: tuple = ()) -> list[tuple]:
        self.log.append(statement)
        return cur.execute(statement, params or None).fetchall()

    def __enter__(self) -> _Run:
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, _tb: object) -> bool:
        conn, self.conn = self.conn, None
        if conn is not None:
            if error is not None and not conn.closed:
                with contextlib.suppress(psycopg.Error):  # closing rolls back too
                    conn.rollback()
            conn.close()
        if not isinstance(error, Exception):
            return False  # success, or KeyboardInterrupt and friends: unchanged
        message = f"{self.place}: {self.step} failed, nothing changed: {error}"
        scrubbed = self.target.scrub(message)
        # Chain the original for its traceback unless its text held the secret.
        raise RedshiftLoadError(scrubbed) from (error if scrubbed == message else None)


def _new_columns(names: list[str], existing: dict[str, str], *, redshift: bool) -> list[str]:
    """The names `add_columns_sql` added (Redshift matches names case-insensitively)."""
    if redshift:
        have = {k.lower() for k in existing}
        return [n for n in names if n.lower() not in have]
    return [n for n in names if n not in existing]


def _copy_rows(cur: psycopg.Cursor, statement: str, rows: pa.Table) -> None:
    """Stream the rows into COPY a batch at a time; psycopg formats and escapes each value."""
    with cur.copy(statement) as copy:
        for values in _iter_rows(rows):
            copy.write_row(values)


def _iter_rows(rows: pa.Table) -> Iterator[tuple]:
    for batch in rows.to_batches(max_chunksize=COPY_BATCH_ROWS):
        yield from zip(*(column.to_pylist() for column in batch.columns), strict=True)


def _check_day(rows: pa.Table, day: dt.date) -> None:
    """Every row's `_updated_at` (when the view has it) must fall on the UTC day loaded:
    the day is the partition, and a stray row would be deleted by the wrong day's re-run."""
    if CURSOR_COLUMN not in rows.column_names:
        return
    if not pa.types.is_timestamp(rows.schema.field(CURSOR_COLUMN).type):
        raise ValueError(f"{CURSOR_COLUMN} must be a timestamp[us, UTC] column")
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    ts = rows.column(CURSOR_COLUMN)
    outside = pc.or_(
        pc.less(ts, pa.scalar(start, ts.type)),
        pc.greater_equal(ts, pa.scalar(start + dt.timedelta(days=1), ts.type)),
    )
    stray = pc.sum(outside).as_py() or 0
    if stray:
        first = ts.filter(outside)[0].as_py()
        raise ValueError(
            f"{stray} rows have {CURSOR_COLUMN} outside {day.isoformat()} (first: {first})"
        )
