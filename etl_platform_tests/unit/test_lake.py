import datetime as dt
import os
import threading
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from etl_platform.load import atomic_swap
from etl_platform.load.lake import Lake, dictionary_columns
from etl_platform.load.staging import staging_root

SCHEMA = pa.schema([("id", pa.int64()), ("updated_at", pa.timestamp("us", tz="UTC"))])
DAYS = [dt.date(2024, 1, 1), dt.date(2024, 1, 2)]


def _batch(rows: list[tuple[int, dt.datetime]]) -> pa.RecordBatch:
    ids, ts = zip(*rows, strict=True) if rows else ((), ())
    return pa.RecordBatch.from_arrays(
        [pa.array(ids, pa.int64()), pa.array(ts, SCHEMA.field("updated_at").type)], schema=SCHEMA
    )


def _write(zone: Lake, rows: list[tuple[int, dt.datetime]]) -> dict:
    writer = zone.raw("s0", "t").open_window(DAYS, SCHEMA, row_group_rows=2)
    batch = _batch(rows)
    writer.write(batch, batch.column("updated_at").cast(pa.date32()))
    return writer.commit()


def _read_ids(zone: Lake, day: dt.date) -> list[int]:
    return sorted(pq.read_table(zone.raw("s0", "t").partition_dir(day)).column("id").to_pylist())


def _ts(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2024, 1, day, hour, tzinfo=dt.UTC)


def test_rows_land_in_their_day_and_a_rerun_replaces_them(tmp_path: Path) -> None:
    zone = Lake(tmp_path)
    stats = _write(zone, [(1, _ts(1, 0)), (2, _ts(1, 23)), (3, _ts(2, 5))])
    assert {d: s.rows for d, s in stats.items()} == {DAYS[0]: 2, DAYS[1]: 1}
    assert _read_ids(zone, DAYS[0]) == [1, 2]
    _write(zone, [(1, _ts(1, 0)), (2, _ts(1, 23)), (3, _ts(2, 5))])
    assert _read_ids(zone, DAYS[0]) == [1, 2]
    # Row 3 moved to day 1 and day 2 is now empty: the old file must not linger, and the day
    # is written with no rows (no folder, listed as empty).
    _write(zone, [(1, _ts(1, 0)), (3, _ts(1, 6))])
    assert _read_ids(zone, DAYS[0]) == [1, 3]
    assert not zone.raw("s0", "t").partition_dir(DAYS[1]).exists()
    assert zone.raw("s0", "t").written_days() == set(DAYS)
    # Staging is gone; the folders read as one dataset. The folder key is the cursor's day and
    # the files keep the cursor itself, so the folder name is not inferred as a column.
    assert not any(staging_root(tmp_path).rglob("*.parquet"))
    assert not (tmp_path / "_staging").exists()
    table = ds.dataset(zone.raw("s0", "t").dir, format="parquet").to_table()
    assert table.num_rows == 2 and table.schema == SCHEMA


def test_a_crash_mid_write_leaves_the_previous_partition(tmp_path: Path) -> None:
    zone = Lake(tmp_path)
    _write(zone, [(1, _ts(1, 0)), (2, _ts(2, 0))])
    writer = zone.raw("s0", "t").open_window(DAYS, SCHEMA, row_group_rows=1)
    batch = _batch([(7, _ts(1, 1)), (8, _ts(1, 2))])
    writer.write(batch, batch.column("updated_at").cast(pa.date32()))
    writer.abort()  # what the extractor does when the read fails part way
    assert _read_ids(zone, DAYS[0]) == [1]
    assert _read_ids(zone, DAYS[1]) == [2]


def test_rows_outside_the_window_are_refused(tmp_path: Path) -> None:
    writer = Lake(tmp_path).raw("s0", "t").open_window(DAYS, SCHEMA)
    batch = _batch([(1, _ts(3, 0))])
    with pytest.raises(ValueError, match=r"raw/s0/t: a row's day 2024-01-03 is outside"):
        writer.write(batch, batch.column("updated_at").cast(pa.date32()))


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_swap_in_replaces_a_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exchange: bool
) -> None:
    if not exchange:
        monkeypatch.setattr(atomic_swap, "_exchange", lambda a, b: False)
    final, new = tmp_path / "final", tmp_path / "new"
    final.mkdir()
    (final / "old.txt").write_text("old")
    new.mkdir()
    (new / "new.txt").write_text("new")
    atomic_swap.swap_in(new, final)
    assert [p.name for p in final.iterdir()] == ["new.txt"]
    assert not new.exists()
    assert not (tmp_path / ".old-final").exists()


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_swap_in_flushes_the_new_files_to_disk_before_any_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exchange: bool
) -> None:
    """A rename can reach the disk before the data it exposes: fsync the files and their
    folder first, the parent (the rename) after."""
    events: list[tuple[str, str]] = []
    real_fsync, real_replace, real_exchange = (
        atomic_swap.fsync_path,
        os.replace,
        atomic_swap._exchange,
    )

    def fsync(path: Path) -> None:
        events.append(("fsync", Path(path).name))
        real_fsync(path)

    def replace(src, dst) -> None:
        events.append(("rename", Path(src).name))
        real_replace(src, dst)

    def swap(a: Path, b: Path) -> bool:
        events.append(("rename", a.name))
        swapped = exchange and real_exchange(a, b)
        assert swapped == exchange  # this machine's file system can exchange
        return swapped

    def rmtree(path, *args, **kwargs) -> None:
        events.append(("delete", Path(path).name))
        real_rmtree(path, *args, **kwargs)

    real_rmtree = atomic_swap.shutil.rmtree
    monkeypatch.setattr(atomic_swap, "fsync_path", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(atomic_swap, "_exchange", swap)
    monkeypatch.setattr(atomic_swap.shutil, "rmtree", rmtree)
    final, new = tmp_path / "final", tmp_path / "new"
    final.mkdir()
    (final / "old.txt").write_text("old")
    new.mkdir()
    (new / "a.parquet").write_text("a")
    (new / "b.parquet").write_text("b")
    atomic_swap.swap_in(new, final)

    first_rename = next(i for i, e in enumerate(events) if e[0] == "rename")
    assert set(events[:first_rename]) == {
        ("fsync", "a.parquet"),
        ("fsync", "b.parquet"),
        ("fsync", "new"),
    }
    # The renames are on disk before the old copy is deleted: never neither copy.
    last_rename = max(i for i, e in enumerate(events) if e[0] == "rename")
    deleted = next(i for i, e in enumerate(events) if e[0] == "delete")
    assert ("fsync", tmp_path.name) in events[last_rename:deleted]
    assert sorted(p.name for p in final.iterdir()) == ["a.parquet", "b.parquet"]


def test_the_folders_a_first_swap_creates_are_flushed_in_their_parents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[Path] = []
    real_fsync = atomic_swap.fsync_path

    def fsync(path: Path) -> None:
        synced.append(Path(path))
        real_fsync(path)

    monkeypatch.setattr(atomic_swap, "fsync_path", fsync)
    new = tmp_path / "new"
    new.mkdir()
    (new / "a.parquet").write_text("a")
    final = tmp_path / "views" / "v" / "updated_at=2024-01-01"
    atomic_swap.swap_in(new, final)
    # views/ and views/v/ are new: their entries in tmp_path and views/ are on disk, and
    # final's entry in views/v/.
    assert {tmp_path, tmp_path / "views", tmp_path / "views" / "v"} <= set(synced)
    assert (final / "a.parquet").read_text() == "a"


def test_recover_restores_the_old_copy_after_a_crash_between_renames(tmp_path: Path) -> None:
    backup = tmp_path / ".old-final"
    backup.mkdir()
    (backup / "old.txt").write_text("old")
    atomic_swap.recover(tmp_path / "final")
    assert (tmp_path / "final" / "old.txt").read_text() == "old"


def test_wide_rows_are_written_out_by_bytes_not_only_by_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A buffer of 128k one-KB rows would be 128 MB: the writer also flushes by size."""
    from etl_platform.load import lake as lake_module

    monkeypatch.setattr(lake_module, "BUFFER_BYTES", 4_000)
    writer = Lake(tmp_path).raw("s0", "t").open_window(DAYS, SCHEMA, row_group_rows=1_000_000)
    for start in range(0, 3_000, 1_000):  # 16 KB per batch: each one is written at once
        batch = _batch([(i, _ts(1, 0)) for i in range(start, start + 1_000)])
        writer.write(batch, batch.column("updated_at").cast(pa.date32()))
        assert writer._buffered_rows == 0
    writer.commit()
    part = next(Lake(tmp_path).raw("s0", "t").partition_dir(DAYS[0]).iterdir())
    assert pq.ParquetFile(part).metadata.num_row_groups == 3


def test_raw_files_are_lz4_and_views_zstd(tmp_path: Path) -> None:
    """Raw and state are read back only by the platform (cheap codec); views by people/Athena."""
    zone = Lake(tmp_path)
    batch = _batch([(1, _ts(1, 0))])
    for dataset in (zone.raw("s0", "t"), zone.view("v")):
        writer = dataset.open_window(DAYS, SCHEMA)
        writer.write(batch, batch.column("updated_at").cast(pa.date32()))
        writer.commit()
    codec = {
        name: pq.ParquetFile(next(d.partition_dir(DAYS[0]).iterdir()))
        .metadata.row_group(0)
        .column(0)
        .compression
        for name, d in (("raw", zone.raw("s0", "t")), ("view", zone.view("v")))
    }
    assert codec == {"raw": "LZ4", "view": "ZSTD"}
    raw_glob = str(zone.raw("s0", "t").dir / "*" / "*.parquet")
    assert duckdb.sql(f"SELECT id FROM read_parquet('{raw_glob}')").fetchall() == [(1,)]


def test_only_columns_with_few_distinct_values_get_a_dictionary(tmp_path: Path) -> None:
    """Unique ids and free text are not hashed into a dictionary they would overflow."""
    schema = pa.schema(
        [("id", pa.int64()), ("status", pa.string()), ("note", pa.string()), ("at", pa.date32())]
    )
    n = 1_000
    table = pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "status": pa.array(["paid", "new"] * (n // 2)),
            "note": pa.array([f"note number {i}" for i in range(n)]),
            "at": pa.array([DAYS[0]] * n, pa.date32()),
        },
        schema=schema,
    )
    assert dictionary_columns(table) == ["status", "at"]
    dataset = Lake(tmp_path).view("v")
    dataset.write_partitions({DAYS[0]: table}, schema)
    file = pq.ParquetFile(next(dataset.partition_dir(DAYS[0]).iterdir()))
    encodings = {
        file.schema_arrow.names[i]: file.metadata.row_group(0).column(i).encodings
        for i in range(len(schema))
    }
    assert "RLE_DICTIONARY" in encodings["status"]
    assert "RLE_DICTIONARY" not in encodings["id"]
    assert "RLE_DICTIONARY" not in encodings["note"]
    assert (
        pq.read_table(dataset.partition_dir(DAYS[0]))
        .select(["id", "status", "note"])
        .equals(table.select(["id", "status", "note"]))
    )


def test_a_window_chooses_its_dictionary_columns_once_from_its_largest_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One choice per window, not one per day, and not from a day too small to tell."""
    from etl_platform.load import lake as lake_module

    calls: list[int] = []

    def counted(table: pa.Table) -> list[str]:
        calls.append(len(table))
        return dictionary_columns(table)

    monkeypatch.setattr(lake_module, "dictionary_columns", counted)
    schema = pa.schema([("id", pa.int64()), ("status", pa.string())])
    n = 1_000
    batch = pa.record_batch(
        [pa.array(range(n + 2), pa.int64()), pa.array(["paid", "new"] * (n // 2 + 1))],
        schema=schema,
    )
    days = pa.array([DAYS[0]] * 2 + [DAYS[1]] * n, pa.date32())  # the first day: 2 rows
    dataset = Lake(tmp_path).raw("s0", "t")
    writer = dataset.open_window(DAYS, schema)
    writer.write(batch, days)
    stats = writer.commit()

    assert calls == [n]
    assert {d: s.rows for d, s in stats.items()} == {DAYS[0]: 2, DAYS[1]: n}
    for day in DAYS:
        file = pq.ParquetFile(next(dataset.partition_dir(day).iterdir()))
        encodings = [file.metadata.row_group(0).column(i).encodings for i in range(2)]
        assert "RLE_DICTIONARY" in encodings[1] and "RLE_DICTIONARY" not in encodings[0]
    read = pq.read_table(dataset.dir, schema=schema).sort_by("id")
    assert read.equals(pa.Table.from_batches([batch]))


def test_dictionary_choice_copes_with_every_column_type() -> None:
    """Types count_distinct has no kernel for keep pyarrow's default; all-null columns get none."""
    table = pa.table(
        {
            "cat": pa.array(["a", "b"] * 20).dictionary_encode(),
            "nothing": pa.nulls(40),
            "view": pa.array([f"v{i}" for i in range(40)], pa.string_view()),
            "nested": pa.array([[1]] * 40),
        }
    )
    assert dictionary_columns(table) == ["cat", "view"]
    assert dictionary_columns(table.slice(0, 0)) == ["cat"]


def test_days_written_at_once_on_threads_do_not_trip_over_each_others_staging(
    tmp_path: Path,
) -> None:
    """A view writes its days on threads: each writer's stale-staging sweep lists the folder
    while other days commit and remove their own staging (a vanished entry is not an error)."""
    from concurrent.futures import ThreadPoolExecutor

    lake = Lake(tmp_path)
    schema = pa.schema([("x", pa.int64())])

    def write(i: int) -> None:
        day = dt.date(2024, 1, 1) + dt.timedelta(days=i)
        lake.view("v").write_partitions({day: pa.table({"x": [i]}, schema=schema)}, schema)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(1_500)))
    days = sorted(p.name for p in lake.view("v").dir.iterdir())
    assert len(days) == 1_500


def test_a_batch_spanning_days_is_split_keeping_each_days_row_order(tmp_path: Path) -> None:
    """Batches read in key order span every day: rows go to their day in arrival order."""
    zone = Lake(tmp_path)
    rows = [(i, _ts(1 + i % 2, i % 24)) for i in range(10)]
    _write(zone, rows)
    for day in DAYS:
        ids = pq.read_table(zone.raw("s0", "t").partition_dir(day)).column("id").to_pylist()
        assert ids == [i for i, ts in rows if ts.date() == day]


@pytest.mark.parametrize("threads", [1, 2])
def test_a_flush_writes_each_days_row_groups_in_order_on_any_number_of_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    """Days of one flush are encoded on threads: each file still gets its rows, in order, one
    row group a flush."""
    from etl_platform.load import lake as lake_module

    monkeypatch.setattr(lake_module, "FLUSH_THREADS", threads)
    monkeypatch.setenv("ETL_PLATFORM_THREADS", "2")
    if threads == 2:  # each flush's two days must be written at the same time, on two threads
        both = threading.Barrier(2, timeout=10)
        write = lake_module._write_row_group

        def together(job: tuple[pq.ParquetWriter, pa.Table]) -> None:
            both.wait()
            write(job)

        monkeypatch.setattr(lake_module, "_write_row_group", together)
    zone = Lake(tmp_path)
    writer = zone.raw("s0", "t").open_window(DAYS, SCHEMA, row_group_rows=6)
    rows = [(i, _ts(1 + i % 2, i % 24)) for i in range(18)]
    for start in range(0, 18, 6):
        batch = _batch(rows[start : start + 6])
        writer.write(batch, batch.column("updated_at").cast(pa.date32()))
    writer.commit()
    for day in DAYS:
        part = next(zone.raw("s0", "t").partition_dir(day).iterdir())
        assert pq.read_table(part).column("id").to_pylist() == [
            i for i, ts in rows if ts.date() == day
        ]
        assert pq.ParquetFile(part).metadata.num_row_groups == 3


def test_a_failed_row_group_write_fails_the_window_and_leaves_the_old_days(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error on an encoding thread reaches the extract, which aborts: nothing is swapped in."""
    from etl_platform.load import lake as lake_module

    monkeypatch.setenv("ETL_PLATFORM_THREADS", "2")
    zone = Lake(tmp_path)
    _write(zone, [(1, _ts(1, 0)), (2, _ts(2, 0))])
    calls = []

    def failing(job: tuple[pq.ParquetWriter, pa.Table]) -> None:
        calls.append(job)
        if len(calls) == 2:
            raise OSError("disk full")
        job[0].write_table(job[1])

    monkeypatch.setattr(lake_module, "_write_row_group", failing)
    writer = zone.raw("s0", "t").open_window(DAYS, SCHEMA, row_group_rows=2)
    batch = _batch([(7, _ts(1, 1)), (8, _ts(2, 1))])
    with pytest.raises(OSError, match="disk full"):
        writer.write(batch, batch.column("updated_at").cast(pa.date32()))
    writer.abort()
    assert _read_ids(zone, DAYS[0]) == [1] and _read_ids(zone, DAYS[1]) == [2]
    assert not any(staging_root(tmp_path).rglob("*.parquet"))
