"""Where a database file lives: a network share, a read-only medium, an ordinary disk.

SQLite in WAL mode keeps a shared-memory index (``-shm``) beside the file and relies on the
operating system's file locks; network file systems (NFS, SMB/CIFS) implement neither
reliably, so two workstations writing one file on a share corrupt it sooner or later. Such a
file may be opened for viewing and printing only. A read-only copy (an archive on a DVD, a
file without write permission) opens read-only too, instead of failing at the first write.

Everything here only looks; nothing is written.
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

# File system types that are network shares (Linux /proc/mounts names).
NETWORK_FS = frozenset({
    "nfs", "nfs4", "cifs", "smb", "smbfs", "smb3", "ncpfs", "afs", "9p", "fuse.sshfs",
    "sshfs", "davfs", "fuse.davfs2", "glusterfs", "fuse.glusterfs", "ceph", "fuse.ceph",
    "lustre", "gpfs", "ocfs2", "fuse.rclone", "fuse.s3fs",
})
DRIVE_REMOTE = 4  # GetDriveTypeW


@dataclass(frozen=True)
class Mount:
    point: str
    fstype: str
    options: frozenset[str]


def _unescape(field: str) -> str:
    # /proc/mounts writes spaces, tabs, newlines and backslashes in paths as octal escapes.
    out = []
    i = 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit() and len(field[i + 1:i + 4]) == 3:
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mounts(text: str) -> list[Mount]:
    """The mount table in ``/proc/mounts`` format (device, point, type, options, …)."""
    mounts = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        mounts.append(Mount(_unescape(parts[1]), parts[2], frozenset(parts[3].split(","))))
    return mounts


def _read_mounts() -> str | None:
    try:
        return Path("/proc/mounts").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def mount_of(path: Path, mounts: list[Mount]) -> Mount | None:
    """The mount that holds ``path`` (the longest mount point that is a prefix of it)."""
    text = str(path)
    best: Mount | None = None
    for mount in mounts:
        point = mount.point.rstrip("/") or "/"
        inside = text == point or text.startswith(point if point == "/" else point + "/")
        # Later lines win for the same point (mounted over).
        if inside and (best is None or len(point) >= len(best.point.rstrip("/") or "/")):
            best = mount
    return best


def _existing(path: Path) -> Path:
    """``path`` with symbolic links resolved as far as it exists (a new file's folder is
    resolved and the rest of the path kept)."""
    path = Path(os.path.abspath(path))
    rest: list[str] = []
    while not path.exists() and path.parent != path:
        rest.insert(0, path.name)
        path = path.parent
    return path.resolve().joinpath(*rest)


def _windows_remote(path: Path) -> bool:
    text = str(path)
    if text.startswith(("\\\\", "//")):
        return True  # a UNC path: \\server\share\...
    import ctypes

    drive = os.path.splitdrive(os.path.abspath(text))[0]
    if not drive:
        return False
    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined,unused-ignore]
    return int(kernel32.GetDriveTypeW(drive + "\\")) == DRIVE_REMOTE


def network_filesystem(path: Path, mounts_text: str | None = None) -> str | None:
    """The network file system type ``path`` lives on (``nfs4``, ``cifs``…), else None.

    ``mounts_text`` replaces ``/proc/mounts`` (tests pass a fake table).
    """
    if sys.platform == "win32" and mounts_text is None:
        return "smb" if _windows_remote(path) else None
    text = mounts_text if mounts_text is not None else _read_mounts()
    if text is None:
        return None
    mount = mount_of(_existing(path), parse_mounts(text))
    if mount is not None and mount.fstype.lower() in NETWORK_FS:
        return mount.fstype
    return None


def read_only_medium(path: Path, mounts_text: str | None = None) -> bool:
    """True when ``path`` is on a file system mounted read-only (a DVD, a locked stick)."""
    if mounts_text is None and sys.platform == "win32":
        return False
    text = mounts_text if mounts_text is not None else _read_mounts()
    if text is None:
        return False
    mount = mount_of(_existing(path), parse_mounts(text))
    return mount is not None and "ro" in mount.options


def file_read_only(path: Path) -> bool:
    """True when the file has no write permission for anyone, or we may not write it.

    A file with every write bit cleared counts as an archive even for an administrator
    (who could write it regardless): somebody made it read-only on purpose.
    """
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    if not stat.S_IMODE(mode) & 0o222:
        return True
    return not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK)
