"""Output files that are whole or absent, and readable by their owner only.

Exports, packages and backups hold patient data and may be large. A file that failed half-way
(disk full, a crash, a cancelled export) must never be left behind under the name the user
asked for, where it would later pass for a complete one. So every writer here works on a
temporary file (or folder) in the same folder as the target, flushes it to disk (``fsync``)
and only then renames it over the target name — a rename within one file system is atomic.
On any failure the temporary file is removed.

Files are created 0600 and folders 0700 whatever the user's umask: another account on the
same workstation must not read them. (The ``accounts`` work adds ``gisttracker.files`` with
the same rule for every other writer of files; these helpers are the streaming variant the
exports need.)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


@contextmanager
def private_umask() -> Iterator[None]:
    """New files and folders created inside get no group or other permissions."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def make_private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) readable by the owner only; returns it."""
    with private_umask():
        path.mkdir(parents=True, exist_ok=True)
    return path


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in folder ``path`` durable (POSIX; no-op elsewhere)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a folder; the data itself was synced
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Flush a closed file's data to disk."""
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


@contextmanager
def atomic_path(target: Path, *, suffix: str = ".part") -> Iterator[Path]:
    """A temporary path beside ``target``; renamed to ``target`` when the block succeeds.

    The caller (or a library it calls, such as SQLite) writes the temporary file; it is
    synced and renamed on success, removed on failure. The file is private (0600).
    """
    target = Path(target)
    folder = target.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"folder {folder} does not exist")
    with private_umask():
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=folder)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with contextlib.suppress(OSError):
            os.chmod(tmp, PRIVATE_FILE)
        fsync_file(tmp)
        os.replace(tmp, target)
        fsync_dir(folder)
    except BaseException:
        tmp.unlink(missing_ok=True)
        for extra in ("-wal", "-shm", "-journal"):
            Path(f"{tmp}{extra}").unlink(missing_ok=True)
        raise


@contextmanager
def atomic_open(target: Path, mode: str = "wb", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``target`` for writing; it becomes ``target`` only if
    the block succeeds. ``mode`` is ``"wb"`` or ``"w"`` (text: pass ``encoding``)."""
    if mode not in ("w", "wb"):
        raise ValueError("atomic_open writes new files only ('w' or 'wb')")
    with atomic_path(target) as tmp, open(tmp, mode, **kwargs) as handle:
        yield handle
        handle.flush()


@contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """A temporary folder beside ``target``; renamed to ``target`` when the block succeeds.

    ``target`` must not exist, or be an empty folder (it is then replaced). Everything in
    the temporary folder is synced before the rename; on failure the folder is removed.
    """
    target = Path(target)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise FileExistsError(f"{target} already exists and is not an empty folder")
    folder = target.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"folder {folder} does not exist")
    with private_umask():
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=folder))
    try:
        yield tmp
        for path in tmp.rglob("*"):
            if path.is_file():
                with contextlib.suppress(OSError):
                    os.chmod(path, PRIVATE_FILE)
                fsync_file(path)
            elif path.is_dir():
                fsync_dir(path)
        fsync_dir(tmp)
        if target.exists():
            target.rmdir()
        os.replace(tmp, target)
        fsync_dir(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
