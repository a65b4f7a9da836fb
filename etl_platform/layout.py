"""The partition vocabulary every zone and destination shares: one column name, one key format.

Dagster's daily partition key, the lake's `updated_at=YYYY-MM-DD/` folders, the Glue partition
value and Redshift's partition column all spell a day the same way; this module is where.
"""

from __future__ import annotations

import datetime as dt

#: The partition column of every view and destination (the UTC day of the source's cursor).
PARTITION_COLUMN = "updated_at"


def partition_key(day: dt.date) -> str:
    """A day as a partition key, folder value and Glue partition value (an ISO date)."""
    return day.isoformat()


def parse_partition_key(key: str) -> dt.date:
    return dt.date.fromisoformat(key)


def partition_folder(day: dt.date) -> str:
    """The Hive-style folder of a day: `updated_at=YYYY-MM-DD`."""
    return f"{PARTITION_COLUMN}={partition_key(day)}"


#: A glob over a dataset's day folders.
PARTITION_FOLDER_GLOB = f"{PARTITION_COLUMN}=*"


def folder_day(name: str) -> dt.date | None:
    """The day of a folder named by `partition_folder`, or None for any other name."""
    prefix = f"{PARTITION_COLUMN}="
    if not name.startswith(prefix):
        return None
    try:
        return parse_partition_key(name.removeprefix(prefix))
    except ValueError:
        return None
