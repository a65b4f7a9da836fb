"""One configuration measured in this process, cold: import, definitions, the code server's
snapshot of the repository, then the ticks of the automation and the sensors that evaluate
without a shard (alerts, data lag). Prints one JSON line. Run by `bench.scale.run`."""

from __future__ import annotations

import json
import resource
import sys
import time

T0 = time.perf_counter()


def _seconds(since: float) -> float:
    return round(time.perf_counter() - since, 3)


def main() -> None:
    import dagster as dg
    from dagster._core.remote_representation.external_data import RepositorySnap

    from etl_platform.definitions import build_definitions

    imported = _seconds(T0)
    t = time.perf_counter()
    defs = build_definitions()
    built = _seconds(t)
    t = time.perf_counter()
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    RepositorySnap.from_def(repo)
    snapshot = _seconds(t)
    figures: dict[str, object] = {
        "assets": len(graph.get_all_asset_keys()),
        "checks": len(graph.asset_check_keys),
        "groups": len({graph.get(k).group_name for k in graph.get_all_asset_keys()}),
        "sensors": len(repo.sensor_defs),
        "jobs": len(repo.get_all_jobs()),
        "import_s": imported,
        "definitions_s": built,
        "snapshot_s": snapshot,
        "load_s": _seconds(T0),
    }
    with dg.instance_for_test() as instance:
        t = time.perf_counter()
        first = dg.evaluate_automation_conditions(defs, instance)
        figures["automation_first_tick_s"] = _seconds(t)
        t = time.perf_counter()
        dg.evaluate_automation_conditions(defs, instance, cursor=first.cursor)
        figures["automation_tick_s"] = _seconds(t)
        for name in ("platform_alerts", "view_data_lag"):
            sensor = next((s for s in repo.sensor_defs if s.name == name), None)
            if sensor is None:
                continue
            context = dg.build_sensor_context(instance=instance, definitions=defs)
            t = time.perf_counter()
            sensor(context)
            figures[f"{name}_tick_s"] = _seconds(t)
    figures["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(figures), file=sys.stdout, flush=True)


if __name__ == "__main__":
    main()
