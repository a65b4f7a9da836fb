"""Replica protection without a server: reading the status row, and the wait on a fake clock."""

from __future__ import annotations

import pydantic
import pymysql
import pytest

from etl_platform.extract.replica_lag import (
    PRIMARY,
    PROMOTED,
    ReplicaLagError,
    ReplicaStatus,
    lag_metadata,
    read_replica_status,
    status_from_row,
    wait_for_replica,
    worst,
)
from etl_platform.specs.sources import ReplicaLagSettings, SourcesSpec

MARIADB = {
    "Master_Host": "10.0.0.5",
    "Master_Port": 3306,
    "Master_Log_File": "binlog.000003",
    "Read_Master_Log_Pos": 9000,
    "Relay_Master_Log_File": "binlog.000003",
    "Exec_Master_Log_Pos": 9000,
    "Slave_IO_Running": "Yes",
    "Slave_SQL_Running": "Yes",
    "Seconds_Behind_Master": 0,
    "Last_SQL_Errno": 0,
    "Last_SQL_Error": "",
    "Last_IO_Errno": 0,
    "Last_IO_Error": "",
}
#: MySQL 8.0.22 and later name the same columns after the source.
MYSQL = {
    "Source_Host": "10.0.0.5",
    "Source_Port": 3306,
    "Source_Log_File": "binlog.000003",
    "Read_Source_Log_Pos": 9000,
    "Relay_Source_Log_File": "binlog.000003",
    "Exec_Source_Log_Pos": 4000,
    "Replica_IO_Running": "Yes",
    "Replica_SQL_Running": "Yes",
    "Seconds_Behind_Source": 420,
}


@pytest.mark.parametrize(
    ("row", "lag", "io", "sql", "words"),
    [
        (MARIADB, 0, True, True, ["0s behind its primary 10.0.0.5:3306", "applied all it read"]),
        (MYSQL, 420, True, True, ["420s behind", "5000 bytes of binlog.000003 read but not"]),
        (
            {**MARIADB, "Slave_SQL_Running": "No", "Seconds_Behind_Master": None,
             "Exec_Master_Log_Pos": 8000, "Last_SQL_Errno": 1062,
             "Last_SQL_Error": "Duplicate entry 'alice@x.com' for key 'email'"},
            None, True, False,
            ["SQL thread is stopped (Last_SQL_Errno 1062; see SHOW REPLICA STATUS on the shard)",
             "unknown",
             "Seconds_Behind_Master is NULL", "1000 bytes of binlog.000003 read but not applied"],
        ),
        (
            {**MARIADB, "Slave_IO_Running": "Connecting", "Seconds_Behind_Master": 3},
            None, False, True, ["IO thread is not running (Connecting)", "lag is unknown"],
        ),
        (
            {**MARIADB, "Seconds_Behind_Master": None},
            None, True, True, ["cannot tell its lag"],
        ),
        (
            {**MARIADB, "Relay_Master_Log_File": "binlog.000002", "Exec_Master_Log_Pos": 77,
             "Seconds_Behind_Master": b"12"},
            12, True, True, ["applied to binlog.000002:77, read to binlog.000003:9000"],
        ),
    ],
    ids=["caught_up", "mysql_names", "sql_stopped", "io_stopped", "lag_null", "other_file"],
)  # fmt: skip
def test_a_status_row_reads_as_lag_threads_and_a_reason(row, lag, io, sql, words) -> None:
    status = status_from_row(row)
    assert (status.role, status.lag_seconds, status.io_running, status.sql_running) == (
        "replica",
        lag,
        io,
        sql,
    )
    assert all(w in status.reason for w in words), status.reason


def test_an_unknown_lag_is_too_far_behind_and_a_primary_never_is() -> None:
    stopped = status_from_row({**MARIADB, "Slave_SQL_Running": "No"})
    assert stopped.too_far_behind(10_000)
    assert not PRIMARY.too_far_behind(0)
    assert not ReplicaStatus("unknown", None, False, False, "no grant").too_far_behind(0)
    assert status_from_row({**MARIADB, "Seconds_Behind_Master": 301}).too_far_behind(300)
    assert not status_from_row({**MARIADB, "Seconds_Behind_Master": 300}).too_far_behind(300)


def test_of_several_channels_the_furthest_behind_counts() -> None:
    a, b = (status_from_row({**MARIADB, "Seconds_Behind_Master": n}) for n in (5, 50))
    stopped = status_from_row({**MARIADB, "Slave_SQL_Running": "No"})
    assert worst([a, b]) is b
    assert worst([a, stopped, b]) is stopped
    assert worst([]) is PRIMARY


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _lags(*lags: int | None):
    """A check that answers these lags in turn (None: the SQL thread stopped)."""
    answers = iter(lags)

    def check() -> ReplicaStatus:
        lag = next(answers)
        if lag is None:
            return status_from_row({**MARIADB, "Slave_SQL_Running": "No"})
        return status_from_row({**MARIADB, "Seconds_Behind_Master": lag})

    return check


SETTINGS = ReplicaLagSettings(max_lag_seconds=60, wait_seconds=30, max_wait_seconds=100)


def test_a_replica_within_the_limit_is_read_at_once() -> None:
    clock = FakeClock()
    warnings: list[str] = []
    status = wait_for_replica(
        _lags(60), SETTINGS, shard="s1", table="t", warn=warnings.append,
        sleep=clock.sleep, clock=clock,
    )  # fmt: skip
    assert status.lag_seconds == 60 and clock.sleeps == [] and warnings == []
    assert lag_metadata(status) == {"replica_lag_seconds": 60}
    assert lag_metadata(PRIMARY) == {}


def test_a_lagging_replica_is_waited_for_until_it_catches_up() -> None:
    clock = FakeClock()
    warnings: list[str] = []
    infos: list[str] = []
    status = wait_for_replica(
        _lags(None, 400, 3), SETTINGS, shard="s1", table="orders",
        warn=warnings.append, info=infos.append, sleep=clock.sleep, clock=clock,
    )  # fmt: skip
    assert status.lag_seconds == 3
    assert clock.sleeps == [30, 30]
    assert len(warnings) == 2
    assert (
        "replica lag unknown is above the 60s limit; waiting 30s before reading `orders`"
        in (warnings[0])
    )
    assert "SQL thread is stopped" in warnings[0]
    assert "replica lag 400s" in warnings[1] and "(30s waited so far)" in warnings[1]
    assert infos == [
        "shard s1: replica lag 3s is within the 60s limit after waiting 60s; reading `orders`"
    ]


def test_a_replica_that_stays_behind_fails_naming_the_shard_and_the_lag() -> None:
    clock = FakeClock()
    with pytest.raises(ReplicaLagError) as raised:
        wait_for_replica(
            _lags(*[900] * 10), SETTINGS, shard="shard_07", table="orders",
            sleep=clock.sleep, clock=clock,
        )  # fmt: skip
    # The last sleep is cut to what is left of max_wait_seconds.
    assert clock.sleeps == [30, 30, 30, 10]
    message = str(raised.value)
    assert message.startswith("shard shard_07: replica lag 900s is above the 60s limit")
    assert "after waiting 100s" in message and "`orders` was not read" in message
    assert raised.value.status.lag_seconds == 900


def test_max_wait_zero_fails_at_the_first_check() -> None:
    clock = FakeClock()
    settings = SETTINGS.model_copy(update={"max_wait_seconds": 0})
    with pytest.raises(ReplicaLagError, match="replica lag unknown"):
        wait_for_replica(
            _lags(None), settings, shard="s1", table="t", sleep=clock.sleep, clock=clock
        )
    assert clock.sleeps == []


def test_a_user_without_the_grant_is_read_with_a_warning() -> None:
    warnings: list[str] = []
    unknown = ReplicaStatus("unknown", None, False, False, "the user may not read it")
    status = wait_for_replica(
        lambda: unknown, SETTINGS, shard="s1", table="t", warn=warnings.append
    )
    assert status is unknown
    assert warnings == ["shard s1: the user may not read it; reading t anyway"]


def _sources(extract: str = "", shard: str = "") -> SourcesSpec:
    import yaml

    return SourcesSpec.model_validate(
        yaml.safe_load(
            f"start: 2024-01-01\n{extract}\n"
            f"shards:\n  s1: {{url_env: U}}\n  s2: {{url_env: U{shard}}}\n"
            "tables:\n  t: {primary_key: [id]}\n"
        )
    )


def test_replica_settings_default_and_a_shards_own_limit() -> None:
    sources = _sources(
        "extract: {replica: {max_lag_seconds: 10, wait_seconds: 1}}",
        shard=", max_replica_lag_seconds: 900",
    )
    assert sources.replica_settings("s1") == ReplicaLagSettings(
        max_lag_seconds=10, wait_seconds=1, max_wait_seconds=600
    )
    assert sources.replica_settings("s2").max_lag_seconds == 900
    assert _sources().replica_settings("s1") == ReplicaLagSettings(
        max_lag_seconds=300, wait_seconds=30, max_wait_seconds=600
    )


@pytest.mark.parametrize(
    "extract",
    [
        "extract: {replica: {max_lag_seconds: -1}}",
        "extract: {replica: {wait_seconds: 0}}",
        "extract: {replica: {max_wait_seconds: 100000}}",
        "extract: {replica: {max_lag: 5}}",
    ],
    ids=["negative_lag", "zero_wait", "wait_too_long", "unknown_field"],
)
def test_replica_settings_out_of_range_are_refused(extract: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="replica"):
        _sources(extract)


class FakeConnection:
    """Answers `SHOW ... STATUS` as a server of one kind would: `errors` maps a statement to
    the pymysql error it raises, `rows` is what the statement that works returns."""

    def __init__(
        self, errors: dict[str, Exception], rows: list[dict], read_only: int | None = None
    ) -> None:
        self.errors, self.status_rows, self.statements = errors, rows, []
        self.read_only = read_only

    def cursor(self) -> FakeConnection:
        return self

    def __enter__(self) -> FakeConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute(self, statement: str) -> None:
        self.statements.append(statement)
        if statement in self.errors:
            raise self.errors[statement]
        self.rows = self.status_rows
        if "@@read_only" in statement:
            assert self.read_only is not None, "read_only asked of a server with running threads"
            self.rows = [{"read_only": self.read_only}]
        names = list(self.rows[0]) if self.rows else []
        self.description = [(n,) for n in names]

    def fetchall(self) -> list[tuple]:
        return [tuple(r.values()) for r in self.rows]


def test_an_older_server_is_asked_show_slave_status() -> None:
    old = FakeConnection(
        {"SHOW REPLICA STATUS": pymysql.err.ProgrammingError(1064, "syntax")},
        [{**MARIADB, "Seconds_Behind_Master": 7}],
    )
    status = read_replica_status(old)
    assert old.statements == ["SHOW REPLICA STATUS", "SHOW SLAVE STATUS"]
    assert (status.role, status.lag_seconds) == ("replica", 7)
    assert read_replica_status(FakeConnection({}, [])) is PRIMARY


def test_a_user_who_may_not_read_the_status_is_not_checked() -> None:
    denied = pymysql.err.OperationalError(1227, "Access denied; you need REPLICA MONITOR")
    status = read_replica_status(FakeConnection({"SHOW REPLICA STATUS": denied}, []))
    assert status.role == "unknown" and "REPLICA MONITOR" in status.reason
    other = pymysql.err.OperationalError(1146, "no such table")
    with pytest.raises(pymysql.err.OperationalError):
        read_replica_status(FakeConnection({"SHOW REPLICA STATUS": other}, []))


def test_no_error_text_is_shown_only_its_number() -> None:
    """`Last_SQL_Error`/`Last_IO_Error` quote row values (a customer's e-mail): the reason, and
    so the warnings and the failure, show the errno and where to look."""
    row = {
        **MARIADB,
        "Slave_SQL_Running": "No",
        "Slave_IO_Running": "No",
        "Last_SQL_Errno": 1062,
        "Last_SQL_Error": "Duplicate entry 'alice@x.com' for key 'email'",
        "Last_IO_Errno": "2003",
        "Last_IO_Error": "error connecting to master 'repl@10.0.0.5:3306'",
    }
    clock, warnings = FakeClock(), []
    with pytest.raises(ReplicaLagError) as e:
        wait_for_replica(
            lambda: status_from_row(row),
            ReplicaLagSettings(max_lag_seconds=60, wait_seconds=30, max_wait_seconds=30),
            shard="s1",
            table="t",
            warn=warnings.append,
            sleep=clock.sleep,
            clock=clock,
        )
    for text in [str(e.value), *warnings]:
        assert "alice@x.com" not in text and "Duplicate entry" not in text
        assert "Last_SQL_Errno 1062; see SHOW REPLICA STATUS on the shard" in text
    sql_ok = status_from_row({**row, "Slave_SQL_Running": "Yes"})
    assert "Last_IO_Errno 2003; see SHOW REPLICA STATUS" in sql_ok.reason
    assert "repl@" not in sql_ok.reason


STOPPED = {**MARIADB, "Slave_IO_Running": "No", "Slave_SQL_Running": "No"}


@pytest.mark.parametrize(
    ("row", "read_only", "role"),
    [
        (STOPPED, 0, "primary"),
        (STOPPED, "OFF", "primary"),
        (STOPPED, 1, "replica"),
        ({**STOPPED, "Slave_IO_Running": "Yes"}, None, "replica"),
        ({**STOPPED, "Slave_SQL_Running": "Yes"}, None, "replica"),
    ],
    ids=["both_stopped_writable", "read_only_off", "both_stopped_read_only", "sql_only", "io_only"],
)
def test_a_promoted_primary_with_a_stale_replica_status_is_read_as_a_primary(
    row: dict, read_only: int | str | None, role: str
) -> None:
    status = read_replica_status(FakeConnection({}, [row], read_only=read_only))
    assert status.role == role
    assert (status is PROMOTED) == (role == "primary")
    assert status.too_far_behind(60) == (role == "replica")


def test_a_promoted_primary_is_read_at_once_with_a_warning_to_reset_it() -> None:
    clock, warnings = FakeClock(), []
    status = wait_for_replica(
        lambda: PROMOTED,
        SETTINGS,
        shard="shard_7",
        table="orders",
        warn=warnings.append,
        sleep=clock.sleep,
        clock=clock,
    )
    assert status is PROMOTED and clock.sleeps == [] and lag_metadata(status) == {}
    assert len(warnings) == 1
    assert warnings[0].startswith("shard shard_7: ") and "RESET REPLICA ALL" in warnings[0]
