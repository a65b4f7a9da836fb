"""Generated configurations of a given size: shards x tables in `sources.yaml` (with its schema
snapshot) and view specs over them, each view with a lookup and a JSON path, spread over
domains and owners as a real team's views are."""

from __future__ import annotations

from pathlib import Path

import yaml

DOMAINS = ("sales", "finance", "logistics", "marketing", "support")
OWNERS = ("team-orders@example.com", "team-billing@example.com", "team-growth@example.com")

_COLUMNS = {
    "id": "bigint(20) unsigned",
    "ref_id": "bigint(20) unsigned",
    "status": "varchar(32)",
    "amount": "decimal(12,2)",
    "payload": "longtext",
    "created_at": "datetime(6)",
    "updated_at": "datetime(6)",
}


def table_name(i: int) -> str:
    return f"t{i:03d}"


def write_config(folder: Path, *, shards: int, tables: int, views: int) -> Path:
    """`folder/sources.yaml`, `folder/sources.schema.yaml` and `folder/views/<name>/defs.yaml`;
    the views folder back. Every shard reads one URL from `SCALE_SHARD_URL` (never opened by
    the loading and ticking measured here)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [table_name(i) for i in range(tables)]
    sources = {
        "timezone": "UTC",
        "start": "2026-01-01",
        "shards": {
            f"shard_{s:02d}": {"url_env": "SCALE_SHARD_URL", "database": f"db_{s:02d}"}
            for s in range(shards)
        },
        "tables": {t: {"primary_key": ["id"], "json": ["payload"]} for t in names},
    }
    (folder / "sources.yaml").write_text(yaml.safe_dump(sources, sort_keys=False))
    schema = {"tables": {t: dict(_COLUMNS) for t in names}}
    (folder / "sources.schema.yaml").write_text(yaml.safe_dump(schema, sort_keys=False))
    views_dir = folder / "views"
    for v in range(views):
        source, looked_up = names[v % tables], names[(v + 1) % tables]
        name = f"view_{v:03d}"
        spec = {
            "type": "etl_platform.components.ViewComponent",
            "attributes": {
                "name": name,
                "description": f"Generated view {v} over {source}.",
                "source": source,
                "domain": DOMAINS[v % len(DOMAINS)],
                "owners": [OWNERS[v % len(OWNERS)]],
                "lookups": [
                    {
                        "table": looked_up,
                        "on": {"ref_id": "id"},
                        "columns": {"status": "ref_status"},
                    }
                ],
                "columns": {
                    "id": {"from": "id", "type": "uint64"},
                    "status": {"from": "status", "type": "string"},
                    "amount": {"from": "amount", "type": "decimal(12,2)"},
                    "city": {"json": "payload", "path": "address.city", "type": "string"},
                },
                "unique_key": ["id"],
                "freshness": {"warn_after": "1h", "fail_after": "6h"},
            },
        }
        (views_dir / name).mkdir(parents=True, exist_ok=True)
        (views_dir / name / "defs.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return views_dir
