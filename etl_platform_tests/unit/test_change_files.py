"""Change files in the lake: named by their positions, put in place atomically, listed in
position order without the files being written, removed once compacted."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl_platform.load import atomic_swap, change_files
from etl_platform.load.change_files import ChangeLog, file_name, file_positions
from etl_platform.load.lake import Lake
from etl_platform.transform.changes import COMMIT_TS, OP, POS

DAY = dt.date(2026, 3, 2)
TS = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("tier", pa.large_string()),
        (OP, pa.large_string()),
        (POS, pa.large_string()),
        (COMMIT_TS, TS),
    ]
)


def _pos(n: int, row: int = 0) -> str:
    return f"0000000001-{n:012d}-{row:06d}"


def _changes(rows: list[tuple[int, str, str, int]]) -> pa.Table:
    """(id, tier, op, position number) rows."""
    at = dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC)
    return pa.table(
        {
            "id": [r[0] for r in rows],
            "tier": [r[1] for r in rows],
            OP: [r[2] for r in rows],
            POS: [_pos(r[3]) for r in rows],
            COMMIT_TS: [at] * len(rows),
        },
        schema=SCHEMA,
    )


@pytest.fixture
def log(tmp_path: Path) -> ChangeLog:
    return Lake(tmp_path).changes("s0", "customers")


def test_the_lake_places_change_files_apart_from_raw_days(tmp_path: Path) -> None:
    log = Lake(tmp_path).changes("s0", "customers")
    assert log.dir == tmp_path / "changes" / "s0" / "customers"
    assert log.day_dir(DAY) == log.dir / "updated_at=2026-03-02"
    assert log.name == "changes/s0/customers"


def test_a_file_is_named_by_its_first_and_last_position(log: ChangeLog) -> None:
    path = log.write(DAY, _changes([(2, "b", "update", 30), (1, "a", "insert", 10)]))
    assert path.name == f"c-{_pos(10)}-{_pos(30)}.parquet"
    assert file_positions(path) == (_pos(10), _pos(30))
    assert pq.read_table(path).equals(_changes([(2, "b", "update", 30), (1, "a", "insert", 10)]))
    assert [p.name for p in log.day_dir(DAY).iterdir()] == [path.name]  # no temp file left


def test_positions_are_read_back_from_any_name() -> None:
    assert file_positions(Path(file_name("1-2", "3-4"))) == ("1-2", "3-4")
    with pytest.raises(ValueError, match="not a change file name"):
        file_positions(Path("part-00000.parquet"))


def test_files_are_listed_in_position_order_and_a_file_being_written_is_not_one(
    log: ChangeLog,
) -> None:
    later = log.write(DAY, _changes([(1, "b", "update", 20)]))
    earlier = log.write(DAY, _changes([(1, "a", "insert", 10)]))
    (log.day_dir(DAY) / f"c-{_pos(30)}-{_pos(30)}.parquet.tmp").write_bytes(b"half")
    assert log.files(DAY) == [earlier, later]
    assert log.files(DAY + dt.timedelta(days=1)) == []
    assert log.days() == {DAY}


def test_read_concatenates_the_days_files(log: ChangeLog) -> None:
    assert log.read(DAY) is None
    log.write(DAY, _changes([(1, "a", "insert", 10)]))
    log.write(DAY, _changes([(1, "b", "update", 20), (2, "c", "insert", 21)]))
    frame = log.read(DAY, ["id", "tier"])
    assert frame is not None
    assert frame.rows() == [(1, "a"), (1, "b"), (2, "c")]
    assert log.bytes(DAY) == sum(f.stat().st_size for f in log.files(DAY))


def test_a_replay_rewrites_the_same_file(log: ChangeLog) -> None:
    table = _changes([(1, "a", "insert", 10), (2, "b", "insert", 11)])
    first = log.write(DAY, table)
    again = log.write(DAY, table)
    assert first == again and log.files(DAY) == [first]
    assert pq.read_table(first).equals(table)


def test_a_write_that_fails_before_the_rename_leaves_no_change_file(
    log: ChangeLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*_args: object) -> None:
        raise OSError("crash")

    monkeypatch.setattr(change_files.os, "replace", crash)
    with pytest.raises(OSError, match="crash"):
        log.write(DAY, _changes([(1, "a", "insert", 10)]))
    assert log.files(DAY) == [] and log.days() == set()
    assert [p.suffix for p in log.day_dir(DAY).iterdir()] == [".tmp"]


def test_the_file_and_its_folder_are_flushed(
    log: ChangeLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real = change_files.fsync_path

    def spy(path: Path) -> None:
        synced.append(path.name)
        real(path)

    monkeypatch.setattr(change_files, "fsync_path", spy)
    monkeypatch.setattr(atomic_swap, "fsync_path", spy)  # `make_folders` flushes with it
    path = log.write(DAY, _changes([(1, "a", "insert", 10)]))
    # the new folders' entries, the temp file's data, then the rename
    parents = [p.name for p in log.day_dir(DAY).parents][:4]
    assert synced == [*reversed(parents), path.name + ".tmp", "updated_at=2026-03-02"]
    synced.clear()
    second = log.write(DAY, _changes([(1, "b", "update", 20)]))
    assert synced == [second.name + ".tmp", "updated_at=2026-03-02"]


def test_changes_without_rows_or_positions_are_refused(log: ChangeLog) -> None:
    with pytest.raises(ValueError, match="at least one change"):
        log.write(DAY, _changes([]))
    no_pos = _changes([(1, "a", "insert", 10)]).set_column(
        3, POS, pa.array([None], pa.large_string())
    )
    with pytest.raises(ValueError, match="_log_pos"):
        log.write(DAY, no_pos)


def test_removed_files_are_gone_and_the_others_stay(log: ChangeLog) -> None:
    first = log.write(DAY, _changes([(1, "a", "insert", 10)]))
    second = log.write(DAY, _changes([(1, "b", "update", 20)]))
    log.remove([first, first.with_name("c-gone-gone.parquet")])
    assert log.files(DAY) == [second]
    log.remove([second])
    assert log.files(DAY) == [] and log.days() == set()
    assert os.path.isdir(log.day_dir(DAY))
