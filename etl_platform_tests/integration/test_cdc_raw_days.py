"""A `mode: cdc` table's raw days as views and lookup state read them: batch day files written
by the lake's writers plus change files, read as one (docs/cdc.md). No server is needed: the
lake is built in a temporary folder, the views run as the view asset runs them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from etl_platform.errors import PartitionMissing
from etl_platform.load.lake import Lake
from etl_platform.specs.sources import SourcesSpec
from etl_platform.specs.views import ViewSpec
from etl_platform.steps.compact_changes import compact_day
from etl_platform.steps.lookup_versions import sync_versions
from etl_platform.steps.view_days import ViewInputs, build_view_day
from etl_platform.transform.changes import COMMIT_TS, DELETE, INSERT, MOVE, OP, POS, UPDATE
from etl_platform.transform.versions import DAY, DELETED, SEEN, VALID_FROM, as_of

pytestmark = pytest.mark.integration

D1, D2, D3 = (dt.date(2026, 3, 1) + dt.timedelta(days=i) for i in range(3))
TS = pa.timestamp("us", tz="UTC")
CHANGE_FIELDS = [(OP, pa.large_string()), (POS, pa.large_string()), (COMMIT_TS, TS)]
ORDERS = pa.schema(
    [("id", pa.int64()), ("customer_id", pa.int64()), ("status", pa.string()), ("updated_at", TS)]
)
CUSTOMERS = pa.schema([("id", pa.int64()), ("tier", pa.string()), ("updated_at", TS)])
SOURCES = SourcesSpec.model_validate(
    {
        "start": D1,
        "shards": {"s0": {"url_env": "UNUSED_SHARD_URL"}},
        "tables": {
            "orders": {"primary_key": ["id"], "mode": "cdc"},
            "customers": {"primary_key": ["id"], "mode": "cdc"},
        },
    }
)


def _at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


#: When a change commits unless a test says otherwise: after every row's cursor.
LAST_COMMIT = _at(D3, 23)


def _pos(n: int) -> str:
    return f"0000000001-{n:012d}-000000"


def _batch(schema: pa.Schema, rows: list[tuple]) -> pa.Table:
    return pa.Table.from_pylist([dict(zip(schema.names, r, strict=True)) for r in rows], schema)


def _changes(
    schema: pa.Schema,
    rows: list[tuple],
    ops: list[tuple[str, int]],
    committed: dt.datetime = LAST_COMMIT,
) -> pa.Table:
    """Rows of the table's columns, each with its (_op, position number), committed at
    `committed`."""
    full = pa.schema([*schema, *CHANGE_FIELDS])
    return pa.Table.from_pylist(
        [
            dict(zip(full.names, (*r, op, _pos(n), committed), strict=True))
            for r, (op, n) in zip(rows, ops, strict=True)
        ],
        full,
    )


def _view(history: bool) -> ViewSpec:
    return ViewSpec.model_validate(
        {
            "name": "orders_cdc",
            "source": "orders",
            "history": history,
            "lookups": [
                {"table": "customers", "on": {"customer_id": "id"}, "columns": {"tier": "tier"}}
            ],
            "columns": {
                "order_id": {"from": "id", "type": "int64"},
                "customer_id": {"from": "customer_id", "type": "int64"},
                "status": {"from": "status", "type": "string"},
            },
            "unique_key": ["order_id"],
        }
    )


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    """Orders 1-3 and customers 10-11 extracted on D1 (customers' D2 and D3 with no rows);
    then, from the binlog: order 1 paid (D1), order 2 shipped on D2 (a move), order 3 deleted,
    order 4 inserted on D2 and paid (its insert written twice: a replay), customer 11 upgraded
    on D2 (a move)."""
    lake = Lake(tmp_path)
    lake.raw("s0", "orders").write_partitions(
        {
            D1: _batch(
                ORDERS,
                [
                    (1, 10, "new", _at(D1, 8)),
                    (2, 11, "new", _at(D1, 8)),
                    (3, 10, "new", _at(D1, 9)),
                ],
            )
        },
        ORDERS,
    )
    lake.raw("s0", "customers").write_partitions(
        {
            D1: _batch(CUSTOMERS, [(10, "gold", _at(D1, 1)), (11, "silver", _at(D1, 1))]),
            D2: _batch(CUSTOMERS, []),
            D3: _batch(CUSTOMERS, []),
        },
        CUSTOMERS,
    )
    orders = lake.changes("s0", "orders")
    orders.write(D1, _changes(ORDERS, [(1, 10, "paid", _at(D1, 10))], [(UPDATE, 1)]))
    orders.write(
        D1,
        _changes(
            ORDERS,
            [(2, 11, "new", _at(D1, 8)), (3, 10, "new", _at(D1, 9))],
            [(MOVE, 2), (DELETE, 3)],
        ),
    )
    orders.write(D2, _changes(ORDERS, [(2, 11, "shipped", _at(D2, 9))], [(UPDATE, 2)]))
    insert = (4, 10, "new", _at(D2, 10))
    orders.write(D2, _changes(ORDERS, [insert], [(INSERT, 4)]))
    orders.write(
        D2,
        _changes(ORDERS, [insert, (4, 10, "paid", _at(D2, 11))], [(INSERT, 4), (UPDATE, 5)]),
    )
    customers = lake.changes("s0", "customers")
    customers.write(D1, _changes(CUSTOMERS, [(11, "silver", _at(D1, 1))], [(MOVE, 6)]))
    customers.write(D2, _changes(CUSTOMERS, [(11, "platinum", _at(D2, 12))], [(UPDATE, 6)]))
    return lake


def _sync(lake: Lake, table: str = "customers", columns: list[str] | None = None):
    return sync_versions(
        lake.raw("s0", table),
        lake.versions("s0", table),
        columns=columns or ["id", "tier", "updated_at"],
        key=["id"],
        cursor="updated_at",
        changes=lake.changes("s0", table),
    )


def _view_day(lake: Lake, history: bool, day: dt.date) -> list[tuple]:
    inputs = ViewInputs(_view(history), SOURCES, lake, "run-1")
    result = build_view_day(inputs, day)
    assert not result.missing
    table = lake.view("orders_cdc").read_partition(day)
    assert table is not None
    frame = pl.DataFrame(pl.from_arrow(table))
    return sorted(frame.select("order_id", "status", "tier").iter_rows())


@pytest.mark.parametrize(
    ("history", "first_day"),
    [
        (True, [(1, "paid", "gold"), (2, "new", "silver")]),
        (False, [(1, "paid", "gold")]),
    ],
    ids=["history", "latest-day-only"],
)
def test_a_view_reads_a_cdc_day_as_one(lake: Lake, history: bool, first_day: list) -> None:
    _sync(lake)
    assert _view_day(lake, history, D1) == first_day
    # D2 has no day file: its change files alone make it a raw day.
    assert _view_day(lake, history, D2) == [(2, "shipped", "platinum"), (4, "paid", "gold")]


def test_a_view_day_reads_the_same_after_compaction(lake: Lake) -> None:
    _sync(lake)
    before = {d: _view_day(lake, True, d) for d in (D1, D2)}
    for day in (D1, D2):
        result = compact_day(lake, "s0", "orders", ["id"], day, upto=_pos(99))
        assert result.merged and not lake.changes("s0", "orders").files(day)
    assert {d: _view_day(lake, True, d) for d in (D1, D2)} == before
    assert _view_day(lake, False, D1) == [(1, "paid", "gold")]


def test_a_day_with_neither_a_day_file_nor_changes_is_missing(lake: Lake) -> None:
    _sync(lake)
    inputs = ViewInputs(_view(True), SOURCES, lake, "run-1")
    assert inputs.missing_inputs(D3, "s0") == ["raw/s0/orders"]
    with pytest.raises(PartitionMissing, match="raw/s0/orders"):
        build_view_day(inputs, D3)


def test_the_view_day_stats_count_the_days_rows(lake: Lake) -> None:
    _sync(lake)
    result = build_view_day(ViewInputs(_view(True), SOURCES, lake, "run-1"), D2)
    assert result.stats["s0"].rows_in == 2 and result.stats["s0"].rows_out == 2


def _tiers(lake: Lake, day: dt.date, table: str = "customers") -> dict[int, str]:
    versions = lake.versions("s0", table).read()
    assert versions is not None
    current = as_of(versions, day, key=["id"], cursor="updated_at")
    return dict(current.select("id", "tier").sort("id").iter_rows())


def test_lookup_state_of_a_row_updated_moved_and_deleted(tmp_path: Path) -> None:
    """Customer 20: extracted on D1, updated on D1, moved to D2 by an update, deleted on D3.
    The delete carries the row as it stood, whose day is D2: it is filed on D2 (a re-read of D2
    replaces it) but the key is gone only from the delete's commit on D3; until then D2's
    version stands."""
    lake = Lake(tmp_path)
    lake.raw("s0", "accounts").write_partitions(
        {
            D1: _batch(CUSTOMERS, [(20, "trial", _at(D1, 1)), (21, "free", _at(D1, 2))]),
            D2: _batch(CUSTOMERS, []),
        },
        CUSTOMERS,
    )
    log = lake.changes("s0", "accounts")
    log.write(D1, _changes(CUSTOMERS, [(20, "basic", _at(D1, 5))], [(UPDATE, 1)]))
    report = _sync(lake, "accounts")
    assert report.read_days == [D1, D2]
    assert _tiers(lake, D1, "accounts") == {20: "basic", 21: "free"}

    log.write(D1, _changes(CUSTOMERS, [(20, "basic", _at(D1, 5))], [(MOVE, 2)]))
    log.write(D2, _changes(CUSTOMERS, [(20, "pro", _at(D2, 7))], [(UPDATE, 2)]))
    report = _sync(lake, "accounts")
    assert report.read_days == [D1, D2]  # new change files: both days read again
    assert _tiers(lake, D1, "accounts") == {20: "basic", 21: "free"}
    assert _tiers(lake, D2, "accounts") == {20: "pro", 21: "free"}

    log.write(D2, _changes(CUSTOMERS, [(20, "pro", _at(D2, 7))], [(DELETE, 3)], _at(D3, 2)))
    lake.raw("s0", "accounts").write_partitions({D3: _batch(CUSTOMERS, [])}, CUSTOMERS)
    report = _sync(lake, "accounts")
    assert report.read_days == [D2, D3]
    expected = {D1: {20: "basic", 21: "free"}, D2: {20: "pro", 21: "free"}, D3: {21: "free"}}
    assert {d: _tiers(lake, d, "accounts") for d in expected} == expected
    versions = lake.versions("s0", "accounts").read()
    assert versions is not None
    tombstone = versions.filter(pl.col(DELETED))
    assert tombstone.select("id", DAY, SEEN, "updated_at", VALID_FROM).rows() == [
        (20, D2, D3, _at(D3, 2), _at(D3, 2))
    ]

    # Compaction changes the day's files: read again, the same versions.
    for day in (D1, D2):
        compact_day(lake, "s0", "accounts", ["id"], day, upto=_pos(99))
    assert _sync(lake, "accounts").read_days == [D1, D2]
    assert {d: _tiers(lake, d, "accounts") for d in expected} == expected

    # Re-inserted on D3 after the delete: current again from D3.
    log.write(D3, _changes(CUSTOMERS, [(20, "back", _at(D3, 4))], [(INSERT, 4)], _at(D3, 4)))
    _sync(lake, "accounts")
    assert _tiers(lake, D2, "accounts") == {20: "pro", 21: "free"}
    assert _tiers(lake, D3, "accounts") == {20: "back", 21: "free"}


def test_lookup_state_without_change_files_is_read_as_before(lake: Lake) -> None:
    """A CDC table's days without changes read like any batch day."""
    report = sync_versions(
        lake.raw("s0", "orders"),
        lake.versions("s0", "orders"),
        columns=["id", "status", "updated_at"],
        key=["id"],
        cursor="updated_at",
    )
    assert report.read_days == [D1] and report.versions == 3


def test_lookup_state_of_a_cdc_table_reads_its_batch_days(tmp_path: Path) -> None:
    """Days read by the batch extract before the capture started (no change file, no `_op`)
    are versions like any other, with no commit time to ask for."""
    lake = Lake(tmp_path)
    lake.raw("s0", "accounts").write_partitions(
        {D1: _batch(CUSTOMERS, [(20, "trial", _at(D1, 1)), (21, "free", _at(D1, 2))])},
        CUSTOMERS,
    )
    report = _sync(lake, "accounts")
    assert report.read_days == [D1] and report.versions == 2
    assert _tiers(lake, D1, "accounts") == {20: "trial", 21: "free"}
    # A delete captured later, with its position: the batch version loses to the tombstone.
    log = lake.changes("s0", "accounts")
    log.write(D1, _changes(CUSTOMERS, [(20, "trial", _at(D1, 1))], [(DELETE, 3)], _at(D2, 5)))
    _sync(lake, "accounts")
    assert _tiers(lake, D1, "accounts") == {20: "trial", 21: "free"}
    assert _tiers(lake, D2, "accounts") == {21: "free"}
