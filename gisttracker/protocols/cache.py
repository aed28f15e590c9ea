"""A cache of validated protocol files, content-addressed like Python's hash-based ``.pyc``.

Reading the five shipped protocol files costs every start about 15 ms of CPU: the TOML
parser, the validating loader and its vocabulary, and the checks themselves. Their answer
depends on nothing but the file's bytes, its name (which the study records, and which the
messages name) and the code that checks it: no date, no setting, no database row. So the
study the checks built is kept, under a key made of exactly those:

* the SHA-256 of the file's bytes and its name;
* the *code version*: the SHA-256 of the source of every module the checks run
  (``gisttracker/protocols/*.py``, :mod:`gisttracker.i18n`, :mod:`gisttracker.errors`), of
  the versions of the TOML parser and of dateutil, of Python's version and of this cache's
  format.

An entry is used only when its key is the one worked out from the file being read, now, and
the code installed now; any change of the file, of a site's copy, or of the code gives
another key, so the file is checked again (and a refused file is reported, as always).
Refused files are never cached: their errors are worked out every time, in the reader's
language. A missing, damaged or unreadable entry is rebuilt; a cache folder that cannot be
written costs the checks, nothing more. Where the sources cannot be read (a bundle that
ships only compiled modules) the code version is unknown and nothing is cached.

What an entry may hold is restricted: it is unpickled by :func:`_unpickle`, which
builds nothing but the protocol model's classes and :class:`~gisttracker.i18n.LocalText`
(never a function, never an import of anything else), and the study it gives must carry
this file's text, its digest and its name. An entry is the user's own file in the user's own
cache folder (created private, written atomically), trusted as Python trusts its ``.pyc``
files there: whoever can write it as the user could equally edit the site's protocol folder
or its database.

The folder is ``$GISTTRACKER_CACHE_DIR`` when set (an empty value turns the cache off), else
``protocols`` in the user's cache folder (``$XDG_CACHE_HOME/gisttracker``, ``~/.cache/…``;
the platform's on Windows and macOS).
"""

from __future__ import annotations

import logging
import os
import sys
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gisttracker.protocols.model import Study

log = logging.getLogger(__name__)

ENV_VAR = "GISTTRACKER_CACHE_DIR"
#: Raised whenever what an entry holds changes shape (and part of every key).
FORMAT = b"gisttracker-protocol-cache 1"
#: Entries kept: more are removed, oldest first, when one is written.
MAX_ENTRIES = 64
#: The modules whose code decides what a protocol file gives (besides this package's own).
_CHECKING_MODULES = ("i18n.py", "errors.py")


def directory() -> Path | None:
    """The cache folder, or None when the cache is turned off."""
    override = os.environ.get(ENV_VAR)
    if override is not None:
        return Path(override).expanduser() if override.strip() else None
    if sys.platform.startswith("linux"):
        # What platformdirs gives on Linux, without its import (6 ms) at every start.
        base = os.environ.get("XDG_CACHE_HOME", "").strip()
        root = Path(base) if base else Path.home() / ".cache"
        return root / "gisttracker" / "protocols"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("gisttracker", appauthor=False)) / "protocols"


@cache
def code_version() -> bytes | None:
    """The hash of everything besides a file's bytes that decides what the checks give;
    None when a source cannot be read (nothing is cached then)."""
    package = Path(__file__).resolve().parent
    from gisttracker.protocols.files import sha256

    digest = sha256(FORMAT)
    digest.update(sys.version.encode())
    try:
        sources = sorted(package.glob("*.py"))
        if not sources:
            return None
        for path in (*sources, *(package.parent / name for name in _CHECKING_MODULES)):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        digest.update(_libraries_version())
    except OSError:
        return None
    return bytes(digest.digest())


def _libraries_version() -> bytes:
    """The versions of the libraries the checks use: tomli (the TOML parser; else the
    standard library's, whose version is Python's, already in the key) and dateutil (the
    calendar periods), read from their version files without importing them."""
    from importlib.util import find_spec

    out = []
    for package, version_file in (("tomli", "__init__.py"), ("dateutil", "_version.py")):
        spec = find_spec(package)
        if spec is None or spec.origin is None:
            out.append(package.encode() + b" absent")
        else:
            out.append(package.encode() + b" " + Path(spec.origin).with_name(
                version_file).read_bytes())
    return b"\0".join(out)


def key(data: bytes, name: str) -> str | None:
    """The entry name of a file ``name`` holding ``data`` (None: no caching)."""
    version = code_version()
    if version is None:
        return None
    from gisttracker.protocols.files import sha256

    digest = sha256(version)
    digest.update(name.encode("utf-8", "surrogatepass") + b"\0")
    digest.update(data)
    return str(digest.hexdigest())


@cache
def _allowed() -> dict[tuple[str, str], Any]:
    """What an entry may build: the protocol model's classes, LocalText, frozenset."""
    from gisttracker.i18n import LocalText
    from gisttracker.protocols import model

    allowed: dict[tuple[str, str], Any] = {("gisttracker.i18n", "LocalText"): LocalText,
                                           ("builtins", "frozenset"): frozenset}
    for name, value in vars(model).items():
        if isinstance(value, type) and value.__module__ == model.__name__:
            allowed[(model.__name__, name)] = value
    return allowed


def _unpickle(blob: bytes) -> Any:
    """An entry's contents, built only from what :func:`_allowed` names (pickle's own
    loader would import and call anything an entry names)."""
    import io
    import pickle

    class Restricted(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            found = _allowed().get((module, name))
            if found is None:
                raise pickle.UnpicklingError(f"{module}.{name} is not allowed here")
            return found

    return Restricted(io.BytesIO(blob)).load()


def get(data: bytes, name: str) -> Study | None:
    """The validated study of file ``name`` holding ``data``, if this code validated these
    bytes before; None otherwise (the caller checks the file, then :func:`put`)."""
    folder = directory()
    entry = key(data, name) if folder is not None else None
    if folder is None or entry is None:
        return None
    try:
        blob = (folder / entry).read_bytes()
    except OSError:
        return None
    from gisttracker.protocols.files import decode, text_digest
    from gisttracker.protocols.model import Study

    try:
        magic, stored, study = _unpickle(blob)
        text = decode(data)
    except Exception as exc:  # a damaged entry (any unpickling error): checked again
        log.info("protocol cache entry %s unreadable (%s): checked again", entry,
                 type(exc).__name__)
        return None
    if (magic != FORMAT or stored != entry or not isinstance(study, Study)
            or study.path != name or study.text != text or study.digest != text_digest(text)):
        log.info("protocol cache entry %s does not match %s: checked again", entry, name)
        return None
    return study


def put(data: bytes, name: str, study: Study) -> None:
    """Keep ``study``, just built by the checks from file ``name`` holding ``data``. Failing
    to write is not an error (the next start checks the file again)."""
    folder = directory()
    entry = key(data, name) if folder is not None else None
    if folder is None or entry is None:
        return
    import pickle
    import tempfile

    try:
        blob = pickle.dumps((FORMAT, entry, study), protocol=pickle.HIGHEST_PROTOCOL)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(blob)
            os.replace(temporary, folder / entry)
        except BaseException:
            os.unlink(temporary)
            raise
        _prune(folder)
    except (OSError, pickle.PicklingError) as exc:
        log.info("protocol cache not written (%s)", exc)


def _prune(folder: Path) -> None:
    """Keep the newest :data:`MAX_ENTRIES` entries (a file edited many times leaves one
    entry per version), and remove what a write cut short left (a temporary file older than
    an hour: one younger may be another process's write in progress)."""
    import time

    entries, leftovers = [], []
    for path in folder.iterdir():
        if len(path.name) == 64 and "." not in path.name:
            entries.append(path)
        elif path.name.startswith(".") and path.name.endswith(".tmp"):
            leftovers.append(path)
    for leftover in leftovers:
        if leftover.stat().st_mtime < time.time() - 3600:
            leftover.unlink(missing_ok=True)
    if len(entries) <= MAX_ENTRIES:
        return
    entries.sort(key=lambda p: p.stat().st_mtime_ns)  # (OSError: caught by put)
    for stale in entries[:-MAX_ENTRIES]:
        stale.unlink(missing_ok=True)
