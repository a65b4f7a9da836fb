"""Which days of a dataset were written with no rows: `<dataset>/_empty_days.json`.

Such a day has no folder and no file, so a range run over years of sparse history leaves no
empty file per day. The manifest is one small JSON list of `[first, last]` ISO date ranges,
sorted and merged, replaced atomically (a temp file beside it, fsync, `os.replace`) under the
dataset's `flock`, so writers of different windows of one dataset are all recorded.

A day is written when it has files or is listed here; when both, the files win. Writers swap
days with rows in first, remove the folders of days now empty, and only then update the list:
a crash between the steps can make a day look unwritten (it is demanded again), never show
stale rows.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from etl_platform.load.atomic_file import write_atomic
from etl_platform.load.staging import dataset_lock

if TYPE_CHECKING:
    from etl_platform.load.lake import Dataset

MANIFEST_NAME = "_empty_days.json"
#: The lock of the manifest's read-modify-write, in the dataset's staging folder.
LOCK_NAME = ".empty_days.lock"
_ONE_DAY = dt.timedelta(days=1)


def day_ranges(days: Iterable[dt.date]) -> list[list[str]]:
    """Days as sorted `[first, last]` ISO ranges of consecutive days."""
    ranges: list[list[dt.date]] = []
    for day in sorted(set(days)):
        if ranges and day - ranges[-1][1] == _ONE_DAY:
            ranges[-1][1] = day
        else:
            ranges.append([day, day])
    return [[first.isoformat(), last.isoformat()] for first, last in ranges]


def range_days(ranges: Iterable[Iterable[str]]) -> set[dt.date]:
    """The days of `[first, last]` ISO ranges."""
    days = set()
    for first, last in ranges:
        day, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
        while day <= end:
            days.add(day)
            day += _ONE_DAY
    return days


def read_empty_days(folder: Path) -> set[dt.date]:
    """The days the dataset in `folder` lists as written with no rows (none without a list)."""
    try:
        text = (folder / MANIFEST_NAME).read_text()
    except FileNotFoundError:
        return set()
    return range_days(json.loads(text))


def _replace(folder: Path, days: set[dt.date]) -> None:
    """Write the list beside the old one, flush it to disk and rename it over the old."""
    text = json.dumps(day_ranges(days), separators=(",", ":"))
    write_atomic(folder / MANIFEST_NAME, text.encode())


def record_days(
    dataset: Dataset, *, empty: Iterable[dt.date] = (), filled: Iterable[dt.date] = ()
) -> None:
    """List the `empty` days and unlist the `filled` ones, in one locked read-modify-write.
    Call only once the filled days' folders are in place and the empty days' are gone."""
    empty, filled = set(empty), set(filled)
    if not empty and not filled & read_empty_days(dataset.dir):
        return  # nothing to change: no other writer lists a day of this one's window
    with dataset_lock(dataset, LOCK_NAME):
        listed = read_empty_days(dataset.dir)
        wanted = (listed - filled) | empty
        if wanted != listed:
            _replace(dataset.dir, wanted)
