"""File menu: the data actions (export, import, back up, restore, verify, the coordinating
centre) and the watch over each database the window opens.

Built at every start, so it holds only the actions and the watch; the dialogs the actions
open, with their forms and jobs, are in :mod:`ui.exchange`, imported when the first of them
is opened. The watch (``MainWindow.session_changed``):

- a read-only copy or a file on a network share gets a banner saying so, and the actions
  that would write are disabled (the services refuse writes there anyway);
- once the first screen shows its data, the whole file is checked for damaged pages in the
  background (the check at open stops after a fraction of a second on a large file), with a
  warning if any are found;
- the site's scheduled backups are made while the window is open (settings
  ``backup_folder``, ``backup_every_hours``, ``backup_keep``).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QMessageBox

from gisttracker.i18n import N_, _
from gisttracker.services.policy import Permission
from gisttracker.session import Session
from gisttracker.store.urls import is_server

if TYPE_CHECKING:
    from ui.exchange import TaskDialog
    from ui.main_window import MainWindow

# What the File > Export submenu offers (the dialog's choices, shorter).
MENU_LABELS = {
    "csv": N_("&CSV with data dictionary and R, SPSS, Stata scripts…"),
    "odm": N_("CDISC ODM: &snapshot of the data…"),
    "odm-transactional": N_("CDISC ODM: every change with its &audit record…"),
    "odm-metadata": N_("CDISC ODM: study &definitions only…"),
    "package": N_("Site &package: changes since the last one…"),
    "package-full": N_("Site package: &everything…"),
    "key": N_("This site's public &key…"),
    "key-private": N_("This site's private signing key, for another &workstation…"),
    "key-new": N_("A &new signing key, replacing a lost one…"),
}
EXPORT_KINDS = (
    ("csv", N_("CSV files with data dictionary and R, SPSS and Stata scripts (a new folder)")),
    ("odm", N_("CDISC ODM 1.3.2: the data as they are now")),
    ("odm-transactional", N_("CDISC ODM 1.3.2: every change with its audit record")),
    ("odm-metadata", N_("CDISC ODM 1.3.2: the study definitions only")),
    ("package", N_("Site package for the coordinating centre (changes since the last one)")),
    ("package-full", N_("Site package for the coordinating centre (everything)")),
    ("key", N_("This site's public key, for the coordinating centre")),
    ("key-private", N_("This site's private signing key, encrypted, for another workstation "
                       "of this site")),
    ("key-new", N_("A new signing key for this site, replacing a lost one (the centre must "
                   "register it again)")),
)
# Export kinds that are an administrator's (they hand over or replace the site's key).
ADMIN_KINDS = ("key-private", "key-new")


# ----- the menu and the watch over the open database -----------------------------------------

#: How long after the first screen shows its data the whole-file check starts.
CHECK_AFTER_MS = 300


class _Watch(QObject):
    checked = Signal(object, list)  # session, problems ([] when the file is intact)


class _PageCheck:
    """One check of a whole file for damaged pages (``PRAGMA quick_check``) on a thread of
    its own, which the window can stop (it interrupts SQLite) when it closes."""

    def __init__(self, path: Path, done: Callable[[list[str]], None]) -> None:
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._stopped = False
        self.thread = threading.Thread(target=self._run, args=(path, done),
                                       name="gisttracker-check", daemon=True)

    def _run(self, path: Path, done: Callable[[list[str]], None]) -> None:
        from gisttracker.backup import read_only_connection

        problems: list[str] = []
        try:
            conn = read_only_connection(path)
            with self._lock:
                if self._stopped:
                    conn.close()
                    return
                self._conn = conn
            try:
                rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check(10)")]
            finally:
                with self._lock:
                    self._conn = None
                conn.close()
            problems = [] if rows == ["ok"] else rows
        except sqlite3.DatabaseError as exc:  # an interrupted check lands here too
            problems = [str(exc)]
        with self._lock:
            if not self._stopped:
                done(problems)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._conn is not None:
                self._conn.interrupt()
        if self.thread.is_alive():
            self.thread.join(timeout=10)


class ExchangeMenu(QObject):
    """The File menu's data actions and what the window does for each database it opens."""

    def __init__(self, window: MainWindow, menu: QMenu) -> None:
        super().__init__(window)
        self.window_ = window
        self.writing: list[QAction] = []
        # What each action's work needs of the signed-in role (the services refuse anyway;
        # a greyed-out action says so before anyone fills in a dialog).
        self.needs: list[tuple[QAction, Permission]] = []
        self.dialogs: dict[str, TaskDialog] = {}
        export = menu.addMenu(_("&Export"))
        for key, _label in EXPORT_KINDS:
            action = export.addAction(_(MENU_LABELS[key]))
            action.triggered.connect(lambda _c=False, k=key: self.open("ExportDialog", k))
            if key.startswith("package"):
                self.writing.append(action)
                self.needs.append((action, Permission.ENTER_DATA))
            elif key in ADMIN_KINDS:
                self.needs.append((action, Permission.MANAGE_SETTINGS))
                if key == "key-new":
                    self.writing.append(action)
        imports = menu.addMenu(_("&Import"))
        action = imports.addAction(_("CDISC &ODM file…"))
        action.triggered.connect(lambda _c=False: self.open("ImportOdmDialog"))
        self.writing.append(action)
        self.needs.append((action, Permission.ENTER_DATA))
        action = imports.addAction(_("This site's private &signing key…"))
        action.triggered.connect(lambda _c=False: self.open("ImportKeyDialog"))
        self.needs.append((action, Permission.MANAGE_SETTINGS))
        centre = menu.addMenu(_("&Coordinating centre"))
        for text, dialog, needed in (
                (_("&Register a site…"), "RegisterSiteDialog", Permission.MANAGE_SETTINGS),
                (_("&Import site packages…"), "ImportPackagesDialog", Permission.MANAGE_SETTINGS),
                (_("&Conflicts…"), "ConflictsDialog", Permission.ENTER_DATA)):
            action = centre.addAction(text)
            action.triggered.connect(lambda _c=False, d=dialog: self.open(d))
            self.writing.append(action)
            self.needs.append((action, needed))
        menu.addSeparator()
        menu.addAction(_("&Back up…")).triggered.connect(
            lambda _c=False: self.open("BackupDialog"))
        restore = menu.addAction(_("Res&tore from a backup…"))
        restore.triggered.connect(lambda _c=False: self.open("RestoreDialog"))
        schedule = menu.addAction(_("Backup &schedule…"))
        schedule.triggered.connect(lambda _c=False: self.open("ScheduleDialog"))
        self.writing += [restore, schedule]
        self.needs += [(restore, Permission.MANAGE_SETTINGS),
                       (schedule, Permission.MANAGE_SETTINGS)]
        verify_action = menu.addAction(_("&Verify the database"))
        verify_action.triggered.connect(lambda _c=False: self.verify())
        self.watch = _Watch(self)
        self.watch.checked.connect(self._checked)
        self.timer = QTimer(self)
        self.timer.setInterval(10 * 60 * 1000)
        self.timer.timeout.connect(self.check_schedule)
        window.session_changed.connect(self._session)
        # The whole-file check waits until the first screen shows the data: on a large file
        # it reads for minutes, and reading it beside the first queries would delay them.
        self._unchecked: Session | None = None
        window.ready.connect(self._first_screen_shown)
        self._checks: list[_PageCheck] = []
        self._closed = False
        window.installEventFilter(self)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.stop_checks)

    def open(self, dialog: type[TaskDialog] | str, *args: Any) -> TaskDialog:
        """Open a dialog of :mod:`ui.exchange` (the class, or its name: the dialogs' module
        is imported when the first of them is opened)."""
        if self.window_.session is None:
            return None  # type: ignore[return-value]
        if isinstance(dialog, str):
            from ui import exchange

            dialog = getattr(exchange, dialog)
            assert isinstance(dialog, type)
        view = dialog(self.window_, *args)
        view.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialogs[dialog.__name__] = view
        view.show()
        return view

    # -- each database opened ------------------------------------------------------------------
    def _session(self, session: Session) -> None:
        reason = session.read_only_reason
        for action in self.writing:
            action.setEnabled(reason is None)
        for action, needed in self.needs:
            if not session.tracker.can(needed):
                action.setEnabled(False)
        if reason:
            banner = self.window_.banner
            text = banner.text() if not banner.isHidden() else ""
            banner.setText((text + "\n" if text else "") + reason)
            banner.show()
            self.window_.setWindowTitle(self.window_.windowTitle() + " " + _("(read-only)"))
        if is_server(session.path):
            # A server database: no file to check for damaged pages (the server's own checks
            # are its administrator's), and no scheduled backups from the window: every
            # workstation's window would make the same one (a server site schedules
            # 'gisttracker backup --scheduled' on one computer; see the user guide).
            # Every entry of this menu works on a server site too: exports, packages and
            # backups read a snapshot of it, the centre's import reads the package as a file.
            self.timer.stop()
            return
        self._unchecked = session
        if reason is None:
            self.timer.start()
            QTimer.singleShot(60_000, self.check_schedule)
        else:
            self.timer.stop()

    def _first_screen_shown(self) -> None:
        # A moment later, not at once: starting the check (its imports, its connection)
        # beside the first screen's paint would delay the paint a nurse is waiting for.
        QTimer.singleShot(CHECK_AFTER_MS, self._check_first)

    def _check_first(self) -> None:
        session, self._unchecked = self._unchecked, None
        # The window may have closed in the moment before this timer fired: its checks were
        # stopped then, and a new one would outlive it.
        if self._closed:
            return
        if session is not None and session is self.window_.session:
            self._check_pages(session)

    def _check_pages(self, session: Session) -> None:
        """The whole file, checked on a thread of its own with its own read-only connection
        (the worker stays free for the window's queries)."""
        self._checks = [c for c in self._checks if c.thread.is_alive()]
        watch = self.watch

        def tell(problems: list[str]) -> None:
            # A window deleted without closing has nobody left to tell.
            with contextlib.suppress(RuntimeError):
                watch.checked.emit(session, problems)

        check = _PageCheck(session.path, tell)
        self._checks.append(check)
        check.thread.start()

    def stop_checks(self) -> None:
        """Stop the whole-file checks still reading, and wait for their threads: a thread
        that told a window being torn down about its result would crash the program."""
        for check in self._checks:
            check.stop()
        self._checks = []

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.window_ and event.type() == QEvent.Type.Close:
            self._closed = True
            self.stop_checks()
        return False

    def _checked(self, session: Session, problems: list[str]) -> None:
        if session is not self.window_.session or not problems:
            return
        text = _("Damaged pages were found in this database ({detail}). Stop entering data "
                 "and restore the latest backup (File > Restore from a backup).").format(
                     detail="; ".join(problems[:2]))
        # From now on nothing is written to the damaged file: every change is refused with
        # this reason (a transaction already running finishes).
        session.tracker.read_only = text
        self.window_.banner.setText(text)
        self.window_.banner.show()
        if not self.window_.property("headless"):
            QMessageBox.critical(self.window_, _("The database is damaged"), text)

    # -- scheduled backups ---------------------------------------------------------------------
    def check_schedule(self) -> None:
        session = self.window_.session
        if session is None or session.read_only_reason is not None:
            return

        def job() -> Any:
            from gisttracker.backup import backup_due, backup_plan, run_scheduled_backup

            plan = backup_plan(session.tracker)
            now = datetime.now()
            if plan.folder is None or not backup_due(session.path, plan.folder,
                                                     plan.every_hours, now):
                return None
            return run_scheduled_backup(session.path, plan.folder, keep=plan.keep, now=now)[0]

        def done(result: Any) -> None:
            if result is not None:
                self.window_.statusBar().showMessage(_("Scheduled backup written to {path}")
                                                     .format(path=result.path), 10_000)

        def failed(exc: BaseException) -> None:
            text = _("The scheduled backup failed: {error}").format(error=exc)
            self.window_.banner.setText(text)
            self.window_.banner.show()
            self.window_.statusBar().showMessage(text)

        self.window_.tasks.run(job, done, failed)

    # -- verify ----------------------------------------------------------------------------------
    def verify(self) -> None:
        session = self.window_.session
        if session is None:
            return
        from gisttracker.backup import verify

        path = session.path
        self.window_.statusBar().showMessage(_("Checking {path}…").format(path=path))

        def done(report: Any) -> None:
            lines = ([_("Problems found:")] + [f"• {p}" for p in report.problems]
                     if report.problems else [_("No problems found.")])
            lines += [f"✓ {n}" for n in report.notes]
            text = "\n".join(lines)
            self.window_.statusBar().showMessage(
                _("No problems found in {path}").format(path=path) if report.ok
                else _("Problems found in {path}").format(path=path))
            self.last_report = text
            if not self.window_.property("headless"):
                box = QMessageBox.information if report.ok else QMessageBox.warning
                box(self.window_, _("Verify the database"), text)

        self.window_.tasks.run(lambda: verify(path), done)


def install(window: MainWindow, menu: QMenu) -> ExchangeMenu:
    """Add the data actions to the window's File menu (called once, from the window)."""
    return ExchangeMenu(window, menu)
