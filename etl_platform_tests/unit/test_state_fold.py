"""fold_days: each day's lookup state is the previous day's with that day's rows folded in,
written while the next day is folded."""

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl_platform.load.lake import Dataset, Lake
from etl_platform.load.lake_reads import read_frame
from etl_platform.runtime.parallel import ENV_THREADS
from etl_platform.steps.state_days import fold_days

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
