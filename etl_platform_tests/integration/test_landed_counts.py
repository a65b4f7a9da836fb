"""The `rows_match_shard` check of raw assets, run through Dagster against the real MariaDB."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pyarrow.compute as pc
import pymysql
import pytest

from etl_platform.components import landed_count_check
from etl_platform.components.landed_count_check import ROWS_MATCH_SHARD
from etl_platform.components.mysql_sources import build_source_asset
from etl_platform.extract import extractor
from etl_platform.extract.connection import MySqlEndpoint, shard_unavailable
from etl_platform.resources import LakeResource, MySqlShardsResource
from etl_platform.specs.loader import load_sources
from etl_platform_tests.conftest import TEST_MYSQL_URL, run_sql

pytestmark = pytest.mark.integration

D1, D2, D3 = dt.date(2024, 3, 1), dt.date(2024, 3, 2), dt.date(2024, 3, 3)

#: `items.updated_at` is a DATETIME in the shard's zone (New York, UTC-5 in March): 19:00 there
#: is midnight UTC, so ids 1 and 2 straddle the UTC day boundary.
ITEMS = [
    (1, "2024-03-01 18:59:59.999999"),  # 2024-03-01 23:59:59.999999 UTC
    (2, "2024-03-01 19:00:00"),  # 2024-03-02 00:00 UTC
    (3, "2024-03-01 10:00:00"),
    (4, "2024-03-02 20:00:00"),  # 2024-03-03 01:00 UTC
    (5, "2024-03-02 08:00:00"),
    (6, None),  # in no day
]
#: `labels`: a latin1 string key with non-ASCII text, a TIMESTAMP cursor (compared in UTC).
LABELS = [("café", "2024-03-01 23:30:00"), ("naïve", "2024-03-02 00:30:00"), ("plain", None)]


@pytest.fixture
def shard(scratch_db: MySqlEndpoint) -> MySqlEndpoint:
    run_sql(
        scratch_db,
        "CREATE TABLE items (id BIGINT PRIMARY KEY, updated_at DATETIME(6) NULL, KEY (updated_at))",
        "CREATE TABLE labels (code VARCHAR(20) CHARACTER SET latin1 PRIMARY KEY, "
        "updated_at TIMESTAMP(6) NULL DEFAULT NULL, KEY (updated_at))",
        "CREATE TABLE events (id INT PRIMARY KEY, created_on DATE NULL, "
        "updated_at DATETIME NULL, KEY (updated_at))",
        # id 2 has no cursor: its fallback day places it; id 3 has neither and is in no day.
        "INSERT INTO events VALUES (1, NULL, '2024-03-01 20:00:00'), "
        "(2, '2024-03-01', NULL), (3, NULL, NULL)",
    )
    for row in ITEMS:
        run_sql(scratch_db, "INSERT INTO items VALUES (%s, %s)", params=row)
    for row in LABELS:
        run_sql(scratch_db, "INSERT INTO labels VALUES (%s, %s)", params=row)
    return scratch_db


@pytest.fixture
def materialize(
    shard: MySqlEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., dg.ExecuteInProcessResult]]:
    """Materialize `raw/shard_ny/<table>` for a range of days; returns Dagster's result."""
    path = tmp_path / "sources.yaml"
    path.write_text(
        f"""
timezone: UTC
start: 2024-03-01
extract: {{retry: {{max_retries: 0, delay_seconds: 0}}, connect_timeout_seconds: 2,
          late_commit_grace: 0}}
shards:
  shard_ny: {{url_env: ETL_TEST_SHARD_URL, database: {shard.database},
              timezone: America/New_York}}
tables:
  items:  {{primary_key: [id], null_cursor: ignore}}
  labels: {{primary_key: [code], null_cursor: ignore}}
  events: {{primary_key: [id], null_cursor: {{fallback: created_on}}}}
"""
    )
    monkeypatch.setenv("ETL_PLATFORM_SOURCES", str(path))
    monkeypatch.setenv("ETL_TEST_SHARD_URL", TEST_MYSQL_URL)
    sources = load_sources(path)
    resources = {
        "mysql_shards": MySqlShardsResource(),
        "lake": LakeResource(root=str(tmp_path / "lake")),
    }

    def run(table: str, first: dt.date, last: dt.date) -> dg.ExecuteInProcessResult:
        with dg.instance_for_test() as instance:
            return dg.materialize(
                [build_source_asset(sources, "shard_ny", table)],
                resources=resources,
                instance=instance,
                tags={
                    "dagster/asset_partition_range_start": first.isoformat(),
                    "dagster/asset_partition_range_end": last.isoformat(),
                },
            )

    yield run


def _check(result: dg.ExecuteInProcessResult):
    (evaluation,) = [
        e for e in result.get_asset_check_evaluations() if e.check_name == ROWS_MATCH_SHARD
    ]
    return evaluation


def _per_day(evaluation) -> dict[str, tuple[int, int, str]]:
    return {
        d["day"]: (d["shard_rows"], d["landed_rows"], d["status"])
        for d in evaluation.metadata["per_day"].value
    }


def _per(evaluation) -> list[dict]:
    return evaluation.metadata["per_day"].value


def _wrap_reader(monkeypatch: pytest.MonkeyPatch, around: Callable) -> None:
    """Put `around(batches)` between the extract and its real reader."""
    real = extractor.get_batch_reader

    def get(backend: str):
        read = real(backend)
        return lambda *a, **kw: around(read(*a, **kw))

    monkeypatch.setattr(extractor, "get_batch_reader", get)


def test_a_clean_extract_matches_the_shard_day_by_day_in_the_shards_time_zone(
    materialize,
) -> None:
    evaluation = _check(materialize("items", D1, D3))
    assert evaluation.passed, evaluation.description
    # The UTC days of the New York wall clock, as the extract placed them; NULL is in none.
    assert _per_day(evaluation) == {
        "2024-03-01": (2, 2, "match"),
        "2024-03-02": (2, 2, "match"),
        "2024-03-03": (1, 1, "match"),
    }
    assert evaluation.metadata["key_checksum"].value == "BIT_XOR(CRC32(`id`))"
    assert all(d["shard_checksum"] == d["landed_checksum"] for d in _per(evaluation))

    labels = _check(materialize("labels", D1, D2))
    assert labels.passed, labels.description
    assert _per_day(labels) == {"2024-03-01": (1, 1, "match"), "2024-03-02": (1, 1, "match")}
    assert all(d["shard_checksum"] not in (None, 0) for d in _per(labels))
    assert all(d["shard_checksum"] == d["landed_checksum"] for d in _per(labels))

    events = _check(materialize("events", D1, D2))
    assert events.passed, events.description
    assert _per_day(events) == {"2024-03-01": (1, 1, "match"), "2024-03-02": (1, 1, "match")}


def test_a_row_lost_by_the_read_fails_the_check_naming_the_day_and_shard(
    materialize, monkeypatch: pytest.MonkeyPatch
) -> None:
    def drop_id_4(batches):
        for batch in batches:
            yield batch.filter(pc.not_equal(batch.column("id"), 4))

    _wrap_reader(monkeypatch, drop_id_4)
    result = materialize("items", D1, D3)
    assert result.success  # a warning: the materialization stands
    evaluation = _check(result)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.description == (
        "shard shard_ny table `items`: landed rows differ from the shard on "
        "2024-03-03: shard 1 rows, landed 0 (key checksums differ)"
    )
    assert evaluation.metadata["days_differing"].value == ["2024-03-03"]


def test_a_row_committed_during_the_read_is_unsettled_not_a_difference(
    materialize, shard: MySqlEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = []

    def insert_meanwhile(batches):
        yield from batches  # the read's snapshot is taken: the insert is not in it
        if not reads:
            run_sql(shard, "INSERT INTO items VALUES (7, '2024-03-01 12:00:00')")
        reads.append(1)

    _wrap_reader(monkeypatch, insert_meanwhile)
    evaluation = _check(materialize("items", D1, D3))
    assert evaluation.passed, evaluation.description
    assert _per_day(evaluation)["2024-03-01"] == (3, 2, "unsettled")
    assert evaluation.metadata["days_unsettled"].value == ["2024-03-01"]
    assert "unsettled, written during the read: 2024-03-01" in (evaluation.description or "")

    # The next read of the day lands the row: the day matches again.
    again = _check(materialize("items", D1, D1))
    assert again.passed and _per_day(again) == {"2024-03-01": (3, 3, "match")}


def _failing_count(monkeypatch: pytest.MonkeyPatch, call: int, error: Exception) -> list[int]:
    """Make the shard's `call`-th count (1: before the read, 2: after it) raise `error`."""
    real, calls = landed_count_check.count_window, []

    def count(request):
        calls.append(1)
        if len(calls) == call:
            raise error
        return real(request)

    monkeypatch.setattr(landed_count_check, "count_window", count)
    return calls


def _timed_out(shard: MySqlEndpoint) -> Exception:
    """What `count_window` raises when its statement outlives `extract.read_timeout`."""
    lost = pymysql.err.OperationalError(2013, "Lost connection to server during query (timed out)")
    return shard_unavailable("shard_ny", shard, "items", lost)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (1, "timeout"),
        (2, "timeout"),
        (2, pymysql.err.OperationalError(1969, "Query execution was interrupted")),
    ],
    ids=["timeout_before_the_read", "timeout_after_the_read", "server_error_after_the_read"],
)
def test_a_count_that_fails_leaves_the_check_not_counted_and_the_extract_lands(
    materialize, shard: MySqlEndpoint, monkeypatch: pytest.MonkeyPatch, call: int, error
) -> None:
    """The count is the check's, not the extract's: a timeout or a server error neither fails
    nor retries the asset; the check is WARN `not counted: <reason>`."""
    calls = _failing_count(monkeypatch, call, _timed_out(shard) if error == "timeout" else error)
    result = materialize("items", D1, D3)
    assert result.success
    assert result.get_asset_materialization_events()
    evaluation = _check(result)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert (evaluation.description or "").startswith("not counted: ")
    assert ("Lost connection" if error == "timeout" else "interrupted") in evaluation.description
    assert len(calls) == call  # no count after one that failed before the read


def test_a_shard_down_before_the_read_still_fails_its_asset(
    materialize, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("ETL_TEST_SHARD_URL", f"mysql://etl:pw-down-9@127.0.0.1:{port}/")
    with pytest.raises(
        dg.Failure, match=r"shard shard_ny \(127\.0\.0\.1:\d+.* is unavailable"
    ) as e:
        materialize("items", D1, D1)
    assert "pw-down-9" not in str(e.value)
