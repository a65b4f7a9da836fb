"""Turn the measurements into a Markdown report: medians, spreads, rows/s, ratios to A."""

from __future__ import annotations

import argparse
import math
import os
import statistics
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from bench.common import BenchConfig, Measurement

MIB = 2**20
LABELS = {
    "A": "A: etl_platform etl_all (Dagster in process, ephemeral instance)",
    "A_sqlite": "A on a SQLite DAGSTER_HOME (every event stored, as `dagster dev`)",
    "A_quarter": "A at a quarter of the orders (memory scaling)",
    "A_dagster": "A's fixed cost: the same Dagster job, assets doing no work",
    "B": "B: naive pandas DAG",
    "C": "C: connectorx -> Arrow -> Parquet (floor)",
    "C_cli": "C': mariadb --quick --batch > /dev/null",
    "D": "D: dlt sql_database, pyarrow backend, Parquet",
}


def _machine() -> str:
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    return f"{os.cpu_count()} CPUs ({cpu}), {int(mem) / 2**20:.1f} GiB RAM"


def _spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


def _step_table(by: dict[str, list[Measurement]]) -> list[str]:
    """A's steps (median seconds, highest RSS and cores busy while each ran): where time, memory
    and the idle cores go."""
    rows: dict[str, dict[str, list[tuple[float, float, float, float]]]] = {}
    for name in ("A", "A_quarter"):
        for run in by.get(name, []):
            seconds = run.detail.get("steps") or {}
            peaks = run.detail.get("step_peak_mib") or {}
            cores = run.detail.get("step_cores") or {}
            for step in peaks or seconds:
                mine, server = cores.get(step, (float("nan"), float("nan")))
                rows.setdefault(step, {}).setdefault(name, []).append(
                    (float(seconds.get(step, 0.0)), float(peaks.get(step, 0)), mine, server)
                )
    if not rows:
        return []

    def cell(step: str, name: str) -> str:
        got = rows[step].get(name)
        if not got:
            return "n/a"
        seconds, peak, mine, server = (statistics.median(v) for v in zip(*got, strict=True))
        busy = "" if math.isnan(mine) else f", {mine:.2f} + {server:.2f} cores"  # NaN: not sampled
        return f"{seconds:.2f} s, {peak:.0f} MiB{busy}"

    lines = [
        "",
        "A's steps (medians: step time; highest tree RSS sampled while the step ran; cores busy"
        " meanwhile, A's process tree + the MariaDB server, of "
        f"{os.cpu_count()}):",
        "",
        "| step | A | A at a quarter |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {step} | {cell(step, 'A')} | {cell(step, 'A_quarter')} |" for step in rows]
    return lines


#: The issue's speed targets: (variant, what A's wall may be at most, given that variant's).
SPEED_TARGETS = (
    ("B", "≥10x faster than B", lambda wall: wall / 10),
    ("C", "within 2x of C", lambda wall: wall * 2),
    ("D", "≥3x faster than D", lambda wall: wall / 3),
)


def cpu_budget(by: dict[str, list[Measurement]], cores: int) -> list[str]:
    """Each speed target against A's floor: the fastest A can be on these cores with its CPU.

    A's fixed cost (A_dagster: imports, definitions, Dagster's run) runs on one core; the rest of
    its CPU, the server's included (it shares the cores), can at best keep every core busy. A
    target below that floor cannot be met by overlapping work, only by doing less of it or on
    more cores (bench/RESULTS.md, twenty-first session).
    """
    if "A" not in by or "A_dagster" not in by:
        return []

    def median(name: str, value: Callable[[Measurement], float]) -> float:
        return statistics.median(value(r) for r in by[name])

    wall = median("A", lambda r: r.wall_seconds)
    cpu = median("A", lambda r: r.cpu_seconds + r.server_cpu_seconds)
    fixed_wall = median("A_dagster", lambda r: r.wall_seconds)
    fixed_cpu = median("A_dagster", lambda r: r.cpu_seconds + r.server_cpu_seconds)
    floor = fixed_wall + max(0.0, cpu - fixed_cpu) / cores
    lines = [
        "",
        f"A's CPU budget on {cores} cores: {cpu:.1f} CPU s (its tree's and the server's) in "
        f"{wall:.2f} s, {cpu / wall:.2f} cores busy on average. Its floor, with the fixed cost "
        f"({fixed_wall:.2f} s) on one core and the rest on every core all the time: "
        f"{floor:.2f} s.",
        "",
        "| target | A must take at most | A's floor | A now | reachable by overlap alone? |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, label, allowed in SPEED_TARGETS:
        if name not in by:
            continue
        limit = allowed(median(name, lambda r: r.wall_seconds))
        if limit >= floor:
            busy = (cpu - fixed_cpu) / max(limit - fixed_wall, 1e-9)
            verdict = f"yes, with {busy:.2f} cores busy after the fixed cost"
        else:
            most = max(0.0, limit - fixed_wall) * cores + fixed_cpu
            verdict = f"no: only at {most:.1f} CPU s or less ({most / cpu - 1:+.1%})"
        lines.append(f"| {label} | {limit:.2f} s | {floor:.2f} s | {wall:.2f} s | {verdict} |")
    return lines


def write_report(
    path: Path,
    args: argparse.Namespace,
    config: BenchConfig,
    results: list[Measurement],
    extra: dict[str, object],
) -> None:
    by: dict[str, list[Measurement]] = defaultdict(list)
    for r in results:
        by[r.variant].append(r)
    med = {k: statistics.median(r.wall_seconds for r in v) for k, v in by.items()}
    work = {k: statistics.median(r.work_seconds for r in v) for k, v in by.items()}
    lines = [
        f"Machine: {_machine()}. Data: {args.shards} shards x {args.orders} orders over "
        f"{args.days} days ({config.first}..{config.last}), {args.rounds} rounds, interleaved."
        f" MariaDB buffer pool: {getattr(args, 'buffer_pool_mib', 512)} MiB, warmed."
        f" Output to {getattr(args, 'scratch', None) or 'the disk (<dir>/scratch)'}.",
        f"connectorx needed the casting SELECT: {extra.get('connectorx_cast')}.",
        "",
        "| variant | runs | orders | wall s median (min-max) | work s median | orders/s (wall) "
        "| orders/s (work) | peak RSS MiB median (max) | CPU s: variant + server | wall ÷ A "
        "| work ÷ A |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]

    def ratio(values: dict[str, float], name: str) -> str:
        return f"{values[name] / values['A']:.2f}" if "A" in values else "n/a"

    for name, runs in by.items():
        rows = runs[0].rows
        rss = [r.peak_rss_bytes / MIB for r in runs]
        rates = (
            f"{rows / med[name]:,.0f} | {rows / work[name]:,.0f}" if rows else "- | -"
        )  # A_dagster reads no rows
        lines.append(
            f"| {LABELS.get(name, name)} | {len(runs)} | {rows or '-'} | {med[name]:.2f} "
            f"({_spread([r.wall_seconds for r in runs])}) | {work[name]:.2f} "
            f"| {rates} "
            f"| {statistics.median(rss):.0f} ({max(rss):.0f}) "
            f"| {statistics.median(r.cpu_seconds for r in runs):.1f} + "
            f"{statistics.median(r.server_cpu_seconds for r in runs):.1f} "
            f"| {ratio(med, name)} | {ratio(work, name)} |"
        )
    if "A_quarter" in by and "A" in by:
        full = statistics.median(r.peak_rss_bytes for r in by["A"])
        quarter = statistics.median(r.peak_rss_bytes for r in by["A_quarter"])
        lines += [
            "",
            f"Memory scaling of A: peak RSS {quarter / MIB:.0f} MiB at X "
            f"({by['A_quarter'][0].rows} orders) vs {full / MIB:.0f} MiB at 4X "
            f"({by['A'][0].rows} orders): 4X/X = {full / quarter:.2f} (target <= 1.20).",
        ]
    if "A_dagster" in by and "A" in by:
        floor, runs = med["A_dagster"], by["A_dagster"]
        detail = runs[0].detail

        def part(key: str) -> float:
            return statistics.median(float(r.detail.get(key, "nan")) for r in runs)

        above = med["A"] - floor
        versus_c = f" ({above / med['C']:.2f}x C's whole run)" if "C" in by else ""
        lines += [
            "",
            f"A's fixed cost with no work (A_dagster: the same job's {detail.get('assets')} "
            f"assets x {detail.get('days')} days, doing nothing): {floor:.2f} s, "
            f"{floor / med['A']:.0%} of A's wall; of it Dagster's run (its events) "
            f"{part('run_seconds'):.2f} s and `import dagster` {part('dagster_import_seconds'):.2f}"
            f" s, the rest the interpreter, the other imports and the definitions. A above it: "
            f"{above:.2f} s{versus_c}.",
        ]
    lines += cpu_budget(by, cores=os.cpu_count() or 1)
    lines += _step_table(by)
    inc = extra.get("incremental")
    if isinstance(inc, dict):
        day, full_run = inc["day_run"], inc["full_run"]
        lines += [
            "",
            f"Incremental: UPDATE of {inc['updated_rows']} orders (1%) on {inc['shard']} to "
            f"updated_at = now; extract_raw (all shards, orders + customers) of {inc['day']} only: "
            f"{day.wall_seconds:.2f}s wall / {day.work_seconds:.2f}s work, {day.rows} orders; "
            f"full range: {full_run.wall_seconds:.2f}s wall / {full_run.work_seconds:.2f}s work, "
            f"{full_run.rows} orders.",
        ]
        direct_day, direct_full = inc.get("direct_day"), inc.get("direct_full")
        if direct_day is not None and direct_full is not None:
            lines += [
                "",
                f"The extractor alone (orders of every shard, no Dagster, timer around the "
                f"reads): the day read {direct_day.rows} rows in {direct_day.work_seconds:.3f}s, "
                f"the full range {direct_full.rows} rows in {direct_full.work_seconds:.3f}s: "
                f"{direct_day.rows / max(direct_full.rows, 1):.1%} of the rows for "
                f"{direct_day.work_seconds / direct_full.work_seconds:.1%} of the time.",
            ]
        lines += [
            "",
            "EXPLAIN of the day query on that shard:",
            "",
            "| " + " | ".join(inc["explain"][0]) + " |",
            "|" + " --- |" * len(inc["explain"][0]),
            *("| " + " | ".join(str(v) for v in row.values()) + " |" for row in inc["explain"]),
        ]
    isolated = extra.get("isolated")
    if isinstance(isolated, dict):
        from bench.incremental import describe_isolated

        lines += ["", *describe_isolated(isolated)]
    prof = extra.get("profile")
    if isinstance(prof, dict):
        run = prof["run"]
        lines += ["", f"Profiled A run: {run.wall_seconds:.2f}s wall; profile in {prof['file']}."]
    path.write_text("\n".join(lines) + "\n")
