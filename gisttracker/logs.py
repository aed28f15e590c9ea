"""The log a site can send, and crash reports.

The application logs through the standard :mod:`logging` module under the ``gisttracker``
logger. :func:`setup_logging` adds a rotating file in the platform's per-user log folder
(``~/.local/state/gisttracker/log`` on Linux, ``%LOCALAPPDATA%\\gisttracker\\Logs`` on
Windows) that starts with the version and the platform, so a file sent from a site says what
it came from. A site has no network: a bug is written to a crash report file
(:func:`write_crash_report`) that the user can send on by other means.

The program starts with :func:`start_logging`, which keeps the records in memory, and opens
the file with :func:`finish_logging` once the first screen shows (or the command ends, or
something worth a warning happens): a start does not wait for the log file. A command that
only reads and has nothing worth keeping (``gisttracker studies`` on an up-to-date file)
says so with :func:`nothing_to_keep`: when it then ends well, its records (the start line,
the command's name) are dropped and the file is not opened at all; a warning or an error
is written as always.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path

from gisttracker import __version__

LOGGER = "gisttracker"
LOG_FILE = "gisttracker.log"
MAX_BYTES = 1_000_000
BACKUPS = 5
ENV_VAR = "GISTTRACKER_LOG_DIR"

log = logging.getLogger(LOGGER)


def log_dir() -> Path:
    """Where the log and the crash reports go (``$GISTTRACKER_LOG_DIR`` overrides it)."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override).expanduser()
    from platformdirs import user_log_dir  # (loaded when the log is opened, not at start)

    return Path(user_log_dir("gisttracker", appauthor=False))


def describe_platform() -> str:
    """One line naming the version, Python and the operating system."""
    import platform  # (its import compiles nine patterns, 1.3 ms: paid when the log is written)

    # Not platform.platform(): on Linux it asks `uname -p` in a subprocess, at every start.
    parts = [platform.system(), platform.release(), platform.machine()]
    if sys.platform == "linux":
        parts.append("-".join(platform.libc_ver()))  # os.confstr: no file is read
    system = " ".join(part for part in parts if part.strip("-"))
    return f"GIST Study Tracker {__version__}; Python {platform.python_version()}; {system}"


class _PlatformLine:
    """:func:`describe_platform` as a log record's argument: worked out when the record is
    written, so a start whose records are held (and a listing that drops them) does not."""

    def __str__(self) -> str:
        return describe_platform()


class _Held(logging.Handler):
    """The records of a start, kept in memory until the log file is opened
    (:func:`finish_logging`); a warning or worse opens it at once."""

    def __init__(self, directory: Path | None, level: int) -> None:
        super().__init__()
        self.directory = directory
        self.wanted = level
        self.records: list[logging.LogRecord] = []
        self.target: logging.Handler | None = None  # where records go once the file is open
        self.routine = False  # set by nothing_to_keep()

    def emit(self, record: logging.LogRecord) -> None:
        if self.target is not None:  # a record that raced the hand-over
            self.target.handle(record)
            return
        self.records.append(record)
        if record.levelno >= logging.WARNING:
            finish_logging()


def start_logging(*, directory: Path | None = None, level: int = logging.INFO) -> None:
    """What the command line and the window call first: records are kept from now on, and
    written to the log file (:func:`setup_logging`) by :func:`finish_logging` — once the
    window shows its first screen, when a command ends, or at the first warning. Opening
    the file costs its folder's look-up and the rotating handler's imports (about 10 ms),
    which a nurse waiting for the first screen does not need to pay. Nothing when the log
    is already set up."""
    if any(getattr(h, "_gisttracker", False) or isinstance(h, _Held) for h in log.handlers):
        return
    log.addHandler(_Held(directory, level))
    log.setLevel(level)
    log.info("start: %s", _PlatformLine())


def nothing_to_keep() -> None:
    """Called by a command that reads only (nothing created, migrated or recorded) once it
    knows so: if it ends well (:func:`finish_logging` with ``succeeded``), the records held
    since the start are routine and are dropped instead of opening the log file (its folder
    look-up, the rotating handler's imports, a write: about 6 ms of a 0.09 s command).
    A warning or an error opens the file at once, as always, and a command that fails keeps
    its records. Nothing when the log file is already open."""
    held = next((h for h in log.handlers if isinstance(h, _Held)), None)
    if held is not None:
        held.routine = True


def finish_logging(*, succeeded: bool = False) -> None:
    """Open the log file and write the records kept since :func:`start_logging` — unless
    the command ``succeeded`` after saying it had :func:`nothing_to_keep`, in which case the
    held records are dropped and no file is opened."""
    held = next((h for h in log.handlers if isinstance(h, _Held)), None)
    if held is None:
        return
    if succeeded and held.routine and all(r.levelno < logging.WARNING for r in held.records):
        log.removeHandler(held)
        held.records = []
        return
    setup_logging(directory=held.directory, level=held.wanted)


def setup_logging(*, directory: Path | None = None, level: int = logging.INFO) -> Path | None:
    """Log to a rotating file in ``directory`` (default :func:`log_dir`); returns its path.

    Called once by the window and the command line (through :func:`finish_logging`). When
    the folder cannot be written (a read-only profile), logging goes to stderr only and None
    is returned: a missing log must never stop the program.
    """
    import logging.handlers

    from gisttracker.files import make_private_dir, private_umask, restrict

    folder = directory or log_dir()
    path = folder / LOG_FILE
    held: list[logging.LogRecord] = []
    waiting: list[_Held] = []
    for old in list(log.handlers):
        if isinstance(old, _Held):
            log.removeHandler(old)
            held += old.records
            old.records = []
            waiting.append(old)
    handler: logging.Handler | None = None
    written: Path | None = path
    for old in list(log.handlers):
        if getattr(old, "_gisttracker", False):
            if (isinstance(old, logging.handlers.RotatingFileHandler)
                    and Path(old.baseFilename) == path.absolute()):
                # Already logging there (the command line starting the window): one head.
                handler = old
                break
            log.removeHandler(old)
            old.close()
    if handler is None:
        try:
            make_private_dir(folder)
            with private_umask():  # the log may name patients: the owner's only
                handler = logging.handlers.RotatingFileHandler(
                    path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
            restrict(path)
        except OSError:
            # Only what matters reaches the terminal: a command's output must stay clean.
            handler = logging.StreamHandler(sys.stderr)
            handler.setLevel(logging.WARNING)
            written = None
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"))
        setattr(handler, "_gisttracker", True)  # noqa: B010 - marks the handler as ours
        log.addHandler(handler)
        if not held:
            log.setLevel(level)
            log.info("start: %s", describe_platform())
    log.setLevel(level)
    for record in held:  # the head first, as it was logged
        if record.levelno >= handler.level:
            handler.handle(record)
    for old in waiting:
        old.target = handler
    return written


def write_crash_report(exc: BaseException, *, context: str = "",
                       directory: Path | None = None) -> Path | None:
    """Log ``exc`` with its traceback and write a report file a site can send.

    The report holds the version and platform, what the user was doing (``context``), the
    traceback and the end of the log. Returns the report's path (None if nothing could be
    written: the traceback is still logged).
    """
    from gisttracker.files import make_private_dir, write_private

    log.error("bug%s", f" while {context}" if context else "", exc_info=exc)  # opens the log
    folder = directory or log_dir()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
    path = folder / f"crash-{stamp}.txt"
    lines = [
        describe_platform(),
        f"time (UTC): {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"while: {context or 'unknown'}",
        "",
        "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    ]
    tail = _log_tail(folder / LOG_FILE)
    if tail:
        lines += ["", "--- end of the log ---", tail]
    try:
        make_private_dir(folder)
        write_private(path, "\n".join(lines))
    except OSError:
        log.exception("could not write the crash report %s", path)
        return None
    return path


def _log_tail(path: Path, lines: int = 200) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
