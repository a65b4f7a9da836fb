"""The `sources.yaml` contract: shards (credentials from the environment only) and tables."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Annotated, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from etl_platform.identifiers import IdentifierError, validate_identifier
from etl_platform.specs.durations import parse_duration
from etl_platform.specs.providers import ProviderSpec


def _identifier(value: str) -> str:
    try:
        return validate_identifier(value)
    except IdentifierError as e:
        raise ValueError(str(e)) from None


Identifier = Annotated[str, pydantic.AfterValidator(_identifier)]


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as UTC)") from None
    return value


TimeZone = Annotated[str, pydantic.AfterValidator(_timezone)]

#: The version column of a snapshot table's lookup state: when the snapshot that saw the row
#: was taken (UTC). Such a table has no cursor of its own.
SNAPSHOT_AT = "_snapshot_at"
#: The fields that only mean something for a table read by cursor day.
INCREMENTAL_ONLY = ("cursor", "null_cursor", "reconcile_keys", "partitions")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ShardSpec(_Strict):
    """One shard. Either `url_env` (a `mysql://user:pass@host:port/db` URL in the environment)
    or `host`/`port`/`user` with the password in `password_env`; `database` overrides the URL's.
    `extract.connection.endpoint_for` resolves it at run time."""

    url_env: str | None = None
    host: str | None = None
    port: int = Field(default=3306, ge=1, le=65535)
    user: str | None = None
    password_env: str | None = None
    database: Identifier | None = None
    timezone: TimeZone | None = None
    #: This shard's own `extract.replica.max_lag_seconds` (a replica known to trail more).
    max_replica_lag_seconds: int | None = Field(default=None, ge=0, le=7 * 86_400)

    @model_validator(mode="after")
    def _one_way_to_connect(self) -> ShardSpec:
        if bool(self.url_env) == bool(self.host):
            raise ValueError("give either url_env or host (with user and password_env), not both")
        if self.host and not self.user:
            raise ValueError("host needs user")
        return self


class CursorFallback(_Strict):
    """`null_cursor: {fallback: created_at}`: a DATE/DATETIME/TIMESTAMP column that places a row
    whose cursor is NULL on its own day instead (the raw row's cursor holds its value)."""

    fallback: Identifier


#: What extraction does with rows whose cursor is NULL, which no cursor window selects:
#: `reject` keeps their keys in the raw zone's rejects, `ignore` only counts them.
NullCursorPolicy = Literal["reject", "ignore"] | CursorFallback


class TableSpec(_Strict):
    """One table extracted from every shard: by cursor day (`incremental`), by cursor day and
    from the binlog within seconds (`cdc`, docs/cdc.md), or read whole on each refresh and
    diffed by key (`snapshot`, for small tables with no usable date column)."""

    primary_key: list[Identifier] = Field(min_length=1)
    mode: Literal["incremental", "cdc", "snapshot"] = "incremental"
    cursor: Identifier = "updated_at"
    json_columns: list[Identifier] = Field(default_factory=list, alias="json")
    start: dt.date | None = None
    exclude_columns: list[Identifier] = Field(default_factory=list)
    shards: list[Identifier] | None = None
    null_cursor: NullCursorPolicy = "reject"
    #: Opt-in, for small lookup tables: compare the shard's key set with the lookup state on a
    #: schedule and drop the keys deleted at the source (a batch read never sees a delete).
    reconcile_keys: bool = False
    #: Columns that differ from the schema snapshot: `evolve` records it and reads the live
    #: columns, `fail` fails the table's asset naming each change.
    on_schema_change: Literal["evolve", "fail"] = "evolve"
    #: How Dagster tracks the raw asset: a partition per day, or per month for a long, sparse
    #: history (one run step and one event per month instead of thirty). The lake keeps a file
    #: per day with rows either way, and the views built from it stay daily.
    partitions: Literal["daily", "monthly"] = "daily"

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def cursor_fallback(self) -> str | None:
        return self.null_cursor.fallback if isinstance(self.null_cursor, CursorFallback) else None

    @property
    def is_snapshot(self) -> bool:
        return self.mode == "snapshot"

    @property
    def is_cdc(self) -> bool:
        """Changes come from the binlog (`cdc.capture`); the batch extract lands the history."""
        return self.mode == "cdc"

    @property
    def version_column(self) -> str:
        """What orders the table's versions in lookup state: the cursor, or for a snapshot
        table the time of the snapshot that saw the row (`SNAPSHOT_AT`)."""
        return SNAPSHOT_AT if self.is_snapshot else self.cursor


class RetrySpec(_Strict):
    max_retries: int = Field(default=3, ge=0, le=20)
    delay_seconds: float = Field(default=10.0, ge=0)


class ReplicaLagSettings(_Strict):
    """How far a shard that is a replica may trail its primary before a read waits for it:
    reading a lagging replica adds load where it is already short and reads stale rows.
    A primary (no replica status) is never waited for."""

    #: Above this many seconds behind (or lag unknown: a stopped replication thread), wait.
    max_lag_seconds: int = Field(default=300, ge=0, le=7 * 86_400)
    #: How long to sleep between two checks.
    wait_seconds: float = Field(default=30, gt=0, le=3_600)
    #: How long one asset waits in all before it fails naming the shard and the lag (0: fail
    #: at the first check above the limit).
    max_wait_seconds: float = Field(default=600, ge=0, le=86_400)


class ExtractSettings(_Strict):
    """How extraction treats the shards."""

    batch_rows: int = Field(default=20_000, ge=100, le=1_000_000)
    max_days_per_run: int = Field(default=31, ge=1, le=3660)
    connect_timeout_seconds: float = Field(default=10, gt=0)
    read_timeout_seconds: float | None = Field(default=3600, gt=0)
    retry: RetrySpec = RetrySpec()
    #: How long after midnight UTC yesterday's partitions are re-read on every raw tick, so a
    #: row committed after midnight with a cursor on yesterday still lands (`2h`, `90m`, a
    #: number of seconds; 0 turns it off; at most `1d`).
    late_commit_grace: str | int = "2h"
    replica: ReplicaLagSettings = ReplicaLagSettings()

    @field_validator("late_commit_grace")
    @classmethod
    def _grace(cls, value: str | int) -> str | int:
        grace = parse_duration(value)
        if not dt.timedelta(0) <= grace <= dt.timedelta(days=1):
            raise ValueError(f"late_commit_grace {value!r} must be between 0 and 1d")
        return value

    @property
    def late_commit_grace_delta(self) -> dt.timedelta:
        return parse_duration(self.late_commit_grace)


class CdcSettings(_Strict):
    """How the binlog capture of `mode: cdc` tables batches, checkpoints and compacts."""

    #: A change file is written (and the checkpoint advanced) when this many seconds passed
    #: since the batch's first change, or when it holds `batch_rows` changes, at a transaction
    #: boundary.
    batch_seconds: float = Field(default=2.0, gt=0, le=300)
    batch_rows: int = Field(default=10_000, ge=1, le=1_000_000)
    #: The server sends a heartbeat this often when the shard is idle, so the lag stays true.
    heartbeat_seconds: float = Field(default=1.0, gt=0, le=60)
    #: A day's change files pass into its day file beyond this many files or bytes.
    compact_files: int = Field(default=50, ge=1)
    compact_bytes: int = Field(default=64 * 2**20, ge=1)
    #: The replication client's server id on each shard is this plus the shard's index; it
    #: must differ from every server's and every other replica's id.
    server_id: int = Field(default=7_400, ge=1, le=2**32 - 1_000)


class SourcesSpec(_Strict):
    timezone: TimeZone = "UTC"
    start: dt.date
    extract: ExtractSettings = ExtractSettings()
    cdc: CdcSettings = CdcSettings()
    shards: dict[Identifier, ShardSpec] = Field(min_length=1)
    tables: dict[Identifier, TableSpec] = Field(min_length=1)
    #: External HTTP APIs read whole on a cron, which views wait for (docs/providers.md).
    providers: dict[Identifier, ProviderSpec] = Field(default_factory=dict)

    @field_validator("shards", "tables", mode="before")
    @classmethod
    def _mapping(cls, value: object) -> object:
        if value is None:
            return {}
        return value

    @model_validator(mode="after")
    def _references(self) -> SourcesSpec:
        problems = []
        for name, table in self.tables.items():
            for shard in table.shards or []:
                if shard not in self.shards:
                    problems.append(f"tables.{name}.shards: unknown shard {shard!r}")
            if table.is_snapshot:
                problems.extend(
                    f"tables.{name}.{field}: a snapshot table (mode: snapshot) takes no "
                    f"{field}: it is read whole on each refresh, not by cursor day"
                    for field in INCREMENTAL_ONLY
                    if field in table.model_fields_set
                )
                kept = set(table.primary_key)
            else:
                if table.is_cdc and table.partitions != "daily":
                    problems.append(
                        f"tables.{name}.partitions: a CDC table (mode: cdc) is partitioned "
                        "daily: its capture reports each day it adds to"
                    )
                kept = set(table.primary_key) | {table.cursor}
            overlap = set(table.exclude_columns) & kept
            if overlap:
                problems.append(
                    f"tables.{name}.exclude_columns: cannot exclude key/cursor column(s) "
                    f"{sorted(overlap)}"
                )
            fallback = table.cursor_fallback
            if fallback is not None and fallback in {table.cursor, *table.exclude_columns}:
                problems.append(
                    f"tables.{name}.null_cursor.fallback: {fallback!r} is the cursor or an "
                    "excluded column"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def table_start(self, table: str) -> dt.date:
        return self.tables[table].start or self.start

    def shard_timezone(self, shard: str) -> str:
        return self.shards[shard].timezone or self.timezone

    def replica_settings(self, shard: str) -> ReplicaLagSettings:
        """`extract.replica`, with the shard's own `max_replica_lag_seconds` if it sets one."""
        own = self.shards[shard].max_replica_lag_seconds
        settings = self.extract.replica
        return settings if own is None else settings.model_copy(update={"max_lag_seconds": own})

    def shards_for(self, table: str) -> list[str]:
        return list(self.tables[table].shards or self.shards)

    def cdc_tables(self, shard: str) -> list[str]:
        """The `mode: cdc` tables read from `shard`'s binlog."""
        return [t for t, spec in self.tables.items() if spec.is_cdc and shard in self.shards_for(t)]
