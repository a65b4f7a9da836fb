"""Scale of definitions (issue 31 point 9): how long the code location takes to load and the
sensors take to tick as the configuration grows, each size in a fresh process.

    python -m bench.scale.run                       # demo, 12x20 + 100 views, ~2,000 assets
    python -m bench.scale.run --sizes 12x20x100     # shards x tables x views

The demo's own configuration is the baseline of the same run: the figures to read are the
ratios, as everywhere in `bench/`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.scale.specs import write_config

DEFAULT_SIZES = ["demo", "12x20x100", "12x60x180"]


def _measure(size: str, work: Path, repeats: int) -> list[dict]:
    env = {
        **os.environ,
        "ETL_PLATFORM_ENV": "test",
        "SCALE_SHARD_URL": "mysql://u@127.0.0.1:9/x",
        # Set, so the alert sensor evaluates its events (none here: nothing is posted).
        "ETL_PLATFORM_ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook",
    }
    if size != "demo":
        shards, tables, views = (int(n) for n in size.split("x"))
        folder = work / size
        write_config(folder, shards=shards, tables=tables, views=views)
        env["ETL_PLATFORM_SOURCES"] = str(folder / "sources.yaml")
        env["ETL_PLATFORM_VIEWS_DIR"] = str(folder / "views")
    env["ETL_PLATFORM_LAKE"] = str(work / f"lake-{size}")
    runs = []
    for _ in range(repeats):
        done = subprocess.run(
            [sys.executable, "-m", "bench.scale.load"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise SystemExit(f"{size}: {done.stderr[-3000:]}")
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return runs


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", nargs="+", default=DEFAULT_SIZES)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp:
        for size in args.sizes:
            runs = _measure(size, Path(tmp), args.repeats)
            summary = {k: v for k, v in runs[0].items() if not k.endswith("_s")}
            for key in (k for k in runs[0] if k.endswith("_s")):
                summary[key] = _median([r[key] for r in runs])
            results[size] = summary
            print(size, json.dumps(summary), flush=True)
    base = results.get("demo")
    if base:
        for size, figures in results.items():
            ratio = figures["load_s"] / base["load_s"]
            tick = figures["automation_tick_s"] / max(base["automation_tick_s"], 1e-3)
            print(f"{size}: load x{ratio:.2f}, automation tick x{tick:.2f} of the demo's")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
