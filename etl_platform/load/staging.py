"""Where the lake's writers stage their days, and how a dead writer's leftovers go.

Staging sits beside the lake, not in it: a killed writer's half-written file has no footer, and
a glob over the lake (`read_parquet('lake/**/*.parquet')`) would fail on it. Each writer holds
a lock on its staging folder while it lives; the kernel lets go of it when the process dies,
however it dies. So a write that succeeds removes what dead writers of its dataset staged, and
a live writer's folder is never touched. Folders with no lock are removed after a day.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

try:
    import fcntl
except ImportError:  # Windows: no flock; leftovers go by age only
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from etl_platform.load.lake import Dataset

_STALE_STAGING_SECONDS = 24 * 3600
#: The file in each writer's staging folder that the writer holds locked while it lives.
_LOCK_NAME = ".writer.lock"
_PROCESS_ID = uuid.uuid4().hex


def _process_mark() -> str:
    """This process's mark in its locks (a forked child has its own pid): its own live writers
    are never taken for dead ones, even where `flock` is emulated by per-process record locks
    (NFS)."""
    return f"{os.getpid()}-{_PROCESS_ID}"


def _device(path: Path) -> int:
    """The file system of `path`, or of its nearest existing parent (where it will be made)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path.stat().st_dev


@functools.cache
def staging_root(lake_root: Path) -> Path:
    """Where the lake's writes are staged: `<lake>.staging/`, beside the lake so that no glob
    over the lake reaches a half-written file, on the lake's file system so that a staged day
    goes in by a rename. A lake that is a mount point of its own has no such place beside it;
    it stages in `<lake>/_staging/` (which pyarrow and Hive skip, but a DuckDB glob does not)."""
    root = Path(os.path.realpath(lake_root))
    inside = root / "_staging"
    if not root.name:
        return inside
    beside = root.with_name(f"{root.name}.staging")
    return beside if _device(beside) == _device(root) else inside


def _lock(folder: Path) -> IO[str] | None:
    """Hold the writer's lock in its new folder, for as long as the returned file is open.

    The file is locked and marked under another name and then renamed (the lock stays with the
    open file), so no sweeper ever finds it there and not yet locked.
    """
    if fcntl is None:
        return None
    new = folder / f"{_LOCK_NAME}.new"
    handle = new.open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody else holds it
    except OSError:  # a file system without locks: the folder goes by age only
        handle.close()
        new.unlink()
        return None
    handle.write(_process_mark())
    handle.flush()
    new.rename(folder / _LOCK_NAME)
    return handle


def _remove_if_dead(folder: Path) -> bool:
    """Remove a writer's folder if its writer is surely gone: its lock file is there and no
    one holds it. A folder without one is a writer between making it and locking it."""
    if fcntl is None:
        return False
    try:
        handle = (folder / _LOCK_NAME).open()
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # its writer lives
        if handle.read() == _process_mark():
            return False  # this process's own, left for its writer
        shutil.rmtree(folder, ignore_errors=True)  # under the lock: no other sweeper races
        return True


def _remove_stale_staging(parent: Path) -> None:
    """Staging of writers that died is removed once it is a day old; a folder whose lock is
    still held is a live writer's, however old."""
    if not parent.is_dir():
        return
    cutoff = time.time() - _STALE_STAGING_SECONDS
    # Writers of other days (threads, other runs) commit and remove their own staging while
    # this lists the folder: an entry that vanished is simply not stale.
    with os.scandir(parent) as entries:
        for entry in entries:
            try:
                stale = entry.is_dir() and entry.stat().st_mtime < cutoff
            except FileNotFoundError:
                continue
            if stale and (Path(entry.path) / _LOCK_NAME).exists():
                _remove_if_dead(Path(entry.path))
            elif stale:  # no lock: an older platform's, or a platform without flock
                shutil.rmtree(entry.path, ignore_errors=True)


def _remove_dead_writers(parent: Path, keep: Path) -> None:
    """Remove what writers that died (killed, crashed) staged in `parent`, at any age."""
    with os.scandir(parent) as entries:
        for entry in entries:
            if entry.path != str(keep) and entry.is_dir():
                _remove_if_dead(Path(entry.path))


@contextlib.contextmanager
def dataset_lock(dataset: Dataset, name: str, *, wait: bool = True) -> Iterator[bool]:
    """Hold the dataset's lock `name` (exclusive) for a read-modify-write of one of its files;
    with `wait=False`, yields False at once when another holder has it.

    The lock file sits in the dataset's staging folder, never in the lake; each call opens it
    anew, so threads of one process take turns as processes do. Without `flock` (Windows) one
    writer at a time is the caller's to ensure.
    """
    folder = dataset.staging_dir
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / name).open("a") as handle:
        if fcntl is None:
            yield True
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True


class StagingFolder:
    """One writer's folder, `<lake>.staging/<dataset>/<id>/`, locked while the writer lives.

    Opening one removes the dataset's leftovers older than a day, here and in the lake's own
    `_staging/` (where they would sit in readers' way); a successful write (`finish()`)
    removes those of every dead writer of the dataset, so a re-run cleans up after the run
    that was killed.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.parent = dataset.staging_dir
        _remove_stale_staging(self.parent)
        _remove_stale_staging(dataset.root.joinpath("_staging", *dataset.parts))
        self.path = self.parent / uuid.uuid4().hex
        self.path.mkdir(parents=True)
        self._lock = _lock(self.path)

    def finish(self) -> None:
        """After a successful write: dead writers' leftovers of the dataset go, then this one."""
        _remove_dead_writers(self.parent, keep=self.path)
        self.remove()

    def remove(self) -> None:
        """Drop this writer's folder, then let go of its lock."""
        shutil.rmtree(self.path, ignore_errors=True)
        if self._lock is not None:
            self._lock.close()
            self._lock = None
