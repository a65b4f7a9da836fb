"""A CDC raw day read as one (day file + change files), and compaction, which must read the
same before, after, and after a crash between its swap and its removal of the changes."""

from __future__ import annotations

import datetime as dt
import itertools
import tempfile
from pathlib import Path

import hypothesis.strategies as st
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings

from etl_platform.load import raw_day_reads
from etl_platform.load.change_files import ChangeLog, file_positions
from etl_platform.load.lake import Lake
from etl_platform.load.lake_reads import read_day_slices
from etl_platform.load.raw_day_reads import (
    raw_day_rows,
    raw_day_written,
    read_raw_day_frame,
    read_raw_day_slices,
)
from etl_platform.specs.sources import CdcSettings, TableSpec
from etl_platform.steps import compact_changes
from etl_platform.steps.compact_changes import compact_day, compaction_due
from etl_platform.transform.changes import COMMIT_TS, DELETE, INSERT, MOVE, OP, POS, UPDATE

DAY = dt.date(2026, 3, 2)
KEY = ["id"]
COLUMNS = ["id", "tier"]
BASE_SCHEMA = pa.schema([("id", pa.int64()), ("tier", pa.string())])
CHANGE_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("tier", pa.large_string()),
        (OP, pa.large_string()),
        (POS, pa.large_string()),
        (COMMIT_TS, pa.timestamp("us", tz="UTC")),
    ]
)
CDC = TableSpec(primary_key=KEY, mode="cdc")

Event = tuple[int, str, str]  # id, _op, tier


def _pos(n: int) -> str:
    return f"0000000001-{n:012d}-000000"


def _change_table(events: list[tuple[int, Event]]) -> pa.Table:
    """(position number, event) rows as a change file holds them."""
    at = dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC)
    return pa.table(
        {
            "id": [e[0] for _, e in events],
            "tier": [e[2] for _, e in events],
            OP: [e[1] for _, e in events],
            POS: [_pos(n) for n, _ in events],
            COMMIT_TS: [at] * len(events),
        },
        schema=CHANGE_SCHEMA,
    )


def _write_base(lake: Lake, rows: dict[int, str] | None) -> None:
    if rows is None:
        return
    table = pa.table({"id": list(rows), "tier": list(rows.values())}, schema=BASE_SCHEMA)
    lake.raw("s0", "customers").write_partitions({DAY: table}, BASE_SCHEMA)


def _write_changes(log: ChangeLog, events: list[Event], cuts: list[int]) -> list[Path]:
    """The events at positions 1.., cut into files at `cuts`."""
    numbered = list(enumerate(events, start=1))
    bounds = sorted({0, len(numbered), *(c for c in cuts if 0 < c < len(numbered))})
    return [log.write(DAY, _change_table(numbered[a:b])) for a, b in itertools.pairwise(bounds)]


def _expected(base: dict[int, str] | None, events: list[Event], history: bool) -> list[tuple]:
    """The contract, one key at a time: the highest position wins, a batch row lowest."""
    winner: dict[int, tuple[str | None, str]] = {i: (None, t) for i, t in (base or {}).items()}
    for key, op, tier in events:  # in position order
        winner[key] = (op, tier)
    hidden = {DELETE} if history else {DELETE, MOVE}
    return sorted((k, t) for k, (op, t) in winner.items() if op not in hidden)


def _read(lake: Lake, *, history: bool, rows: int = 3) -> list[tuple]:
    frames = list(
        read_raw_day_slices(lake, "s0", CDC, "customers", DAY, COLUMNS, rows, history=history)
    )
    assert frames, "a day with changes gives at least one frame"
    assert all(f.columns == COLUMNS for f in frames)
    return sorted(pl.concat(frames).iter_rows())


def _snapshot(files: list[Path]) -> dict[Path, bytes]:
    return {f: f.read_bytes() for f in files}


EVENTS = st.lists(
    st.tuples(
        st.integers(0, 6), st.sampled_from([INSERT, UPDATE, DELETE, MOVE]), st.sampled_from("abc")
    ),
    min_size=1,
    max_size=24,
)
BASES = st.none() | st.dictionaries(st.integers(0, 8), st.sampled_from("xyz"), max_size=9)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=BASES,
    events=EVENTS,
    cuts=st.lists(st.integers(1, 23), max_size=5),
    replay=st.none() | st.tuples(st.integers(0, 23), st.integers(1, 6)),
    upto=st.integers(0, 6),
    history=st.booleans(),
    rows=st.integers(1, 5),
)
def test_reading_base_and_changes_follows_the_contract_before_and_after_compaction(
    base: dict[int, str] | None,
    events: list[Event],
    cuts: list[int],
    replay: tuple[int, int] | None,
    upto: int,
    history: bool,
    rows: int,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lake = Lake(Path(tmp))
        log = lake.changes("s0", "customers")
        _write_base(lake, base)
        _write_changes(log, events, cuts)
        if replay is not None:  # a crash's replay: some changes written again, across files
            start = min(replay[0], len(events) - 1)
            again = list(enumerate(events, start=1))[start : start + replay[1]]
            log.write(DAY, _change_table(again))
        expected = _expected(base, events, history)
        assert _read(lake, history=history, rows=rows) == expected

        listed = log.files(DAY)
        checkpoint = file_positions(listed[min(upto, len(listed) - 1)])[1]
        kept = _snapshot(listed)
        result = compact_day(lake, "s0", "customers", KEY, DAY, upto=checkpoint)
        assert set(result.merged) == {f for f in listed if file_positions(f)[1] <= checkpoint}
        assert _read(lake, history=history, rows=rows) == expected

        # A crash after the swap, before the removal: some of the merged files left, or all.
        for path in result.merged[:1]:
            path.write_bytes(kept[path])
        assert _read(lake, history=history, rows=rows) == expected
        for path in result.merged:
            path.write_bytes(kept[path])
        assert _read(lake, history=history, rows=rows) == expected

        compact_day(lake, "s0", "customers", KEY, DAY, upto=_pos(10**6))
        assert log.files(DAY) == []
        assert _read(lake, history=history, rows=rows) == expected


def _lake(tmp_path: Path) -> tuple[Lake, ChangeLog]:
    lake = Lake(tmp_path)
    return lake, lake.changes("s0", "customers")


def test_a_batch_day_without_changes_reads_as_read_day_slices(tmp_path: Path) -> None:
    lake, _ = _lake(tmp_path)
    _write_base(lake, {i: "x" for i in range(10)})
    raw = lake.raw("s0", "customers")
    plain = list(read_day_slices(raw, DAY, raw.partition_files(DAY), COLUMNS, 4))
    read = list(read_raw_day_slices(lake, "s0", CDC, "customers", DAY, COLUMNS, 4, history=True))
    assert len(read) == len(plain) and all(a.equals(b) for a, b in zip(read, plain, strict=True))
    assert raw_day_written(lake, "s0", "customers", DAY)
    assert raw_day_rows(lake, "s0", "customers", DAY) == 10


def test_a_table_that_is_not_cdc_ignores_change_files(tmp_path: Path) -> None:
    lake, log = _lake(tmp_path)
    _write_base(lake, {1: "x"})
    log.write(DAY, _change_table([(1, (1, DELETE, "x"))]))
    incremental = TableSpec(primary_key=KEY)
    frames = list(
        read_raw_day_slices(lake, "s0", incremental, "customers", DAY, COLUMNS, 4, history=True)
    )
    assert pl.concat(frames).rows() == [(1, "x")]
    assert _read(lake, history=True) == []


def test_a_day_with_only_changes_is_written_and_brings_its_columns(tmp_path: Path) -> None:
    lake, log = _lake(tmp_path)
    assert not raw_day_written(lake, "s0", "customers", DAY)
    assert (
        list(read_raw_day_slices(lake, "s0", CDC, "customers", DAY, COLUMNS, 4, history=True)) == []
    )
    log.write(DAY, _change_table([(1, (1, INSERT, "a")), (2, (1, DELETE, "a"))]))
    assert raw_day_written(lake, "s0", "customers", DAY)
    frames = list(read_raw_day_slices(lake, "s0", CDC, "customers", DAY, COLUMNS, 4, history=True))
    assert len(frames) == 1 and frames[0].height == 0 and frames[0].columns == COLUMNS
    assert frames[0].schema["tier"] == pl.String


def test_the_day_file_streams_in_slices_and_the_changes_come_last(tmp_path: Path) -> None:
    lake, log = _lake(tmp_path)
    table = pa.table({"id": list(range(100)), "tier": ["x"] * 100}, schema=BASE_SCHEMA)
    raw = lake.raw("s0", "customers")
    writer = raw.open_window([DAY], BASE_SCHEMA, row_group_rows=10)
    for batch in table.to_batches(max_chunksize=10):
        writer.write(batch, pa.repeat(pa.scalar(DAY, pa.date32()), batch.num_rows))
    writer.commit()
    log.write(DAY, _change_table([(1, (5, UPDATE, "new")), (2, (7, DELETE, "x"))]))
    frames = list(read_raw_day_slices(lake, "s0", CDC, "customers", DAY, COLUMNS, 20, history=True))
    assert [f.height for f in frames] == [18, 20, 20, 20, 20, 1]
    assert frames[-1].rows() == [(5, "new")]
    assert raw_day_rows(lake, "s0", "customers", DAY) == 102


def test_asked_change_columns_come_back_null_for_batch_rows(tmp_path: Path) -> None:
    lake, log = _lake(tmp_path)
    _write_base(lake, {1: "x", 2: "y"})
    log.write(DAY, _change_table([(1, (2, UPDATE, "b"))]))
    columns = [*COLUMNS, POS, OP]
    frames = read_raw_day_slices(lake, "s0", CDC, "customers", DAY, columns, 4, history=True)
    assert sorted(pl.concat(frames).rows()) == [(1, "x", None, None), (2, "b", _pos(1), UPDATE)]


def test_the_compacted_file_keeps_the_change_columns_deletes_and_moves(tmp_path: Path) -> None:
    lake, log = _lake(tmp_path)
    _write_base(lake, {1: "x", 2: "y", 3: "z"})
    files = _write_changes(log, [(1, DELETE, "x"), (2, MOVE, "y"), (4, INSERT, "n")], [1, 2])
    result = compact_day(lake, "s0", "customers", KEY, DAY, upto=_pos(3))
    assert result.merged == tuple(files) and result.rows == 4 and log.files(DAY) == []
    day_file = pq.read_table(lake.raw("s0", "customers").partition_files(DAY)[0])
    assert day_file.column_names == ["id", "tier", OP, POS, COMMIT_TS]
    assert day_file.schema.field("tier").type == pa.large_string()
    got = sorted(day_file.select(["id", OP]).to_pylist(), key=lambda r: r["id"])
    assert [(r["id"], r[OP]) for r in got] == [(1, DELETE), (2, MOVE), (3, None), (4, INSERT)]
    assert _read(lake, history=True) == [(2, "y"), (3, "z"), (4, "n")]
    assert _read(lake, history=False) == [(3, "z"), (4, "n")]
    frame = read_raw_day_frame(lake.raw("s0", "customers"), log, KEY, DAY, COLUMNS)
    assert frame is not None and sorted(frame.rows()) == [
        (1, "x", DELETE),
        (2, "y", MOVE),
        (3, "z", None),
        (4, "n", INSERT),
    ]


def test_compaction_takes_only_files_at_or_before_the_checkpoint(tmp_path: Path) -> None:
    lake, log = _lake(tmp_path)
    _write_base(lake, {1: "x"})
    files = _write_changes(log, [(1, UPDATE, "a"), (1, UPDATE, "b"), (1, UPDATE, "c")], [1, 2])
    assert compact_day(lake, "s0", "customers", KEY, DAY, upto=_pos(0)).skipped
    result = compact_day(lake, "s0", "customers", KEY, DAY, upto=_pos(2))
    assert result.merged == tuple(files[:2]) and log.files(DAY) == files[2:]
    assert _read(lake, history=True) == [(1, "c")]


def test_a_day_replaced_while_compacting_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake, log = _lake(tmp_path)
    _write_base(lake, {1: "x"})
    files = _write_changes(log, [(1, UPDATE, "a")], [])
    real_merge = compact_changes.merged_day

    def merge_then_extract(*args: object) -> pa.Table:
        merged = real_merge(*args)  # type: ignore[arg-type]
        _write_base(lake, {1: "re-read", 2: "new"})
        return merged

    monkeypatch.setattr(compact_changes, "merged_day", merge_then_extract)
    result = compact_day(lake, "s0", "customers", KEY, DAY, upto=_pos(9))
    assert result.skipped and "replaced while compacting" in result.skipped
    assert log.files(DAY) == files
    assert _read(lake, history=True) == [(1, "a"), (2, "new")]


def test_a_change_file_removed_while_read_makes_the_day_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake, log = _lake(tmp_path)
    _write_base(lake, {1: "x", 2: "y"})
    _write_changes(log, [(1, UPDATE, "a"), (2, DELETE, "y"), (3, INSERT, "c")], [1, 2])
    real_read = raw_day_reads.pl.read_parquet
    calls = []

    def compact_first(path: Path, **kwargs: object) -> pl.DataFrame:
        if not calls:  # the capture compacts between the listing and this read
            compact_day(lake, "s0", "customers", KEY, DAY, upto=_pos(9))
        calls.append(path)
        return real_read(path, **kwargs)

    monkeypatch.setattr(raw_day_reads.pl, "read_parquet", compact_first)
    assert _read(lake, history=True) == [(1, "a"), (3, "c")]
    assert log.files(DAY) == []


def test_a_day_file_swapped_during_a_read_is_read_as_it_was_opened(tmp_path: Path) -> None:
    lake, log = _lake(tmp_path)
    _write_base(lake, {i: "x" for i in range(8)})
    _write_changes(log, [(0, UPDATE, "a"), (9, INSERT, "b")], [1])
    frames = read_raw_day_slices(lake, "s0", CDC, "customers", DAY, COLUMNS, 2, history=True)
    got = [next(frames)]
    compact_day(lake, "s0", "customers", KEY, DAY, upto=_pos(9))
    got.extend(frames)
    assert sorted(pl.concat(got).rows()) == [(0, "a"), *((i, "x") for i in range(1, 8)), (9, "b")]


def test_compaction_is_due_past_the_files_or_bytes_allowed(tmp_path: Path) -> None:
    _, log = _lake(tmp_path)
    _write_changes(log, [(i, INSERT, "a") for i in range(3)], [1, 2])
    assert not compaction_due(log, DAY, CdcSettings(compact_files=3))
    assert compaction_due(log, DAY, CdcSettings(compact_files=2))
    size = log.bytes(DAY)
    assert not compaction_due(log, DAY, CdcSettings(compact_bytes=size))
    assert compaction_due(log, DAY, CdcSettings(compact_bytes=size - 1))
    assert not compaction_due(log, DAY + dt.timedelta(days=1), CdcSettings(compact_files=1))
