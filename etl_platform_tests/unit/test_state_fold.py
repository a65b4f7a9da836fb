"""fold_days: each day's lookup state is the previous day's with that day's rows folded in,
written while the next day is folded."""

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl_platform.errors import PartitionMissing
from etl_platform.load.lake import Dataset, Lake
from etl_platform.load.lake_reads import read_frame
from etl_platform.runtime.parallel import ENV_THREADS
from etl_platform.steps.state_days import fold_days, missing_history, require_history

FIRST = dt.date(2026, 11, 1)
DAYS = [FIRST + dt.timedelta(days=i) for i in range(6)]
SCHEMA = pa.schema([("id", pa.int64()), ("tier", pa.string()), ("updated_at", pa.int64())])


def _raw_lake(tmp_path: Path) -> Lake:
    """Customers changing over six days; day 3 has no file (nothing changed)."""
    lake = Lake(tmp_path)
    for i, day in enumerate(DAYS):
        if i == 3:
            continue
        ids = [i, i + 1, 100 + i]  # ids change again on later days
        folder = lake.raw("s0", "customers").partition_dir(day)
        folder.mkdir(parents=True)
        table = pa.table(
            {"id": ids, "tier": [f"t{i}"] * 3, "updated_at": [i * 10 + k for k in range(3)]},
            schema=SCHEMA,
        )
        pq.write_table(table, folder / "part-00000.parquet")
    return lake


def _expected(day_index: int) -> dict[int, str]:
    latest: dict[int, str] = {}
    for i in range(day_index + 1):
        if i != 3:
            for customer in (i, i + 1, 100 + i):
                latest[customer] = f"t{i}"
    return latest


def _fold(lake: Lake) -> dict[dt.date, int]:
    return fold_days(
        lake.raw("s0", "customers"),
        lake.state("s0", "customers"),
        DAYS,
        columns=["id", "tier", "updated_at"],
        key=["id"],
        cursor="updated_at",
        schema=SCHEMA,
    )


@pytest.mark.parametrize("threads", ["1", "2"])
def test_each_day_holds_the_latest_row_of_every_key_as_of_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: str
) -> None:
    monkeypatch.setenv(ENV_THREADS, threads)
    lake = _raw_lake(tmp_path)
    state = lake.state("s0", "customers")
    sizes = _fold(lake)
    assert list(sizes) == DAYS
    for i, day in enumerate(DAYS):
        frame = read_frame(state, day, ["id", "tier"])
        assert frame is not None
        assert dict(frame.sort("id").iter_rows()) == _expected(i)
        assert sizes[day] == len(_expected(i))


def test_a_failed_write_fails_the_fold_and_stops_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_THREADS, "2")
    lake = _raw_lake(tmp_path)
    state = lake.state("s0", "customers")
    real = Dataset.write_partitions

    def failing(self: Dataset, tables: dict, schema: pa.Schema) -> dict:
        if DAYS[2] in tables:
            raise OSError("disk full")
        return real(self, tables, schema)

    monkeypatch.setattr(Dataset, "write_partitions", failing)
    with pytest.raises(OSError, match="disk full"):
        _fold(lake)
    written = [d for d in DAYS if state.partition_files(d)]
    assert DAYS[2] not in written
    # At most the one day already in flight beside the failed one is written after it.
    assert set(written) <= {DAYS[0], DAYS[1], DAYS[3]}


def _require(lake: Lake, first: dt.date, start: dt.date) -> None:
    require_history(
        lake.raw("s0", "customers"),
        lake.state("s0", "customers"),
        first,
        start=start,
        shard="s0",
        table="customers",
    )


def test_missing_history_names_the_days_between_the_start_and_the_first_day() -> None:
    start = dt.date(2026, 1, 1)
    present = [dt.date(2026, 1, 2), dt.date(2026, 1, 3), dt.date(2026, 1, 9)]
    assert missing_history(present, start, dt.date(2026, 1, 6)) == [
        dt.date(2026, 1, 1),
        dt.date(2026, 1, 4),
        dt.date(2026, 1, 5),
    ]
    assert missing_history([], start, start) == []


def test_a_state_without_history_is_refused_naming_the_table_shard_start_and_command(
    tmp_path: Path,
) -> None:
    """Folded from nothing, most lookups would be NULL and the run would still succeed."""
    lake = _raw_lake(tmp_path)
    with pytest.raises(PartitionMissing) as info:
        _require(lake, FIRST, start=dt.date(2026, 10, 1))
    message = str(info.value)
    assert message.startswith("state/s0/customers: raw/s0/customers lacks 31 day(s) before ")
    assert "(2026-10-01..2026-10-31)" in message
    assert "lookup state of customers on s0" in message and "since its start, 2026-10-01" in message
    assert "`etl-platform run --job extract_raw --start 2026-10-01 --end 2026-10-31`" in message
    assert "backfill raw/s0/customers over those days from the UI" in message


def test_a_partial_history_is_refused_naming_the_missing_ranges(tmp_path: Path) -> None:
    lake = _raw_lake(tmp_path)
    with pytest.raises(PartitionMissing) as info:
        _require(lake, DAYS[5], start=FIRST - dt.timedelta(days=2))
    message = str(info.value)
    assert f"lacks 3 day(s) before {DAYS[5]} (2026-10-30..2026-10-31, {DAYS[3]})" in message
    assert f"--start 2026-10-30 --end {DAYS[3]}`" in message


def test_history_is_not_needed_from_the_first_day_with_all_raw_days_or_with_yesterdays_state(
    tmp_path: Path,
) -> None:
    lake = _raw_lake(tmp_path)
    _require(lake, FIRST, start=FIRST)  # nothing before the table's first day
    _require(lake, DAYS[3], start=FIRST)  # days 0-2 are all there
    with pytest.raises(PartitionMissing):
        _require(lake, DAYS[4], start=FIRST)  # day 3 has no folder
    _fold(lake)
    _require(lake, DAYS[5], start=FIRST - dt.timedelta(days=30))  # the day before has state
