"""Reading a site's protocol files: the shipped ones, the site's own copies
(:func:`site_protocol_dir`), and the rules between them (:func:`load_studies`,
:func:`load_protocols`), each file validated by :mod:`gisttracker.protocols.loader`
or taken from the cache of validated files (:mod:`gisttracker.protocols.cache`).

This module is what every start needs, and it stays light: the validating loader (its
checks, the vocabulary, the TOML parser) is imported only when a file is not in the cache,
so ``gisttracker studies`` on an unchanged installation reads five cached files and builds
no check at all. What a cached file gives is what the checks gave for the same bytes and
the same code (see the cache's module docstring for why that holds).

Site copies. A site changes a protocol without touching code by placing its own copy of a
file in the site's protocol directory (a later directory of :func:`load_studies`). The copy
replaces the shipped study with the same ``key``. A copy named like a shipped file must keep
that file's ``key`` (a copy of one study edited into another is refused, never silently
replaces the other study), and two site files with one key are an error. A site file that is
refused is never silently replaced by the shipped one: the study it was meant to change is
*blocked* (:attr:`LoadResult.blocked`), and every screen and command that would work on it
says why instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gisttracker import resources
from gisttracker.errors import UserError
from gisttracker.i18n import _, join_list
from gisttracker.protocols.model import Study
from gisttracker.protocols.record import Record, field

SEEDS_DIR = resources.seeds_dir()
#: The largest protocol file read (the shipped ones are about 20 kB).
MAX_FILE_BYTES = 1_000_000


class ProtocolError(UserError):
    """A protocol file cannot be used. ``file`` and ``key`` say where; ``study`` is the key
    of the study the file was meant for, when it is known (a refused site copy blocks it)."""

    def __init__(self, file: str, key: str, message: str, *, study: str | None = None) -> None:
        self.file = file
        self.key = key
        self.message = message
        self.study = study
        super().__init__(f"{file}: {key}: {message}")


class LoadResult(Record):
    """What :func:`load_studies` found: the studies that loaded, the files that did not,
    and the studies that are blocked (a site copy meant to change them was refused; study
    key -> the errors saying why). A blocked study is not in ``studies``."""

    studies: tuple[Study, ...]
    errors: tuple[ProtocolError, ...]
    blocked: Mapping[str, tuple[ProtocolError, ...]] = field(default_factory=dict)


def _sha256_constructor() -> Callable[[bytes], Any]:
    """SHA-256 without importing :mod:`hashlib` where Python has its own implementation.

    hashlib loads OpenSSL when it is imported (2.2 ms, a tenth of a bare Python start), and
    every start hashes the protocol files (their versions, the cache's keys). CPython's
    built-in SHA-256 — the module hashlib itself falls back to without OpenSSL, ``_sha256``
    up to 3.11, ``_sha2`` from 3.12 — gives the same digests (a test compares them); any
    other Python uses hashlib."""
    try:
        from _sha256 import sha256  # type: ignore[import-not-found]
    except ImportError:
        try:
            from _sha2 import sha256  # type: ignore[import-not-found]
        except ImportError:
            from hashlib import sha256
    return sha256  # type: ignore[no-any-return]


#: ``sha256(data)``: a SHA-256 hash object (``update``, ``digest``, ``hexdigest``).
sha256 = _sha256_constructor()


def text_digest(text: str) -> str:
    """The SHA-256 (hex) of a protocol file's text: the identity of a protocol version."""
    return str(sha256(text.encode("utf-8", "surrogatepass")).hexdigest())


def decode(data: bytes) -> str:
    """A protocol file's text from its bytes, exactly as :meth:`Path.read_text` reads it
    (UTF-8, universal newlines): UnicodeDecodeError if it is not UTF-8."""
    text = data.decode("utf-8")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def read_protocol(path: Path) -> bytes:
    """The bytes of the protocol file at ``path``; :class:`ProtocolError` if it cannot be
    read or is larger than :data:`MAX_FILE_BYTES` (refused before it is read)."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ProtocolError(path.name, "(file)", _("larger than {size} bytes").format(
                size=MAX_FILE_BYTES))
        return path.read_bytes()
    except OSError as exc:
        raise ProtocolError(path.name, "(file)", str(exc)) from exc


def load_file(path: Path) -> Study:
    """The study of one protocol file: from the cache of validated files when these bytes
    were validated by this code before, else validated now (and then cached).
    :class:`ProtocolError` names the file and key on any problem; a refused file is never
    cached, so its error is worked out, in the reader's language, every time."""
    from gisttracker.protocols import cache

    data = read_protocol(path)
    study = cache.get(data, path.name)
    if study is None:
        from gisttracker.protocols.loader import study_from_bytes

        study = study_from_bytes(data, path.name)
        cache.put(data, path.name, study)
    return study


def load_studies(*directories: Path) -> LoadResult:
    """Load every ``*.toml`` in ``directories`` (default: the shipped ``seeds/``).

    The first directory holds the shipped protocols; each later one is a site directory
    whose files replace the shipped study with the same key (see the module docstring for
    the rules). A broken file is reported in ``errors`` and does not stop the others; a
    refused site file blocks the study it was meant for (``blocked``), whose shipped
    version is then not used either.
    """
    studies: dict[str, Study] = {}
    errors: list[ProtocolError] = []
    blocked: dict[str, list[ProtocolError]] = {}
    shipped_names: dict[str, str] = {}  # file name -> key, of every earlier directory
    for index, directory in enumerate(directories or (SEEDS_DIR,)):
        if not directory.is_dir():
            continue
        site = index > 0
        here: dict[str, list[tuple[str, Study]]] = {}
        for path in sorted(directory.glob("*.toml")):
            try:
                study = load_file(path)
            except ProtocolError as exc:
                errors.append(exc)
                meant = exc.study or shipped_names.get(path.name)
                if site and meant is not None and meant in studies:
                    exc.study = meant
                    blocked.setdefault(meant, []).append(exc)
                continue
            owner = shipped_names.get(path.name)
            if site and owner is not None and owner != study.key:
                wrong_key = ProtocolError(path.name, "key", _(
                    "this is the site's copy of study {owner}'s file, but its key names "
                    "{key}: a copy must keep the key of the file it replaces").format(
                    owner=owner, key=study.key), study=owner)
                errors.append(wrong_key)
                blocked.setdefault(owner, []).append(wrong_key)
                continue
            here.setdefault(study.key, []).append((path.name, study))
        for key, found in here.items():
            if len(found) > 1 and not site:
                # Shipped files: a packaging mistake; the first one is kept.
                for name, _study in found[1:]:
                    errors.append(ProtocolError(name, "key", _(
                        "study {key!r} is already defined by {other} in the same directory"
                    ).format(key=key, other=found[0][0]), study=key))
            elif len(found) > 1:
                # Site files: which one the site meant cannot be guessed, so neither is used.
                names = join_list(name for name, _study in found)
                for name, _study in found:
                    twice = ProtocolError(name, "key", _(
                        "study {key!r} is defined by more than one site file ({files}): keep "
                        "one").format(key=key, files=names), study=key)
                    errors.append(twice)
                    blocked.setdefault(key, []).append(twice)
                continue
            studies[key] = found[0][1]
        if not site:
            for key, found in here.items():
                for name, _study in found:
                    shipped_names[name] = key
    for key in blocked:
        studies.pop(key, None)
    return LoadResult(tuple(studies.values()), tuple(errors),
                      {k: tuple(v) for k, v in blocked.items()})


def site_protocol_dir(db_path: Path) -> Path:
    """Where a site puts its own protocol files (next to the database, ``protocols/``)."""
    return db_path.parent / "protocols"



class NoStudiesError(ProtocolError):
    """Not one study could be loaded: a damaged installation, never a site to open.

    A site with no study is useless and its database would be created for nothing, so the
    command line and the window refuse to go on (the message names the folders searched).
    """

    def __init__(self, folders: tuple[Path, ...], errors: tuple[ProtocolError, ...]) -> None:
        message = _(
            "no study protocol could be loaded, so there is no study to work on. The "
            "installation is incomplete or damaged: reinstall GIST Study Tracker. "
            "Folders searched: {folders}.").format(folders=", ".join(str(f) for f in folders))
        if errors:
            message += " " + _("Files that failed: {errors}").format(
                errors="; ".join(str(e) for e in errors))
        super().__init__(str(folders[0]), "*.toml", message)
        self.args = (message,)

    def __str__(self) -> str:
        return self.message


def load_protocols(db_path: Path) -> LoadResult:
    """The shipped protocols, replaced by the site's own copies where it has them.

    :class:`NoStudiesError` if not a single study loads from either place.
    """
    folders = (SEEDS_DIR, site_protocol_dir(db_path))
    result = load_studies(*folders)
    if not result.studies and not result.blocked:
        # (Studies blocked by a refused site file are the site's to fix, and said so.)
        raise NoStudiesError(folders, result.errors)
    return result
