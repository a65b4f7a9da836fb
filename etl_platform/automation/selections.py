"""The asset selections jobs and sensors share."""

from __future__ import annotations

import dagster as dg

RAW_ASSETS = dg.AssetSelection.key_prefixes(["raw"])
VIEW_ASSETS = (
    dg.AssetSelection.key_prefixes(["state"])
    | dg.AssetSelection.key_prefixes(["views"])
    | dg.AssetSelection.key_prefixes(["reports"])
)
DESTINATION_ASSETS = dg.AssetSelection.groups("destinations")
NOTIFICATION_ASSETS = dg.AssetSelection.key_prefixes(["notifications"])
BACKWARD_COMPAT_ASSETS = dg.AssetSelection.groups("backward_compat")
