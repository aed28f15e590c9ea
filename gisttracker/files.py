"""Files only their owner can read: the one helper every writer of site data uses.

The database, its ``-wal``/``-shm`` companions, backups, exports, reports and logs hold
patient data. Another local account on the same workstation must not read them, so every
file we create is mode 0600 and every folder we create is 0700, whatever the user's umask.

* :func:`write_private` writes bytes or text atomically (temporary file, fsync, rename).
* :func:`make_private_dir` creates a folder (and missing parents) usable by the owner only.
* :func:`private_umask` is for code that lets a library create the file (SQLite, a logging
  handler): inside it, new files and folders get no group or other permissions.
* :func:`restrict` narrows an existing file that we own (a database from an older release).

On Windows these permission bits mean little; the per-user profile folders protect the files
there, and the functions still work.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
_PRIVATE_UMASK = 0o077


@contextmanager
def private_umask() -> Iterator[None]:
    """Inside this block files and folders are created without group/other permissions.

    The umask is per process: code on another thread creating a file meanwhile gets the
    stricter mask too, never a looser one.
    """
    old = os.umask(_PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(old)


def make_private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents with mode 0700. A folder that exists already
    is left as it is (it is the user's: their Documents, a shared drive). Returns ``path``."""
    with private_umask():
        path.mkdir(parents=True, exist_ok=True)
    return path


def restrict(path: Path) -> None:
    """Remove group and other permissions from ``path`` if we own it (0600 / 0700).

    A file owned by someone else is left alone: the caller reads it, it is not ours to change.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        return
    wanted = PRIVATE_DIR if stat.S_ISDIR(info.st_mode) else PRIVATE_FILE
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, stat.S_IMODE(info.st_mode) & wanted)


def write_private(path: Path, data: bytes | str, *, encoding: str = "utf-8") -> Path:
    """Write ``data`` to ``path`` whole (temporary file in the same folder, fsync, rename),
    readable and writable by the owner only. A crash mid-write leaves any previous file
    intact. Returns ``path``."""
    payload = data.encode(encoding) if isinstance(data, str) else data
    target = Path(path)
    with private_umask():
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part",
                                   dir=target.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, PRIVATE_FILE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
