"""Replace a directory with another in one step, so readers see the old or the new, never neither.

On Linux `renameat2(RENAME_EXCHANGE)` swaps two paths atomically. Elsewhere, or on file systems
that refuse it, two renames are used with the old copy kept until the new one is in place;
`recover()` puts things right after a crash between the two. `swap_out` removes a directory the
same way: one rename aside, then the delete.

A rename is atomic for a process that crashes, not for a machine that loses power: the kernel
may write the rename to disk before the new files' data. So the new folder's files and the
folder itself are flushed to disk (fsync) before it is swapped in, and the parent (the renames)
before the old copy is deleted.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import shutil
from pathlib import Path

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)


def _exchange(a: Path, b: Path) -> bool:
    if _renameat2 is None:
        return False
    rc = _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


def fsync_path(path: Path) -> None:
    if os.name == "nt":  # Windows flushes only files opened for writing, and no folders
        if path.is_dir():
            return
        fd = os.open(path, os.O_RDWR)
    else:
        fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_folder(folder: Path) -> None:
    """Flush a folder's files and the folder itself to disk (not its subfolders' files)."""
    for entry in folder.iterdir():
        if entry.is_file():
            fsync_path(entry)
    fsync_path(folder)


def make_folders(folder: Path) -> None:
    """`mkdir -p`, with each new folder's entry flushed to disk (a dataset's first day)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for made in reversed(missing):
        made.mkdir(exist_ok=True)
        fsync_path(made.parent)


def _same_file_system(new: Path, parent: Path) -> None:
    """Refuse before anything moves: across file systems a rename fails half way through the
    fallback, after the old folder was moved aside."""
    if os.stat(new).st_dev != os.stat(parent).st_dev:
        raise OSError(
            errno.EXDEV, f"{new} and {parent} are on different file systems: no atomic swap"
        )


def swap_in(new: Path, final: Path) -> None:
    """Put directory `new` at `final`; whatever was at `final` is deleted afterwards."""
    make_folders(final.parent)
    _same_file_system(new, final.parent)
    _sync_folder(new)  # the data on disk before any rename that exposes it
    old: Path | None = None  # where the previous contents end up
    if not final.exists():
        os.replace(new, final)
    elif _exchange(new, final):
        old = new  # `new` now holds the previous contents
    else:
        old = final.with_name(f".old-{final.name}")
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
        os.replace(new, final)
    fsync_path(final.parent)  # the renames on disk before the old copy is deleted
    if old is not None:
        shutil.rmtree(old)


def recover(final: Path) -> None:
    """After a crash between the two fallback renames, the old copy goes back in place."""
    backup = final.with_name(f".old-{final.name}")
    if backup.exists() and not final.exists():
        os.replace(backup, final)
        fsync_path(final.parent)


def swap_out(final: Path, aside: Path) -> bool:
    """Remove directory `final` in one step: renamed to `aside` (a staging folder on the same
    file system), the rename flushed, then deleted; readers see it whole or gone. Says whether
    there was one."""
    recover(final)
    if not final.exists():
        return False
    os.replace(final, aside)
    fsync_path(final.parent)
    shutil.rmtree(aside)
    return True
