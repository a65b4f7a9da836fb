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
