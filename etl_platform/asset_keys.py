"""Every asset key and pool name the platform makes, built in one place.

Components import their keys from here, not from each other: a view depends on `raw/*` and
`state/*` by key, whichever component defines them.
"""

from __future__ import annotations

import dagster as dg

#: Loads into Redshift share one pool (the cluster's commit queue is the bottleneck).
REDSHIFT_POOL = "redshift"


def raw_asset_key(shard: str, table: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", shard, table])


def state_asset_key(shard: str, table: str) -> dg.AssetKey:
    return dg.AssetKey(["state", shard, table])


def reconcile_asset_key(shard: str, table: str) -> dg.AssetKey:
    return dg.AssetKey(["reconcile", shard, table])


def view_asset_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["views", name])


def rejects_asset_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["views", f"{name}__rejects"])


def destination_asset_key(destination: str, view: str) -> dg.AssetKey:
    return dg.AssetKey([destination, view])


def compat_asset_key(view: str) -> dg.AssetKey:
    return dg.AssetKey(["athena_from_redshift", view])


def shard_pool(shard: str) -> str:
    """One Dagster pool per shard caps the queries that hit one replica at a time."""
    return f"mysql_{shard}"


def current_asset_key(view: str) -> dg.AssetKey:
    """A view's current rows: the latest version of each key across its days."""
    return dg.AssetKey(["views", f"{view}__current"])


def report_asset_key(view: str) -> dg.AssetKey:
    return dg.AssetKey(["reports", view])


def by_column_asset_key(view: str, column: str) -> dg.AssetKey:
    """A view's current rows partitioned by one of its date columns (`partition_by`)."""
    return dg.AssetKey(["views", f"{view}__by_{column}"])


def capture_asset_key(shard: str) -> dg.AssetKey:
    """A shard's binlog capture (`etl-platform cdc run`): its lag and position."""
    return dg.AssetKey(["cdc", shard])


#: A view's data lag check (`components.data_lag`); the alert sensor posts its ERRORs.
DATA_LAG_CHECK = "data_lag"


#: The group of every external provider asset (`providers/<name>`).
PROVIDERS_GROUP = "providers"


def provider_asset_key(name: str) -> dg.AssetKey:
    """An external HTTP provider read whole (`sources.yaml` `providers:`)."""
    return dg.AssetKey(["providers", name])


def view_group(domain: str | None) -> str:
    """A view's group in the UI: its domain's (`views_<domain>`), so hundreds of views stay
    browsable; `views` without one."""
    return f"views_{domain}" if domain else "views"


#: The group of the views' notification assets.
NOTIFICATIONS_GROUP = "notifications"
#: A notification asset's check; the alert sensor posts its ERRORs.
DEAD_LETTER_CHECK = "dead_letter_ratio"


def notifications_asset_key(view: str) -> dg.AssetKey:
    """What a view's notification rules sent (docs/notifications.md)."""
    return dg.AssetKey([NOTIFICATIONS_GROUP, view])


def dead_letters_asset_key(view: str) -> dg.AssetKey:
    return dg.AssetKey([NOTIFICATIONS_GROUP, f"{view}__dead_letters"])
