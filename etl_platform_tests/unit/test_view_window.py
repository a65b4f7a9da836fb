"""The view asset's per-run bookkeeping: drift samples stay bounded, state is read lazily."""

from __future__ import annotations

import polars as pl

from etl_platform.steps import view_days as views


def test_drift_samples_of_a_run_stay_bounded(monkeypatch) -> None:
    monkeypatch.setattr(views, "DRIFT_RUN_ROWS", 1_000)
    window = views.ViewWindow()
    for day in range(40):
        window.add_drift_sample("payload", pl.Series("payload", [f'{{"d": {day}}}'] * 100))
    kept = window.drift_samples["payload"]
    assert sum(s.len() for s in kept) <= 1_000
    assert len(kept) == 40  # every day still has its say


def test_lookup_state_is_read_only_for_the_shard_asked() -> None:
    read: list[str] = []

    def load(shard: str) -> dict[str, pl.DataFrame]:
        read.append(shard)
        return {"customers": pl.DataFrame({"id": [1]})}

    states = views.LazyStates(["s0", "s1"], load)
    assert list(states) == ["s0", "s1"] and len(states) == 2
    assert read == []
    assert states["s1"]["customers"].height == 1
    assert read == ["s1"]


def test_thinned_drift_samples_let_go_of_the_rows_they_drop(monkeypatch) -> None:
    """Thinning copies the kept texts: a gathered String Series would keep every dropped
    row's text too (string views into the same buffers), so the bound would hold rows only."""
    monkeypatch.setattr(views, "DRIFT_RUN_ROWS", 1_000)
    window = views.ViewWindow()
    document = '{"pad": "' + "x" * 1_000 + '"}'
    for _ in range(40):
        window.add_drift_sample("payload", pl.Series("payload", [document] * 100))
    kept = window.drift_samples["payload"]
    held = sum(s.to_arrow(compat_level=pl.CompatLevel.newest()).nbytes for s in kept)
    assert held < 1_000 * 1.2 * len(document) + 100_000  # the rows kept, not the 4,000 given


def test_empty_shard_days_keep_the_shards_order_and_shape_the_rest_together() -> None:
    """A shard without rows is shaped on its first such day only; later, shards to shape are
    shaped in runs between the ones handed out again, in the day's shard order."""
    from etl_platform.transform.view_shape import Shaped, ShardStats

    calls: list[list[str]] = []

    def shape(group: list[str]):
        calls.append(list(group))
        for shard in group:
            stats = ShardStats(rows_in=rows[shard], orphans={"customers": 0})
            frame = pl.DataFrame({"id": list(range(rows[shard]))}, schema={"id": pl.Int64})
            yield shard, Shaped(frame, pl.DataFrame(), stats, {}, [])

    empty = views.EmptyShardDays()
    rows = {"s0": 0, "s1": 2, "s2": 0}
    first = [shard for shard, _ in empty.shaped(["s0", "s1", "s2"], rows, shape)]
    assert first == ["s0", "s1", "s2"] and calls == [["s0", "s1", "s2"]]
    rows = {"s0": 0, "s1": 0, "s2": 3}
    calls.clear()
    second = list(empty.shaped(["s0", "s1", "s2"], rows, shape))
    assert [shard for shard, _ in second] == ["s0", "s1", "s2"]
    assert calls == [["s1", "s2"]]  # s0 handed out again; s1 was never empty before
    handed = second[0][1]
    handed.stats.orphans["customers"] = 5  # a copy: the remembered day is not changed
    third = dict(empty.shaped(["s0"], {"s0": 0}, shape))
    assert third["s0"].stats.orphans == {"customers": 0}
