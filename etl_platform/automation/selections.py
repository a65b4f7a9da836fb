"""The asset selections jobs and sensors share."""

from __future__ import annotations

import dagster as dg

from etl_platform.partitions import MONTHLY_TAG

RAW_ASSETS = dg.AssetSelection.key_prefixes(["raw"])
#: Raw assets of `partitions: monthly` tables: a job holds one partitioning, so they run in
#: jobs of their own (`extract_raw_monthly`) before the daily ones.
MONTHLY_RAW_ASSETS = dg.AssetSelection.tag(*next(iter(MONTHLY_TAG.items())))
DAILY_RAW_ASSETS = RAW_ASSETS - MONTHLY_RAW_ASSETS
VIEW_ASSETS = (
    dg.AssetSelection.key_prefixes(["state"])
    | dg.AssetSelection.key_prefixes(["views"])
    | dg.AssetSelection.key_prefixes(["reports"])
)
DESTINATION_ASSETS = dg.AssetSelection.groups("destinations")
NOTIFICATION_ASSETS = dg.AssetSelection.key_prefixes(["notifications"])
BACKWARD_COMPAT_ASSETS = dg.AssetSelection.groups("backward_compat")
