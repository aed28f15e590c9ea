"""The log a site can send, and crash reports.

The application logs through the standard :mod:`logging` module under the ``gisttracker``
logger. :func:`setup_logging` adds a rotating file in the platform's per-user log folder
(``~/.local/state/gisttracker/log`` on Linux, ``%LOCALAPPDATA%\\gisttracker\\Logs`` on
Windows) that starts with the version and the platform, so a file sent from a site says what
it came from. A site has no network: a bug is written to a crash report file
(:func:`write_crash_report`) that the user can send on by other means.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import platform
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path

from platformdirs import user_log_dir

from gisttracker import __version__
from gisttracker.files import make_private_dir, private_umask, restrict, write_private

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
    return Path(user_log_dir("gisttracker", appauthor=False))


def describe_platform() -> str:
    """One line naming the version, Python and the operating system."""
    return (f"GIST Study Tracker {__version__}; Python {platform.python_version()}; "
            f"{platform.platform()}")


def setup_logging(*, directory: Path | None = None, level: int = logging.INFO) -> Path | None:
    """Log to a rotating file in ``directory`` (default :func:`log_dir`); returns its path.

    Called once by the window and the command line. When the folder cannot be written (a
    read-only profile), logging goes to stderr only and None is returned: a missing log
    must never stop the program.
    """
    folder = directory or log_dir()
    path = folder / LOG_FILE
    for old in list(log.handlers):
        if getattr(old, "_gisttracker", False):
            if (isinstance(old, logging.handlers.RotatingFileHandler)
                    and Path(old.baseFilename) == path.absolute()):
                # Already logging there (the command line starting the window): one head.
                log.setLevel(level)
                return path
            log.removeHandler(old)
            old.close()
    written: Path | None = path
    handler: logging.Handler
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
    log.setLevel(level)
    log.info("start: %s", describe_platform())
    return written


def write_crash_report(exc: BaseException, *, context: str = "",
                       directory: Path | None = None) -> Path | None:
    """Log ``exc`` with its traceback and write a report file a site can send.

    The report holds the version and platform, what the user was doing (``context``), the
    traceback and the end of the log. Returns the report's path (None if nothing could be
    written: the traceback is still logged).
    """
    log.error("bug%s", f" while {context}" if context else "", exc_info=exc)
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
