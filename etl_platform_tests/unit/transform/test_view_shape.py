"""The whole view pipeline on hand-made frames: order of steps, balance, rejects."""

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

from etl_platform.specs.views import ViewSpec
from etl_platform.transform.view_shape import (
    columns_kept,
    finish_shards,
    shape_day,
    shape_shard,
    type_slices,
    window_drift,
)

T0 = dt.datetime(2024, 3, 10, tzinfo=dt.UTC)


def _ts(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


ORDERS = pl.DataFrame(
    {
        "id": pl.Series([1, 2, 3, 3, 4, 5], dtype=pl.UInt64),
        "qty": pl.Series([1, 300, 2, 2, 1, 1], dtype=pl.Int64),
        "payload": [
            '{"items": [{"sku": "A", "price": "1.50"}, {"sku": "B", "price": 2}]}',
            '{"items": []}',
            '{"items": [{"sku": "Z", "price": "9"}]}',
            '{"items": [{"sku": "Z", "price": "9"}]}',
            "not json",
            '{"items": [{"sku": "A", "price": "x"}]}',
        ],
        "updated_at": [_ts(1), _ts(2), _ts(3), _ts(4), _ts(5), _ts(6)],
    }
)
PRODUCTS = pl.DataFrame(
    {"sku": ["A", "B"], "name": ["Apple", "Banana"], "updated_at": [_ts(0), _ts(0)]}
)


def _spec(**extra: object) -> ViewSpec:
    return ViewSpec.model_validate(
        {
            "name": "v",
            "source": "orders",
            "columns": {
                "order_id": {"from": "id", "type": "uint64"},
                "qty": {"from": "qty", "type": "uint8"},
            },
            "unique_key": ["order_id"],
            **extra,
        }
    )


def _items_spec(**extra: object) -> ViewSpec:
    """One row per item of the payload, with the product's name looked up."""
    return _spec(
        columns={
            "order_id": {"from": "id", "type": "uint64"},
            "sku": {"item": "sku", "type": "string"},
        },
        explode={"json": "payload", "path": "items"},
        lookups=[{"table": "products", "on": {"sku": "sku"}, "columns": {"name": "product"}}],
        unique_key=["order_id", "item_index"],
        **extra,
    )


def _shape(spec: ViewSpec):
    return shape_shard(
        spec,
        ORDERS,
        shard="s0",
        primary_key=["id"],
        cursor="updated_at",
        related={"products": PRODUCTS},
        related_cursors={"products": "updated_at"},
        run_id="r1",
    )


def test_a_value_that_does_not_fit_its_type_is_a_reject_and_rows_balance() -> None:
    shaped = _shape(_spec())
    assert shaped.rows["order_id"].to_list() == [1, 3, 4, 5]  # 2's qty 300 is not a uint8
    assert shaped.rows.filter(pl.col("order_id") == 3)["_updated_at"].item() == _ts(4)
    s = shaped.stats
    assert (s.rows_in, s.rows_out, s.rejected, s.duplicates) == (6, 4, 1, 1)
    assert s.balanced(exploded=False)
    assert shaped.rejects["key"].to_list() == ['{"id":2}']
    assert shaped.rows.columns == ["order_id", "qty", "_shard", "_updated_at", "_run_id"]
    assert shaped.rows.schema["qty"] == pl.UInt8


def test_explode_then_lookup_on_an_item_column() -> None:
    spec = _spec(
        columns={
            "order_id": {"from": "id", "type": "uint64"},
            "sku": {"item": "sku", "type": "string"},
            "price": {"item": "price", "type": "decimal(10,2)"},
        },
        explode={"json": "payload", "path": "items"},
        lookups=[{"table": "products", "on": {"sku": "sku"}, "columns": {"name": "product"}}],
        unique_key=["order_id", "item_index"],
    )
    shaped = _shape(spec)
    rows = shaped.rows.select("order_id", "item_index", "sku", "price", "product").rows()
    assert rows == [
        (1, 0, "A", Decimal("1.50"), "Apple"),
        (1, 1, "B", Decimal("2.00"), "Banana"),
        (3, 0, "Z", Decimal("9.00"), None),
    ]
    assert shaped.stats.orphans == {"products": 1}
    assert shaped.stats.duplicates == 1  # order 3 came twice
    reasons = sorted(shaped.rejects["reason"].to_list())
    assert reasons[0] == "invalid JSON" and "is not decimal(10,2)" in reasons[1]
    assert shaped.stats.balanced(exploded=True)


def test_drift_is_found_once_from_the_samples_of_every_shard_day() -> None:
    spec = _spec(
        columns={
            "order_id": {"from": "id", "type": "uint64"},
            "first_sku": {"json": "payload", "path": "items", "type": "json"},
        }
    )
    shaped = _shape(spec)
    assert list(shaped.drift_sample) == ["payload"]
    other_day = pl.Series("payload", ['{"items": [], "gift": {"wrap": true}}', "not json"])
    drift = window_drift(spec, {"payload": [shaped.drift_sample["payload"], other_day]})
    assert drift == {"payload": {"gift": 1, "gift.wrap": 1}}
    assert window_drift(spec, {}) == {}


def test_shards_shaped_together_equal_shards_shaped_alone() -> None:
    spec = _items_spec()
    other = ORDERS.with_columns(pl.col("id") + 10)
    raws = {"s0": ORDERS, "s1": other, "s2": ORDERS.clear()}
    together = shape_day(
        spec,
        raws,
        primary_key=["id"],
        cursor="updated_at",
        related={s: {"products": PRODUCTS} for s in raws},
        related_cursors={"products": "updated_at"},
        run_id="r1",
    )
    for shard, raw in raws.items():
        alone = shape_shard(
            spec,
            raw,
            shard=shard,
            primary_key=["id"],
            cursor="updated_at",
            related={"products": PRODUCTS},
            related_cursors={"products": "updated_at"},
            run_id="r1",
        )
        assert together[shard].rows.equals(alone.rows)
        assert together[shard].rejects.equals(alone.rejects)
        assert together[shard].stats == alone.stats
    assert together["s1"].rows["order_id"].to_list() == [11, 11, 13, 15]
    assert set(together["s1"].rejects["_shard"]) == {"s1"}
    assert together["s2"].stats.rows_in == together["s2"].rows.height == 0


def test_a_day_is_shaped_in_chunks_with_the_same_result(monkeypatch) -> None:
    """Chunked JSON passes (bounded memory) give what one pass gives; a JSON column that is
    also declared as an output survives the drop of spent JSON text."""
    import etl_platform.transform.view_shape as view_shape

    spec = _spec(
        columns={
            "order_id": {"from": "id", "type": "uint64"},
            "payload": {"from": "payload", "type": "string"},
            "items": {"json": "payload", "path": "items", "type": "json"},
        }
    )
    whole = _shape(spec)
    monkeypatch.setattr(view_shape, "CHUNK_ROWS", 2)
    chunked = _shape(spec)
    assert chunked.rows.equals(whole.rows)
    assert chunked.rejects.equals(whole.rejects)
    assert chunked.stats == whole.stats
    assert chunked.rows["payload"].null_count() < chunked.rows.height


def test_a_day_read_in_slices_gives_what_the_whole_day_gives() -> None:
    """Slices bound what a day holds of the raw text; a shard may span slices and a shard
    with no rows still appears once: rows, rejects, counts and drift samples are the same."""
    spec = _spec(
        columns={
            "order_id": {"from": "id", "type": "uint64"},
            "sku": {"json": "payload", "path": "items.0.sku", "type": "string"},
        }
    )
    big = pl.concat([ORDERS.with_columns(pl.col("id") + 100 * i) for i in range(50)])
    raws = {"s0": big, "s1": ORDERS.with_columns(pl.col("id") + 10), "s2": ORDERS.clear()}
    slices = [
        {"s0": big.slice(0, 7)},
        {"s0": big.slice(7, 200)},
        {"s0": big.slice(207), "s1": raws["s1"].slice(0, 2)},
        {"s1": raws["s1"].slice(2), "s2": raws["s2"]},
    ]
    kwargs = dict(
        primary_key=["id"],
        related={s: {"products": PRODUCTS} for s in raws},
        related_cursors={"products": "updated_at"},
        run_id="r1",
    )
    whole = shape_day(spec, raws, cursor="updated_at", **kwargs)
    typed = list(
        type_slices(
            spec,
            iter(slices),
            primary_key=["id"],
            cursor="updated_at",
            day_rows={s: r.height for s, r in raws.items()},
        )
    )
    assert [shard for shard, _ in typed] == ["s0", "s1", "s2"]
    assert "payload" not in typed[0][1].rows.columns  # the raw text is not carried on
    sliced = dict(finish_shards(spec, typed, **kwargs))
    assert list(sliced) == ["s0", "s1", "s2"]
    for shard in raws:
        assert sliced[shard].rows.equals(whole[shard].rows)
        assert sliced[shard].rejects.equals(whole[shard].rejects)
        assert sliced[shard].stats == whole[shard].stats
        assert sliced[shard].drift_sample.keys() == whole[shard].drift_sample.keys()
        for column, sample in whole[shard].drift_sample.items():
            assert sliced[shard].drift_sample[column].equals(sample)
    assert whole["s0"].stats.rows_in == 300 and whole["s0"].drift_sample["payload"].len() == 150


def test_kept_columns_are_what_the_per_shard_half_reads() -> None:
    spec = _items_spec(flatten=[{"json": "extra", "prefix": "x_"}])
    assert columns_kept(spec, ["id"]) == [
        "order_id", "sku", "id", "payload", "extra", "_shard", "_updated_at",
    ]  # fmt: skip


def test_a_shard_is_handed_on_once_its_last_slice_is_typed() -> None:
    """The per-shard half can run on s0 while later shards are still unread."""
    spec = _spec()
    read: list[int] = []

    def slices():
        for i, part in enumerate(
            [{"s0": ORDERS.slice(0, 3)}, {"s0": ORDERS.slice(3)}, {"s1": ORDERS}, {"s2": ORDERS}]
        ):
            read.append(i)
            yield part

    typed = type_slices(spec, slices(), primary_key=["id"], cursor="updated_at")
    shard, first = next(typed)
    assert (shard, first.rows_in, read) == ("s0", 6, [0, 1, 2])
    assert [s for s, _ in typed] == ["s1", "s2"] and read == [0, 1, 2, 3]


@pytest.mark.parametrize("order", [[0, 1], [1, 0]])
def test_an_exact_tie_is_decided_by_the_declared_columns_first(order: list[int]) -> None:
    """Same key, same cursor: the greater `sku` wins, whatever the raw JSON text around it."""
    spec = _spec(
        columns={
            "order_id": {"from": "id", "type": "uint64"},
            "sku": {"json": "payload", "path": "sku", "type": "string"},
        }
    )
    tied = pl.DataFrame(
        {
            "id": pl.Series([7, 7], dtype=pl.UInt64),
            "payload": ['{"b": 1, "sku": "A"}', '{"a": 1, "sku": "Z"}'],
            "updated_at": [_ts(1), _ts(1)],
        }
    )[order]
    shaped = shape_shard(
        spec,
        tied,
        shard="s0",
        primary_key=["id"],
        cursor="updated_at",
        related={},
        related_cursors={},
        run_id="r1",
    )
    assert shaped.rows["sku"].to_list() == ["Z"]
    assert shaped.stats.duplicates == 1
