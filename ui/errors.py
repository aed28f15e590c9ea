"""The one place where errors become messages in the window.

An expected error (:class:`gisttracker.errors.UserError`) is shown as it is: its message
was written for the user. Anything else is a bug: it is logged with its traceback, a crash
report is saved (the site has no network) and the user is told where, never shown a raw
exception message.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from gisttracker.errors import UserError
from gisttracker.i18n import _
from gisttracker.logs import log_dir, write_crash_report


def is_expected(exc: BaseException) -> bool:
    return isinstance(exc, UserError)


def bug_message(path: Path | None) -> str:
    """What the user reads about a bug whose crash report was saved at ``path``."""
    if path is not None:
        return _("Something went wrong inside the program; nothing you entered was saved by "
                 "the step that failed. A report was saved at {path}. Please send it to the "
                 "study's data manager.").format(path=path)
    return _("Something went wrong inside the program; nothing you entered was saved by the "
             "step that failed. The report could not be saved.")


def error_message(exc: BaseException, *, context: str = "") -> str:
    """The line to show beside a field or in a status bar for ``exc``.

    An expected error's own message; for a bug, a crash report is saved (and the traceback
    logged) and the line says where the report is, never the bug's raw message.
    """
    if is_expected(exc):
        return str(exc)
    return bug_message(write_crash_report(exc, context=context))


def show_error(parent: QWidget | None, exc: BaseException, *, title: str | None = None,
               context: str = "") -> None:
    """Tell the user about ``exc``: its message for an expected error, a crash report for
    a bug. Must be called on the GUI thread. In a window marked ``headless`` (the tests)
    nothing is shown modally: the report is still written."""
    if is_expected(exc):
        if not _headless(parent):
            QMessageBox.warning(parent, title or _("Not done"), str(exc))
        return
    path = write_crash_report(exc, context=context)
    shown.append(path)
    if QApplication.instance() is None or _headless(parent):
        return
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Critical)
    box.setWindowTitle(_("Something went wrong"))
    box.setText(bug_message(path))
    folder = (box.addButton(_("Open report folder"), QMessageBox.ButtonRole.ActionRole)
              if path is not None else None)
    box.addButton(QMessageBox.StandardButton.Close)
    box.exec()
    if folder is not None and box.clickedButton() is folder:
        open_log_folder()


def open_log_folder() -> None:
    """Show the folder of the log and the crash reports in the system's file manager."""
    folder = log_dir()
    folder.mkdir(parents=True, exist_ok=True)
    QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))


#: Crash reports written by :func:`show_error` in this run (newest last); tests read it.
shown: list[Path | None] = []
#: When true, no dialog is ever shown: nobody is there to close it, and a modal dialog would
#: block the run. The test configuration sets ``GISTTRACKER_HEADLESS=1``.
HEADLESS = os.environ.get("GISTTRACKER_HEADLESS") == "1"


def _headless(parent: QWidget | None) -> bool:
    if HEADLESS:
        return True
    window = parent.window() if parent is not None else None
    return bool(window is not None and window.property("headless"))


class _Relay(QObject):
    """Carries an exception from any thread to the GUI thread."""

    raised = Signal(object, str)


_relay: _Relay | None = None


def install_excepthook() -> None:
    """Route uncaught exceptions (GUI thread and other threads) to :func:`show_error`."""
    global _relay
    _relay = _Relay()
    _relay.raised.connect(lambda exc, where: show_error(None, exc, context=where))

    def hook(kind: type[BaseException], exc: BaseException,
             tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            return
        if _relay is not None:
            _relay.raised.emit(exc.with_traceback(tb), "an event of the window")

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None and _relay is not None:
            _relay.raised.emit(args.exc_value, f"thread {args.thread.name if args.thread else '?'}")

    sys.excepthook = hook
    threading.excepthook = thread_hook
