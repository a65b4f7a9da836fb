"""From the logs of a run to its figures: per change, commit -> landed -> queryable; per
phase, their percentiles, the refresh cycles and the CPU shares; as a markdown table."""

from __future__ import annotations

import polars as pl

from bench.cdc.observe import KEY, Cycle

PERCENTILES = (("p50", 0.5), ("p95", 0.95), ("max", 1.0))


def change_times(
    changes: pl.DataFrame, visible: pl.DataFrame, landed: pl.DataFrame, cycles: list[Cycle]
) -> pl.DataFrame:
    """Each change with `commit`, `landed` (its change file's mtime), `visible` (the first poll
    that showed this version of the row or a later one), and the refresh cycle that first
    started after it landed (`cycle_start`, `cycle_end`). Times in epoch seconds."""
    versions = visible.rename({"written_us": "version_us"}).sort("version_us")
    out = (
        changes.sort("written_us")
        .join_asof(
            versions,
            left_on="written_us",
            right_on="version_us",
            by=["shard", "id"],
            strategy="forward",
            check_sortedness=False,  # sorted by the stamp overall, so within each key too
        )
        .join(landed, on=KEY, how="left")
        .with_columns((pl.col("written_us") / 1e6).alias("commit"))
    )
    ok = [c for c in cycles if c.error is None]
    runs = pl.DataFrame(
        {"cycle_start": [c.start for c in ok], "cycle_end": [c.end for c in ok]},
        schema={"cycle_start": pl.Float64, "cycle_end": pl.Float64},
    ).sort("cycle_start")
    with_landed = out.filter(pl.col("landed").is_not_null()).sort("landed")
    placed = with_landed.join_asof(
        runs, left_on="landed", right_on="cycle_start", strategy="forward"
    )
    rest = out.filter(pl.col("landed").is_null()).with_columns(
        pl.lit(None, pl.Float64).alias("cycle_start"), pl.lit(None, pl.Float64).alias("cycle_end")
    )
    return pl.concat([placed, rest], how="diagonal_relaxed")


#: The width of the windows a phase's latency is followed over (is a backlog building up?).
TREND_SECONDS = 30


def _trend(rows: pl.DataFrame, start: float) -> list[dict[str, float | int | None]]:
    """Per window of the phase (by commit time): its changes, and the p95 of commit ->
    queryable and of commit -> landed."""
    out = []
    windowed = rows.with_columns(
        ((pl.col("commit") - start) // TREND_SECONDS).cast(pl.Int64).alias("window")
    )
    for (window,), part in sorted(windowed.group_by("window"), key=lambda kv: kv[0][0]):
        out.append(
            {
                "from_second": int(window) * TREND_SECONDS,
                "changes": part.height,
                "queryable_p95": _spread(part["visible"] - part["commit"])["p95"],
                "landed_p95": _spread(part["landed"] - part["commit"])["p95"],
            }
        )
    return out


def _spread(values: pl.Series) -> dict[str, float | None]:
    values = values.drop_nulls()
    if values.is_empty():
        return {name: None for name, _ in PERCENTILES}
    return {name: float(values.quantile(q, "nearest")) for name, q in PERCENTILES}


def phase_figures(times: pl.DataFrame, phase: int, cycles: list[Cycle], window: tuple) -> dict:
    """The phase's changes (by commit) and refresh cycles (by start)."""
    rows = times.filter(pl.col("phase") == phase)
    ok = [c for c in cycles if c.error is None and window[0] <= c.start < window[1]]
    durations = pl.Series([c.end - c.start for c in ok], dtype=pl.Float64)
    return {
        "changes": rows.height,
        "never_visible": rows.filter(pl.col("visible").is_null()).height,
        "never_landed_seen": rows.filter(pl.col("landed").is_null()).height,
        "commit_to_queryable": _spread(rows["visible"] - rows["commit"]),
        "commit_to_landed": _spread(rows["landed"] - rows["commit"]),
        "landed_to_queryable": _spread(rows["visible"] - rows["landed"]),
        "wait_for_cycle": _spread(rows["cycle_start"] - rows["landed"]),
        "cycle_seconds": _spread(durations),
        "cycles": len(ok),
        "cycle_errors": sum(
            1 for c in cycles if c.error is not None and window[0] <= c.start < window[1]
        ),
        "rows_in_view_at_end": max((c.rows for c in ok), default=0),
        "trend": _trend(rows, window[0]),
    }


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _three(spread: dict[str, float | None]) -> str:
    return " / ".join(_s(spread[name]) for name, _ in PERCENTILES)


def markdown(report: dict) -> str:
    """The run's table: one column per phase."""
    phases = report["phases"]
    header = "| measure | " + " | ".join(p["name"] for p in phases) + " |"
    lines = [header, "| --- |" + " ---: |" * len(phases)]

    def row(label: str, cell) -> None:
        lines.append(f"| {label} | " + " | ".join(cell(p) for p in phases) + " |")

    row("target changes/s (all shards)", lambda p: f"{p['target_rate']:,.0f}")
    row("achieved changes/s", lambda p: f"{p['achieved_rate']:,.0f}")
    row("changes (inserts + updates)", lambda p: f"{p['figures']['changes']:,}")
    row(
        "**commit -> queryable s, p50 / p95 / max**",
        lambda p: _three(p["figures"]["commit_to_queryable"]),
    )
    row("commit -> change file landed s", lambda p: _three(p["figures"]["commit_to_landed"]))
    row("change file -> queryable s", lambda p: _three(p["figures"]["landed_to_queryable"]))
    row("  of which: wait for the next rebuild s", lambda p: _three(p["figures"]["wait_for_cycle"]))
    row("rebuild cycle s (p50 / p95 / max)", lambda p: _three(p["figures"]["cycle_seconds"]))
    row(
        "rebuild cycles (errors)",
        lambda p: f"{p['figures']['cycles']} ({p['figures']['cycle_errors']})",
    )
    row("view rows at the phase's end", lambda p: f"{p['figures']['rows_in_view_at_end']:,}")
    row("never queryable (by the drain's end)", lambda p: f"{p['figures']['never_visible']:,}")
    row(
        f"commit -> queryable p95 s per {TREND_SECONDS} s of the phase",
        lambda p: ", ".join(_s(w["queryable_p95"]) for w in p["figures"]["trend"]),
    )
    row(
        f"commit -> landed p95 s per {TREND_SECONDS} s of the phase",
        lambda p: ", ".join(_s(w["landed_p95"]) for w in p["figures"]["trend"]),
    )
    for group in ("capture", "servers", "writers", "bench", "other", "machine"):
        row(f"CPU, share of all cores: {group}", lambda p, g=group: f"{p['cpu'][g]:.0%}")
    return "\n".join(lines)
