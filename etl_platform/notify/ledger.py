"""What was sent, in PostgreSQL: one row per (view, rule, row key, row version).

Why PostgreSQL and not the lake: two runs of the same day (a retry, a backfill beside the
15-minute refresh, two ECS tasks) must not both send. That needs an atomic "claim this
message unless someone has": a primary key and `INSERT ... ON CONFLICT`, which a folder of
Parquet (local or on S3) cannot give across processes and machines. Production already runs
PostgreSQL for Dagster's storage.

A message's row goes `claimed` (before the send) -> `sent` or `dead`. A `claimed` row older
than the lease is one whose sender died: the next run claims it again and sends it with the
same idempotency key, so a receiver that got it before the crash can drop the repeat.

The rate limit lives here too, so it holds across runs: table `notification_rate` keeps, per
(view, rule), the time of the next free send slot. A sender takes the next slot under the row's
lock (one `INSERT ... ON CONFLICT DO UPDATE`) and waits until it comes: sends of every run and
process are spaced `60 / rate_per_minute` seconds apart, never bursting.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Iterable
from urllib.parse import urlsplit

import psycopg

from etl_platform.env import (
    NOTIFY_LEDGER_SCHEMA_ENV,
    NOTIFY_LEDGER_URL_ENV,
    Environment,
    get_environment,
)
from etl_platform.identifiers import quote_ansi

#: The ledger's PostgreSQL (a secret: it may hold a password).
LEDGER_URL_ENV = NOTIFY_LEDGER_URL_ENV
#: The schema of its table.
LEDGER_SCHEMA_ENV = NOTIFY_LEDGER_SCHEMA_ENV
#: Outside production, the local PostgreSQL (the Redshift stand-in's server) unless set.
LOCAL_LEDGER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_SCHEMA = "etl_platform_notify"
#: Longer than a message's every attempt, backoff and rate wait: a claim this old is dead.
DEFAULT_LEASE = dt.timedelta(minutes=15)
TABLE = "notification_ledger"
RATE_TABLE = "notification_rate"

CLAIMED, SENT, DEAD = "claimed", "sent", "dead"


class LedgerUnavailable(RuntimeError):
    """The ledger cannot be reached or is not configured; the message names the server as
    host:port/database, never the password."""


def ledger_settings(env: Environment | None = None) -> tuple[str, str]:
    """(URL, schema) from the environment, read at run time.

    Raises:
        LedgerUnavailable: in production with `ETL_PLATFORM_NOTIFY_LEDGER_URL` unset.
    """
    url = (os.environ.get(LEDGER_URL_ENV) or "").strip()
    if not url:
        if (env or get_environment()) is Environment.PROD:
            raise LedgerUnavailable(
                f"the notification ledger is not configured: set {LEDGER_URL_ENV}"
            )
        url = LOCAL_LEDGER_URL
    return url, (os.environ.get(LEDGER_SCHEMA_ENV) or DEFAULT_SCHEMA).strip()


def describe_dsn(dsn: str) -> str:
    """host:port/database of a PostgreSQL URL, for messages."""
    try:
        parts = urlsplit(dsn)
        return f"{parts.hostname or '?'}:{parts.port or 5432}{parts.path or ''}"
    except ValueError:
        return "the ledger"


@dataclasses.dataclass(frozen=True)
class Known:
    """A message the ledger already holds: `state`, and for a claim whether its lease runs."""

    state: str
    leased: bool


class Ledger:
    """One connection (autocommit: each claim and mark is committed at once)."""

    def __init__(self, dsn: str, schema: str = DEFAULT_SCHEMA, lease: dt.timedelta = DEFAULT_LEASE):
        self.table = quote_ansi(schema, TABLE)
        self.rate_table = quote_ansi(schema, RATE_TABLE)
        self.schema = schema
        self.lease = lease
        self.where = describe_dsn(dsn)
        try:
            self.conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
        except psycopg.Error as error:
            reason = type(error).__name__
            raise LedgerUnavailable(f"notification ledger at {self.where}: {reason}") from None
        self._ensure()

    def _ensure(self) -> None:
        """The schema and table; a lock so two runs starting together do not race to make them."""
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.table,))
            self.conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ansi(self.schema)}")
            self.conn.execute(
                f"""CREATE TABLE IF NOT EXISTS {self.table} (
                    view_name text NOT NULL,
                    rule text NOT NULL,
                    row_key text NOT NULL,
                    row_version text NOT NULL,
                    idempotency_key text NOT NULL,
                    state text NOT NULL CHECK (state IN ('claimed', 'sent', 'dead')),
                    owner text NOT NULL,
                    claimed_at timestamptz NOT NULL,
                    done_at timestamptz,
                    attempts integer NOT NULL DEFAULT 0,
                    reason text,
                    PRIMARY KEY (view_name, rule, row_key, row_version)
                )"""
            )
            self.conn.execute(
                f"""CREATE TABLE IF NOT EXISTS {self.rate_table} (
                    view_name text NOT NULL,
                    rule text NOT NULL,
                    next_at timestamptz NOT NULL,
                    PRIMARY KEY (view_name, rule)
                )"""
            )

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def known(
        self, view: str, rule: str, messages: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], Known]:
        """The (row key, row version) pairs among `messages` that the ledger holds."""
        wanted = set(messages)
        if not wanted:
            return {}
        rows = self.conn.execute(
            f"SELECT row_key, row_version, state, claimed_at > now() - %s "
            f"FROM {self.table} WHERE view_name = %s AND rule = %s AND row_key = ANY(%s)",
            (self.lease, view, rule, sorted({k for k, _ in wanted})),
        ).fetchall()
        return {(k, v): Known(s, bool(leased)) for k, v, s, leased in rows if (k, v) in wanted}

    def claim(
        self, view: str, rule: str, key: str, version: str, idempotency_key: str, owner: str
    ) -> str | None:
        """Take the message for sending: new, or claimed by a sender whose lease ran out.
        Returns the idempotency key to send it with (the first claim's), or None when it is
        sent, dead-lettered or being sent by someone else."""
        row = self.conn.execute(
            f"""INSERT INTO {self.table} AS l
                    (view_name, rule, row_key, row_version, idempotency_key, state, owner,
                     claimed_at)
                VALUES (%s, %s, %s, %s, %s, 'claimed', %s, now())
                ON CONFLICT (view_name, rule, row_key, row_version) DO UPDATE
                    SET owner = EXCLUDED.owner, claimed_at = now()
                    WHERE l.state = 'claimed' AND l.claimed_at <= now() - %s
                RETURNING l.idempotency_key""",
            (view, rule, key, version, idempotency_key, owner, self.lease),
        ).fetchone()
        return None if row is None else row[0]

    def reserve_send(self, view: str, rule: str, interval: dt.timedelta) -> float:
        """Take the rule's next send slot, shared by every run and process, and say how many
        seconds to wait for it (0 when it is now). Slots are `interval` apart; the row lock
        of the upsert makes two senders take two slots."""
        row = self.conn.execute(
            f"""INSERT INTO {self.rate_table} AS r (view_name, rule, next_at)
                VALUES (%s, %s, clock_timestamp() + %s)
                ON CONFLICT (view_name, rule) DO UPDATE
                    SET next_at = greatest(r.next_at, clock_timestamp()) + %s
                RETURNING extract(epoch FROM r.next_at - %s - clock_timestamp())""",
            (view, rule, interval, interval, interval),
        ).fetchone()
        return max(float(row[0]), 0.0) if row else 0.0

    def mark_sent(self, view: str, rule: str, key: str, version: str, attempts: int) -> None:
        self._finish(view, rule, key, version, SENT, attempts, None)

    def mark_dead(
        self, view: str, rule: str, key: str, version: str, attempts: int, reason: str
    ) -> None:
        self._finish(view, rule, key, version, DEAD, attempts, reason)

    def release(self, view: str, rule: str, key: str, version: str, owner: str) -> None:
        """Give a claim back unsent (the channel refused every message: a credential to fix),
        so the next run sends it."""
        self.conn.execute(
            f"DELETE FROM {self.table} WHERE view_name = %s AND rule = %s AND row_key = %s "
            "AND row_version = %s AND state = 'claimed' AND owner = %s",
            (view, rule, key, version, owner),
        )

    def _finish(
        self,
        view: str,
        rule: str,
        key: str,
        version: str,
        state: str,
        attempts: int,
        reason: str | None,
    ) -> None:
        self.conn.execute(
            f"UPDATE {self.table} SET state = %s, done_at = now(), "
            "attempts = attempts + %s, reason = %s "
            "WHERE view_name = %s AND rule = %s AND row_key = %s AND row_version = %s "
            "AND state = 'claimed'",
            (state, attempts, reason, view, rule, key, version),
        )

    def states(self, view: str, rule: str) -> dict[str, int]:
        """How many messages of the rule are in each state (for tests and operators)."""
        rows = self.conn.execute(
            f"SELECT state, count(*) FROM {self.table} WHERE view_name = %s AND rule = %s "
            "GROUP BY state",
            (view, rule),
        ).fetchall()
        return {state: count for state, count in rows}
