"""The versions table: built from raw days without a day-to-day chain, read as of a day's end
with the same rows as folding each day into the day before's state."""

import datetime as dt
import random
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl_platform.errors import PartitionMissing
from etl_platform.load.lake import Lake
from etl_platform.steps.lookup_versions import history_gaps, missing_history, sync_versions
from etl_platform.transform.lookups import latest_per_key
from etl_platform.transform.versions import (
    DAY,
    DELETED,
    LOG_POS,
    SEEN,
    VALID_FROM,
    VALID_TO,
    as_of,
    commit_tombstones,
    day_versions,
    with_validity,
)

FIRST = dt.date(2026, 11, 1)
DAYS = [FIRST + dt.timedelta(days=i) for i in range(6)]
SCHEMA = pa.schema([("id", pa.int64()), ("tier", pa.string()), ("updated_at", pa.int64())])
COLUMNS = ["id", "tier", "updated_at"]


def _write_day(lake: Lake, day: dt.date, rows: dict[str, list]) -> None:
    folder = lake.raw("s0", "customers").partition_dir(day)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.parquet"):
        old.unlink()
    pq.write_table(pa.table(rows, schema=SCHEMA), folder / f"part-{random.random()}.parquet")


def _raw_lake(tmp_path: Path) -> Lake:
    """Customers changing over six days; day 3 has an empty file (nothing changed)."""
    lake = Lake(tmp_path)
    for i, day in enumerate(DAYS):
        ids = [] if i == 3 else [i, i + 1, 100 + i]  # ids change again on later days
        _write_day(
            lake,
            day,
            {"id": ids, "tier": [f"t{i}"] * len(ids), "updated_at": [i * 10 + k for k in ids]},
        )
    return lake


def _expected(day_index: int) -> dict[int, str]:
    latest: dict[int, str] = {}
    for i in range(day_index + 1):
        if i != 3:
            for customer in (i, i + 1, 100 + i):
                latest[customer] = f"t{i}"
    return latest


def _sync(lake: Lake):
    return sync_versions(
        lake.raw("s0", "customers"),
        lake.versions("s0", "customers"),
        columns=COLUMNS,
        key=["id"],
        cursor="updated_at",
    )


def _as_of(lake: Lake, day: dt.date) -> dict[int, str]:
    frame = lake.versions("s0", "customers").read(through=day)
    assert frame is not None
    current = as_of(frame, day, key=["id"], cursor="updated_at")
    return dict(current.select("id", "tier").sort("id").iter_rows())


def test_each_day_reads_the_latest_row_of_every_key_as_of_its_end(tmp_path: Path) -> None:
    lake = _raw_lake(tmp_path)
    report = _sync(lake)
    assert report.read_days == DAYS and report.days == len(DAYS)
    assert report.versions == 15 and report.keys == 12
    for i, day in enumerate(DAYS):
        assert _as_of(lake, day) == _expected(i)
    assert _as_of(lake, FIRST - dt.timedelta(days=1)) == {}


def test_versions_carry_their_validity_and_day(tmp_path: Path) -> None:
    lake = _raw_lake(tmp_path)
    _sync(lake)
    frame = lake.versions("s0", "customers").read()
    assert frame is not None
    one = frame.filter(pl.col("id") == 1).sort(VALID_FROM)
    assert one[DAY].to_list() == [DAYS[0], DAYS[1]]
    assert one[VALID_FROM].to_list() == [1, 11]
    assert one[VALID_TO].to_list() == [11, None]


def test_an_update_reads_only_the_days_that_changed(tmp_path: Path) -> None:
    lake = _raw_lake(tmp_path)
    _sync(lake)
    again = _sync(lake)
    assert again.read_days == [] and again.versions == 15
    # Day 4 re-extracted: customer 4 moved on to a later day, so day 4 holds two rows now.
    _write_day(lake, DAYS[4], {"id": [5, 104], "tier": ["t4", "t4"], "updated_at": [45, 144]})
    report = _sync(lake)
    assert report.read_days == [DAYS[4]] and report.versions == 14
    assert 4 not in _as_of(lake, DAYS[4])  # its only version is no longer on any day
    assert _as_of(lake, DAYS[4])[104] == "t4"


def test_a_raw_day_that_went_away_takes_its_versions_with_it(tmp_path: Path) -> None:
    lake = _raw_lake(tmp_path)
    _sync(lake)
    for f in lake.raw("s0", "customers").partition_files(DAYS[5]):
        f.unlink()
    lake.raw("s0", "customers").partition_dir(DAYS[5]).rmdir()
    report = _sync(lake)
    assert report.dropped_days == [DAYS[5]] and report.versions == 12


def test_as_of_equals_folding_day_by_day_on_random_histories() -> None:
    """Several versions of a key in one day, ties on the cursor, keys whose first version
    comes after the day asked: as_of(D) is the latest per key of every version up to D."""
    rng = random.Random(7)
    versions = []
    for d, day in enumerate(DAYS):
        for _ in range(40):
            key = rng.randrange(15)
            versions.append(
                {"id": key, "tier": rng.choice("abc"), "updated_at": d * 10 + rng.randrange(4)}
            )
            versions[-1][DAY] = day
    frame = pl.DataFrame(versions).with_columns(
        pl.col(DAY).cast(pl.Date), pl.lit(False).alias("_deleted"), pl.lit("raw").alias("_origin")
    )
    for day in DAYS:
        upto = frame.filter(pl.col(DAY) <= day).select("id", "tier", "updated_at")
        expected = latest_per_key(upto, key=["id"], cursor="updated_at")
        got = as_of(frame, day, key=["id"], cursor="updated_at")
        assert got.sort("id").equals(expected.sort("id"))


def test_missing_history_names_the_days_between_the_start_and_the_first_day() -> None:
    start = dt.date(2026, 1, 1)
    present = [dt.date(2026, 1, 2), dt.date(2026, 1, 3), dt.date(2026, 1, 9)]
    assert missing_history(present, start, dt.date(2026, 1, 6)) == [
        dt.date(2026, 1, 1),
        dt.date(2026, 1, 4),
        dt.date(2026, 1, 5),
    ]
    assert missing_history([], start, start) == []


def _gaps(lake: Lake, day: dt.date, start: dt.date) -> PartitionMissing | None:
    versions = lake.versions("s0", "customers")
    return history_gaps(
        versions,
        lake.raw("s0", "customers"),
        day,
        start=start,
        synced=set(versions.manifest()),
    )


def test_a_lookup_without_history_is_refused_naming_the_table_shard_start_and_command(
    tmp_path: Path,
) -> None:
    """Without its history most lookups would be NULL and the run would still succeed."""
    lake = _raw_lake(tmp_path)
    _sync(lake)
    problem = _gaps(lake, DAYS[0], start=dt.date(2026, 10, 1))
    assert problem is not None
    message = str(problem)
    assert message.startswith(
        f"state/s0/customers lacks 31 day(s) of raw/s0/customers through {DAYS[0]} "
    )
    assert "(2026-10-01..2026-10-31)" in message and "since its start, 2026-10-01" in message
    assert "`etl-platform run --job extract_raw --start 2026-10-01 --end 2026-10-31`" in message
    assert "backfill raw/s0/customers over those days from the UI" in message


def test_history_extracted_but_not_in_the_versions_asks_for_the_state_only(
    tmp_path: Path,
) -> None:
    lake = _raw_lake(tmp_path)
    problem = _gaps(lake, DAYS[2], start=FIRST)  # never synced
    assert problem is not None
    assert str(problem).endswith("They are extracted: materialize state/s0/customers.")
    _sync(lake)
    assert _gaps(lake, DAYS[5], start=FIRST) is None
    assert _gaps(lake, DAYS[5] + dt.timedelta(days=1), start=FIRST) is not None


def test_a_crash_while_writing_leaves_the_previous_versions_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = _raw_lake(tmp_path)
    _sync(lake)
    before = lake.versions("s0", "customers").read()
    _write_day(lake, DAYS[0], {"id": [7], "tier": ["z"], "updated_at": [9]})

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", disk_full)
    with pytest.raises(OSError, match="disk full"):
        _sync(lake)
    after = lake.versions("s0", "customers").read()
    assert after is not None and before is not None and after.equals(before)
    assert not list(lake.versions("s0", "customers").dataset.staging_dir.glob("*/versions"))


def test_a_view_asking_for_another_column_rebuilds_the_versions(tmp_path: Path) -> None:
    lake = _raw_lake(tmp_path)
    raw, versions = lake.raw("s0", "customers"), lake.versions("s0", "customers")
    sync_versions(raw, versions, columns=["id", "updated_at"], key=["id"], cursor="updated_at")
    assert "tier" not in versions.schema().names
    report = _sync(lake)
    assert report.read_days == DAYS
    assert _as_of(lake, DAYS[5]) == _expected(5)


def _one_version(cursor: object, dtype: pl.DataType, day: dt.date) -> pl.DataFrame:
    rows = pl.DataFrame({"id": [7], "tier": ["pro"], "updated_at": [cursor]}).cast(
        {"updated_at": dtype}
    )
    return day_versions(rows, day, key=["id"])


@pytest.mark.parametrize(
    ("dtype", "cursor", "committed", "stamp"),
    [
        (  # a datetime cursor: the tombstone's is the commit time
            pl.Datetime("us"),
            dt.datetime(2026, 11, 1, 9),
            dt.datetime(2026, 11, 4, 2, tzinfo=dt.UTC),
            dt.datetime(2026, 11, 4, 2),
        ),
        (  # a DATE cursor: the commit's day
            pl.Date,
            dt.date(2026, 11, 1),
            dt.datetime(2026, 11, 4, 2, tzinfo=dt.UTC),
            dt.date(2026, 11, 4),
        ),
        (  # a cursor set ahead of the commit: the tombstone still outranks the version
            pl.Datetime("us"),
            dt.datetime(2026, 11, 5, 9),
            dt.datetime(2026, 11, 4, 2, tzinfo=dt.UTC),
            dt.datetime(2026, 11, 5, 9),
        ),
    ],
)
def test_a_cdc_delete_removes_the_key_from_its_commit_day_on(
    dtype: pl.DataType, cursor: object, committed: dt.datetime, stamp: object
) -> None:
    """Filed on the removed version's day (D1), seen from the commit's day (D4): as of D1..D3
    the version stands, as of D4 the key is gone."""
    version = _one_version(cursor, dtype, FIRST)
    deleted = version.select("id", "updated_at").with_columns(
        pl.lit(committed, pl.Datetime("us", "UTC")).alias("_commit_ts")
    )
    tomb = commit_tombstones(
        deleted,
        day=FIRST,
        key=["id"],
        cursor="updated_at",
        commit="_commit_ts",
        schema=version.schema,
        origin="raw",
    )
    assert tomb.select("updated_at", DAY, SEEN, DELETED).rows() == [
        (stamp, FIRST, dt.date(2026, 11, 4), True)
    ]
    versions = with_validity(pl.concat([version, tomb]), key=["id"], cursor="updated_at")
    standing = [as_of(versions, d, key=["id"], cursor="updated_at").height for d in DAYS[:5]]
    assert standing == [1, 1, 1, 0, 0]


def test_versions_written_before_seen_days_read_by_their_day(tmp_path: Path) -> None:
    """A versions file without `_seen` (written by an older release) counts each version from
    its `_day`, and an update adds the column without reading every day again."""
    version = _one_version(dt.datetime(2026, 11, 2), pl.Datetime("us"), DAYS[1]).drop(SEEN)
    assert as_of(version, DAYS[0], key=["id"], cursor="updated_at").height == 0
    assert as_of(version, DAYS[1], key=["id"], cursor="updated_at").height == 1
    table = Lake(tmp_path).versions("s0", "customers")
    table.replace(with_validity(version, key=["id"], cursor="updated_at").to_arrow(), {})
    assert table.read(through=DAYS[0]).height == 0
    assert table.read(through=DAYS[1]).height == 1


def test_a_key_deleted_then_inserted_again_on_the_same_date_is_there() -> None:
    """A DATE cursor ties the re-insert with the delete's tombstone; the later binlog position
    wins. The shard is in New York: the delete at 22:00 local on Jan 3 (03:00 UTC on Jan 4)
    is dated Jan 3, as the shard dates the re-insert."""
    jan = [dt.date(2024, 1, d) for d in range(1, 6)]
    first = day_versions(
        pl.DataFrame({"id": [7], "tier": ["pro"], "updated_at": [jan[0]], LOG_POS: ["p1"]}),
        jan[0],
        key=["id"],
    )
    deleted = pl.DataFrame(
        {
            "id": [7],
            "updated_at": [jan[0]],
            LOG_POS: ["p5"],
            "_commit_ts": [dt.datetime(2024, 1, 4, 3, tzinfo=dt.UTC)],
        }
    )
    tomb = commit_tombstones(
        deleted,
        day=jan[0],
        key=["id"],
        cursor="updated_at",
        commit="_commit_ts",
        schema=first.schema,
        origin="raw",
        timezone="America/New_York",
    )
    assert tomb.select("updated_at", SEEN, LOG_POS).rows() == [(jan[2], jan[3], "p5")]
    again = day_versions(
        pl.DataFrame({"id": [7], "tier": ["back"], "updated_at": [jan[2]], LOG_POS: ["p6"]}),
        jan[2],
        key=["id"],
    )
    versions = with_validity(pl.concat([first, tomb, again]), key=["id"], cursor="updated_at")
    tiers = [
        as_of(versions, d, key=["id"], cursor="updated_at").get_column("tier").to_list()
        for d in jan
    ]
    assert tiers == [["pro"], ["pro"], ["back"], ["back"], ["back"]]
