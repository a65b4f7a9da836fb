"""A writer killed mid-write leaves nothing that a glob over the lake reads, and the next
successful write of its dataset removes what it staged. Real processes, killed with SIGKILL."""

from __future__ import annotations

import datetime as dt
import errno
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from etl_platform.env import PROJECT_ROOT
from etl_platform.load import atomic_swap
from etl_platform.load import staging as staging_module
from etl_platform.load.lake import Lake
from etl_platform.load.staging import staging_root

SCHEMA = pa.schema([("id", pa.int64()), ("updated_at", pa.timestamp("us", tz="UTC"))])
DAY = dt.date(2024, 3, 1)
DAY_ROWS = pa.array([DAY], pa.date32())

#: A writer that stages a row group (a file without its footer yet) and waits to be killed.
_WRITER = """
import datetime as dt, sys, time
from pathlib import Path
import pyarrow as pa
from etl_platform.load.lake import Lake

schema = pa.schema([("id", pa.int64()), ("updated_at", pa.timestamp("us", tz="UTC"))])
day = dt.date.fromisoformat(sys.argv[2])
ts = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
writer = Lake(Path(sys.argv[1])).raw("s0", "orders").open_window([day], schema, row_group_rows=1)
batch = pa.RecordBatch.from_pydict({"id": [100, 101], "updated_at": [ts, ts]}, schema=schema)
writer.write(batch, pa.array([day, day], pa.date32()))
print(writer.staging, flush=True)
time.sleep(600)
"""


def _commit(lake: Lake, ids: list[int]) -> None:
    ts = dt.datetime.combine(DAY, dt.time(6), tzinfo=dt.UTC)
    table = pa.table({"id": ids, "updated_at": [ts] * len(ids)}, schema=SCHEMA)
    lake.raw("s0", "orders").write_partitions({DAY: table}, SCHEMA)


def _lake_rows(root: Path) -> int:
    """What a reader of the whole lake sees: every Parquet file under it, by glob."""
    return duckdb.sql(f"SELECT count(*) FROM read_parquet('{root}/**/*.parquet')").fetchall()[0][0]


@pytest.fixture
def writer_process() -> Iterator[Callable[[Path], tuple[subprocess.Popen, Path]]]:
    """Start a writer in its own process; returns it and the folder it stages in."""
    started: list[subprocess.Popen] = []

    def start(root: Path) -> tuple[subprocess.Popen, Path]:
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(root), DAY.isoformat()],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        line = proc.stdout.readline().strip()
        assert line, proc.stderr.read()
        return proc, Path(line)

    yield start
    for proc in started:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL


def test_a_killed_writers_file_is_out_of_the_lakes_globs_and_a_rerun_removes_it(
    tmp_path: Path, writer_process: Callable[[Path], tuple[subprocess.Popen, Path]]
) -> None:
    root = tmp_path / "lake"
    lake = Lake(root)
    _commit(lake, [1, 2, 3])
    proc, staged = writer_process(root)
    _kill(proc)

    (half_written,) = staged.rglob("*.parquet")
    assert staged.is_relative_to(staging_root(root)) and not staged.is_relative_to(root)
    with pytest.raises(duckdb.Error):  # what a glob reaching it would fail on
        duckdb.sql(f"SELECT count(*) FROM read_parquet('{half_written}')").fetchall()
    assert _lake_rows(root) == 3  # committed rows only

    _commit(lake, [1, 2])  # the partition's re-run
    assert not staged.exists()
    assert not any(staging_root(root).rglob("*.parquet"))
    assert _lake_rows(root) == 2


def test_a_live_writers_staging_survives_another_write_of_its_partition(
    tmp_path: Path, writer_process: Callable[[Path], tuple[subprocess.Popen, Path]]
) -> None:
    root = tmp_path / "lake"
    lake = Lake(root)
    proc, staged = writer_process(root)
    _commit(lake, [1])
    assert list(staged.rglob("*.parquet")), "a live writer's staging was removed"
    _kill(proc)
    _commit(lake, [1, 2])
    assert not staged.exists()
    assert _lake_rows(root) == 2


def test_a_write_in_this_process_leaves_the_others_in_flight_alone(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    dataset = lake.raw("s0", "orders")
    open_writer = dataset.open_window([DAY], SCHEMA, row_group_rows=1)
    _commit(lake, [1])
    assert open_writer.staging.is_dir()
    ts = dt.datetime.combine(DAY, dt.time(7), tzinfo=dt.UTC)
    batch = pa.RecordBatch.from_pydict({"id": [9], "updated_at": [ts]}, schema=SCHEMA)
    open_writer.write(batch, DAY_ROWS)
    open_writer.commit()
    assert dataset.read_partition(DAY).column("id").to_pylist() == [9]
    assert not any(p.is_file() for p in dataset.staging_dir.rglob("*"))


def _leftover(folder: Path, age_hours: float) -> Path:
    (folder / "updated_at=2024-03-01").mkdir(parents=True)
    (folder / "updated_at=2024-03-01" / "part-00000.parquet").write_bytes(b"PAR1 half")
    then = time.time() - age_hours * 3600
    os.utime(folder, (then, then))
    return folder


def test_leftovers_without_a_lock_go_after_a_day_a_live_writers_never(
    tmp_path: Path, writer_process: Callable[[Path], tuple[subprocess.Popen, Path]]
) -> None:
    root = tmp_path / "lake"
    dataset = Lake(root).raw("s0", "orders")
    old = _leftover(dataset.staging_dir / "old", age_hours=25)
    in_lake = _leftover(root / "_staging" / "raw" / "s0" / "orders" / "old", age_hours=25)
    recent = _leftover(dataset.staging_dir / "recent", age_hours=1)
    proc, live = writer_process(root)
    then = time.time() - 25 * 3600
    os.utime(live, (then, then))

    dataset.open_window([DAY], SCHEMA).abort()
    assert not old.exists() and not in_lake.exists()
    assert recent.exists()  # no lock and young: a writer that has not locked it yet
    assert live.exists()  # a day old, but its writer holds the lock
    _kill(proc)


def test_staging_sits_beside_the_lake_on_its_file_system(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "lake"
    staging_root.cache_clear()
    assert staging_root(root) == tmp_path / "lake.staging"
    assert staging_module._device(staging_root(root)) == staging_module._device(root)
    assert Lake(root).view("v").staging_dir == tmp_path / "lake.staging" / "views" / "v"
    # A lake that is a mount point of its own stages inside itself, on its file system.
    monkeypatch.setattr(staging_module, "_device", lambda p: 2 if p == root else 1)
    staging_root.cache_clear()
    try:
        assert staging_root(root) == root / "_staging"
    finally:
        monkeypatch.undo()
        staging_root.cache_clear()


def test_a_view_days_writer_stages_outside_the_lake(tmp_path: Path) -> None:
    day = Lake(tmp_path / "lake").view("v").open_day(DAY)
    day.write(pa.table({"x": [1]}))
    assert day.staging.is_relative_to(tmp_path / "lake.staging")
    day.commit()
    assert not day.staging.exists()


@pytest.mark.skipif(
    not Path("/dev/shm").is_dir() or os.stat("/dev/shm").st_dev == os.stat("/tmp").st_dev,
    reason="needs /dev/shm on another file system than /tmp",
)
def test_a_swap_across_file_systems_is_refused_before_anything_moves(tmp_path: Path) -> None:
    final = tmp_path / "updated_at=2024-03-01"
    final.mkdir()
    (final / "part-00000.parquet").write_bytes(b"old")
    with tempfile.TemporaryDirectory(dir="/dev/shm") as elsewhere:
        new = Path(elsewhere) / "new"
        new.mkdir()
        with pytest.raises(OSError) as refused:
            atomic_swap.swap_in(new, final)
        assert refused.value.errno == errno.EXDEV
    assert (final / "part-00000.parquet").read_bytes() == b"old"
