"""When a save meets someone else's save: the reusable prompts.

* :func:`ask_reload` — a :class:`StaleRecordError`: someone changed the record after this
  form loaded it. The box says who changed what (from the audit trail) and offers to
  reload the form (losing what was typed here) or to keep the typing and decide.
* :func:`offer_retry` — a :class:`DatabaseLockedError`: another writer held the file for
  longer than the busy timeout. Nothing was saved; offer to try again.
* :func:`handle_save_error` — the one call a form makes with any error of a save: it picks
  the prompt, and shows anything else as :func:`ui.errors.show_error` does.

A form that wants this passes the versions it loaded to
:meth:`gisttracker.services.base.Tracker.expect` around its save (see
:mod:`gisttracker.services.scopes` for what a visit, a form or a screening covers).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from gisttracker.i18n import _
from gisttracker.services.base import StaleRecordError
from gisttracker.store.db import DatabaseLockedError
from ui.errors import show_error


def _headless(parent: QWidget | None) -> bool:
    window = parent.window() if parent is not None else None
    return bool(window is not None and window.property("headless"))


def ask_reload(parent: QWidget | None, exc: StaleRecordError) -> bool:
    """Ask whether to reload after someone else's change; True to reload."""
    box = QMessageBox(parent)
    box.setObjectName("stale_record_box")
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(_("Changed by someone else"))
    box.setText(str(exc))
    reload = box.addButton(_("&Reload (discard my changes)"),
                           QMessageBox.ButtonRole.AcceptRole)
    box.addButton(_("&Keep my changes on screen"), QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(reload)
    if QApplication.instance() is None or _headless(parent):
        return False
    box.exec()
    return box.clickedButton() is reload


def offer_retry(parent: QWidget | None, exc: DatabaseLockedError) -> bool:
    """Offer to try a save again after the database was busy; True to retry."""
    box = QMessageBox(parent)
    box.setObjectName("database_busy_box")
    box.setIcon(QMessageBox.Icon.Information)
    box.setWindowTitle(_("Database busy"))
    box.setText(str(exc))
    retry = box.addButton(_("&Try again"), QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(retry)
    if QApplication.instance() is None or _headless(parent):
        return False
    box.exec()
    return box.clickedButton() is retry


def handle_save_error(parent: QWidget | None, exc: BaseException, *,
                      reload: Callable[[], None] | None = None,
                      retry: Callable[[], None] | None = None) -> None:
    """Tell the user about a failed save and offer what can be done about it."""
    if isinstance(exc, StaleRecordError) and reload is not None:
        if ask_reload(parent, exc):
            reload()
        return
    if isinstance(exc, DatabaseLockedError) and retry is not None:
        if offer_retry(parent, exc):
            retry()
        return
    show_error(parent, exc)
