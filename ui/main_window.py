"""The main window: study switcher, area navigation, File menu with recent databases."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from gisttracker.i18n import N_, _, local
from gisttracker.store.urls import is_server
from ui.areas import AREAS, AreaPage
from ui.errors import error_message, open_log_folder, show_error
from ui.help_menu import HelpMenu
from ui.language import language_menu
from ui.tasks import TaskManager

if TYPE_CHECKING:
    from PySide6.QtWidgets import QDialog

    # The store, the ORM and the protocols are loaded by opening a database, on the
    # background thread, not before the window shows.
    from gisttracker.protocols import Study
    from gisttracker.services.audit import AuditReport
    from gisttracker.services.base import Changes
    from gisttracker.services.policy import Actor
    from gisttracker.session import Session
    from ui.context import WindowContext
    from ui.lock import IdleLock

MAX_RECENT = 8
DB_FILTER = N_("GIST Study Tracker database (*.db *.sqlite);;All files (*)")
FIRST_AREA = "patients"  # what a nurse opens the program for, until another area was used


def _open_session(path: Path) -> Session:
    from gisttracker.session import open_session

    return open_session(path, page_check=0)  # checked in the background (ui/exchange.py)


def _location(name: str) -> Path:
    """A recent entry: a file's path, or a server's URL (kept without password)."""
    from gisttracker.store.urls import ServerLocation

    return ServerLocation(name) if is_server(name) else Path(name)


class _Pages(dict[str, AreaPage]):
    """The area pages, each built the first time it is shown or asked for: start-up builds
    (and imports) only the first screen."""

    def __init__(self, build: Callable[[str], AreaPage]) -> None:
        super().__init__()
        self._build = build

    def __missing__(self, key: str) -> AreaPage:
        page = self[key] = self._build(key)
        return page


class MainWindow(QMainWindow):
    """The application window. ``ready`` fires once the screen shown shows the data of the
    database just opened (a list's first rows have arrived, not just the window)."""

    ready = Signal()
    session_changed = Signal(object)
    failed = Signal(str)

    def __init__(self, settings: QSettings, tasks: TaskManager,
                 opener: Callable[[Path], Session] | None = None,
                 credentials: tuple[str, str] | None = None,
                 today: Callable[[], date] = date.today) -> None:
        super().__init__()
        self.settings = settings
        self.tasks = tasks
        self.opener = opener or _open_session
        self.today = today
        # A user name and password for signing in without a dialog (the startup check).
        self.credentials = credentials
        self.session: Session | None = None
        self.context: WindowContext | None = None
        self.settings_dialog: QWidget | None = None
        self.idle_lock: IdleLock | None = None
        self.sign_in_dialog: QDialog | None = None
        self.server_dialog: QDialog | None = None
        self._schema_version: int | None = None
        self.setWindowTitle(_("GIST Study Tracker"))
        self.setMinimumSize(720, 480)

        self.study_box = QComboBox(self)
        self.study_box.setMinimumContentsLength(40)
        self.study_box.setAccessibleName(_("Study"))
        self.study_box.currentIndexChanged.connect(self._study_selected)

        self.nav = QListWidget(self)
        self.nav.setFixedWidth(180)
        self.stack = QStackedWidget(self)
        self.pages: dict[str, AreaPage] = _Pages(self._build_page)
        for area in AREAS:
            self.stack.addWidget(QWidget(self.stack))  # stands in until the page is built
            QListWidgetItem(_(area.title), self.nav).setData(Qt.ItemDataRole.UserRole, area.key)
        self.nav.currentRowChanged.connect(self._show_area)
        self._waiting_page: AreaPage | None = None

        self.banner = QLabel(self)
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(
            "QLabel { background: #fff3cd; color: #664d03; padding: 6px; border-radius: 3px; }")
        self.banner.hide()

        central = QWidget(self)
        outer = QVBoxLayout(central)
        outer.addWidget(self.banner)
        row = QHBoxLayout()
        row.addWidget(self.nav)
        row.addWidget(self.stack, 1)
        outer.addLayout(row, 1)
        self.setCentralWidget(central)

        self._build_menus()
        toolbar = QToolBar(_("Study"), self)
        toolbar.setObjectName("study_toolbar")
        toolbar.setMovable(False)
        label = QLabel(_("Study:") + " ", toolbar)
        label.setBuddy(self.study_box)
        toolbar.addWidget(label)
        toolbar.addWidget(self.study_box)
        self.addToolBar(toolbar)
        keys = [a.key for a in AREAS]
        area = str(self.settings.value("window/area", FIRST_AREA))
        self.nav.setCurrentRow(keys.index(area) if area in keys else keys.index(FIRST_AREA))
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1200, 800)

    # ----- menus ---------------------------------------------------------------------------
    def _action(self, text: str, slot: Callable[[], object],
                shortcut: QKeySequence | str | None = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu(_("&File"))
        file_menu.addAction(self._action(_("&New database…"), self.new_database,
                                         QKeySequence.StandardKey.New))
        file_menu.addAction(self._action(_("&Open database…"), self.choose_database,
                                         QKeySequence.StandardKey.Open))
        file_menu.addAction(self._action(_("Open &server…"), self.choose_server))
        self.recent_menu = file_menu.addMenu(_("Open &recent"))
        self._refresh_recent()
        file_menu.addSeparator()
        self.settings_action = self._action(_("&Settings…"), self.open_settings, "Ctrl+,")
        file_menu.addAction(self.settings_action)
        file_menu.addMenu(language_menu(self, self.settings))
        file_menu.addSeparator()
        # Export, import, back up, restore, verify, the coordinating centre (ui/exchange.py).
        from ui.exchange_menu import install as install_exchange

        self.exchange = install_exchange(self, file_menu)
        file_menu.addSeparator()
        file_menu.addAction(self._action(_("&Quit"), self.close, QKeySequence.StandardKey.Quit))

        go_menu = self.menuBar().addMenu(_("&Go"))
        for row, area in enumerate(AREAS):
            title = _(area.title).replace("&", "&&")  # a literal "&", not a mnemonic
            go_menu.addAction(self._action(title, lambda r=row: self.nav.setCurrentRow(r),
                                           area.shortcut))
        go_menu.addSeparator()
        go_menu.addAction(self._action(_("Choose &study"), self._focus_study, "Ctrl+L"))

        account_menu = self.menuBar().addMenu(_("&Account"))
        self.password_action = self._action(_("Change &password…"), self.change_password)
        self.lock_action = self._action(_("&Lock now"), self.lock_now, "Ctrl+Alt+L")
        self.users_action = self._action(_("&Users…"), self.manage_users)
        self.verify_action = self._action(_("&Verify the audit trail"), self.verify_audit)
        self.sign_out_action = self._action(_("Sign &out"), self.sign_out)
        for action in (self.password_action, self.lock_action, self.users_action,
                       self.verify_action, self.sign_out_action):
            account_menu.addAction(action)
        self._account_actions()

        # User guide (F1), keyboard shortcuts, About, About Qt: see ui/help.py.
        help_menu = self.menuBar().addMenu(_("&Help"))
        self.help_menu = HelpMenu(self, help_menu)
        # The log and crash reports a site sends us, in their own group before About.
        help_menu.insertAction(self.help_menu.about_action,
                               self._action(_("Open &log folder"), open_log_folder))
        help_menu.insertSeparator(self.help_menu.about_action)

    def open_settings(self) -> None:
        """File > Settings…: the site settings (site code, name, paper size, language)."""
        if self.context is None:
            return
        from ui.settings_dialog import open_settings

        open_settings(self, self.context)

    # ----- areas ---------------------------------------------------------------------------
    def _build_page(self, key: str) -> AreaPage:
        row = [a.key for a in AREAS].index(key)
        page = AREAS[row].factory()
        stand_in = self.stack.widget(row)
        current = self.stack.currentIndex()
        self.stack.insertWidget(row, page)
        self.stack.removeWidget(stand_in)
        stand_in.deleteLater()
        self.stack.setCurrentIndex(current)
        if self.context is not None:
            page.attach(self.context)  # the one change signal and the patient windows
            page.set_study(self.current_study())
        return page

    def _show_area(self, row: int) -> None:
        if 0 <= row < len(AREAS):
            self.stack.setCurrentWidget(self.pages[AREAS[row].key])
            self.settings.setValue("window/area", AREAS[row].key)

    def current_page(self) -> AreaPage:
        return self.pages[AREAS[max(0, self.nav.currentRow())].key]

    def _ready_when_shown(self) -> None:
        """Emit ``ready`` once the current page has the new session's data."""
        page = self.current_page()
        if self._waiting_page is not None:
            self._waiting_page.data_shown.disconnect(self._page_ready)
            self._waiting_page = None
        if page.loading():
            self._waiting_page = page
            page.data_shown.connect(self._page_ready)
        else:
            self.ready.emit()

    def _page_ready(self) -> None:
        if self._waiting_page is not None:
            self._waiting_page.data_shown.disconnect(self._page_ready)
            self._waiting_page = None
        self.ready.emit()

    def _focus_study(self) -> None:
        self.study_box.setFocus()
        self.study_box.showPopup()

    # ----- databases -----------------------------------------------------------------------
    def open_database(self, path: Path) -> None:
        """Open ``path`` in the background; on success (and once someone has signed in) it
        becomes the window's database."""
        self.statusBar().showMessage(_("Opening {path}…").format(path=path))

        def opened() -> tuple[Session, bool, int, int]:
            from gisttracker.services.settings import SettingsService
            from gisttracker.store.migrations import schema_version

            session = self.opener(path)
            return (session, session.has_accounts(),
                    int(SettingsService(session.tracker).get("idle_lock_minutes")),
                    schema_version(session.db))

        def done(result: tuple[Session, bool, int, int]) -> None:
            session, has_accounts, idle_minutes, version = result
            self._idle_minutes = idle_minutes
            self._schema_version = version
            if session.tracker.actor is None:
                self._authenticate(session, has_accounts)
            else:
                self._install_session(session)

        def error(exc: BaseException) -> None:
            if is_server(path) and "password" in str(exc) and not self.property("headless"):
                # No password (or a wrong one) for a server: ask for it, never store it.
                self.statusBar().showMessage(_("{path} needs a password").format(path=path))
                from ui.server_dialog import login_problem

                self.choose_server(previous=str(path), problem=login_problem(path))
                return
            text = error_message(exc, context="opening a database")
            message = _("Could not open {path}:\n{error}").format(path=path, error=text)
            self.statusBar().showMessage(_("Could not open {path}").format(path=path))
            self.failed.emit(text)
            if not self.property("headless"):
                QMessageBox.critical(self, _("Database not opened"), message)

        self.tasks.run(opened, done, error)

    # ----- signing in -------------------------------------------------------------------
    def _authenticate(self, session: Session, has_accounts: bool) -> None:
        """Someone must sign in before the site's data is shown: the first administrator of
        a new site, or an account of this one. Headless (the startup check, tests): a site
        without accounts acts as its bootstrap administrator, as the command line does."""
        if self.property("headless") and not has_accounts:
            from gisttracker.services.policy import bootstrap_actor

            session.tracker.sign_in(bootstrap_actor())
            self._install_session(session)
            return
        # Loaded only when someone signs in (password hashing, encryption, the dialogs).
        from gisttracker.services.accounts import AccountService
        from ui.accounts import FirstAdministratorDialog, SignInDialog

        service = AccountService(session.tracker)
        name = str(session.path) if is_server(session.path) else session.path.name
        if self.property("headless"):
            if self.credentials is not None:
                user, password = self.credentials
                self.tasks.run(lambda: service.sign_in(user, password, switch=False),
                               lambda actor: self._signed_in(session, actor),
                               lambda exc: self._not_signed_in(session, str(exc)))
            else:
                self._not_signed_in(session, _("this site has accounts: sign in with --user "
                                               "NAME"))
            return
        dialog: QDialog
        if has_accounts:
            dialog = SignInDialog(service, self.tasks, name, self)
        else:
            dialog = FirstAdministratorDialog(service, self.tasks, name, self)
        self.sign_in_dialog = dialog
        dialog.accepted.connect(lambda: self._signed_in(session, dialog.result_value))
        dialog.rejected.connect(lambda: self._not_signed_in(session, _("nobody signed in")))
        dialog.open()

    def _signed_in(self, session: Session, actor: Actor) -> None:
        self.sign_in_dialog = None
        session.tracker.sign_in(actor)
        self._install_session(session)

    def _not_signed_in(self, session: Session, message: str) -> None:
        self.sign_in_dialog = None
        if session is not self.session:
            session.close()
        self.statusBar().showMessage(_("{path} not opened: {reason}").format(
            path=session.path, reason=message))
        self.failed.emit(message)

    def _install_session(self, session: Session) -> None:
        old = self.session
        if self.context is not None:
            self.context.close()  # its patient windows belong to the old site
            self.context.deleteLater()
        self.session = session
        if old is not None and old is not session:
            old.close()
        self._start_idle_lock(session)
        self._account_actions()
        self._remember(session.path)
        # Every write of the window runs on the background worker; one on this (GUI) thread
        # is a bug, and the tracker refuses it rather than racing the worker for the file.
        session.tracker.refuse_writes_on(threading.current_thread())
        from ui.context import WindowContext

        self.context = WindowContext(session, self.tasks, today=self.today, parent=self)
        self.context.changed.connect(self._changed)
        for page in self.pages.values():
            page.attach(self.context)
        self.context.start_watching()
        previous = self.settings.value("study/current")
        self.study_box.blockSignals(True)
        self.study_box.clear()
        for study in sorted(session.studies.values(), key=lambda s: s.key):
            label = _("{title} ({registration})").format(
                title=local(study.short_title), registration=study.registration or study.key)
            self.study_box.addItem(label, study.key)
        self.study_box.blockSignals(False)
        index = max(0, self.study_box.findData(previous))
        self.study_box.setCurrentIndex(index)
        self._study_selected(index)
        problems = []
        if session.audit is not None and not session.audit.ok:
            # Someone changed the file around the program: say so before anything else.
            problems.append(_("Audit trail: {problem}. Use Account ▸ Verify the audit trail "
                              "for the full check.").format(problem=session.audit.summary()))
        if session.protocol_errors or session.blocked:
            problems.append(protocol_banner(session))
        self.banner.setText("\n".join(problems))
        self.banner.setVisible(bool(problems))
        self.setWindowTitle(_("GIST Study Tracker — {name}").format(
            name=session.path if is_server(session.path) else session.path.name))
        actor = session.tracker.actor
        self.statusBar().showMessage(_("{path} · schema {version} · {user} ({role})").format(
            path=session.path, version=self._schema_version, user=session.tracker.user,
            role=actor.role_label if actor else "—"))
        self.session_changed.emit(session)
        self._ready_when_shown()

    def new_database(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        name, _filter = QFileDialog.getSaveFileName(self, _("New site database"), "site.db",
                                                    _(DB_FILTER))
        if name:
            path = Path(name)
            if path.exists():
                QMessageBox.warning(self, _("File exists"), _(
                    "{path} already exists. Use Open to open it.").format(path=path))
                return
            self.open_database(path)

    def choose_server(self, previous: str | None = None, problem: str | None = None) -> None:
        """File > Open server…: a site database on a PostgreSQL server (``problem``: why it
        is asked again after a refused login)."""
        from gisttracker.store.db import resolve_path
        from gisttracker.store.urls import ServerUrlError
        from ui.server_dialog import OpenServerDialog

        dialog = OpenServerDialog(self, previous=previous, problem=problem)
        self.server_dialog = dialog

        def accepted() -> None:
            try:
                location = resolve_path(dialog.url())
            except ServerUrlError as exc:
                QMessageBox.warning(self, _("Database not opened"), str(exc))
                return
            self.open_database(location)

        dialog.accepted.connect(accepted)
        dialog.open()

    def choose_database(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        name, _filter = QFileDialog.getOpenFileName(self, _("Open site database"), "",
                                                  _(DB_FILTER))
        if name:
            self.open_database(Path(name))

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent/files", [])
        if isinstance(value, str):
            return [value]
        return [str(v) for v in (value or [])]

    def _remember(self, path: Path) -> None:
        # A server is remembered by its URL, which never holds a password.
        name = str(path) if is_server(path) else str(path.resolve())
        files = [name] + [f for f in self.recent_files() if f != name]
        self.settings.setValue("recent/files", files[:MAX_RECENT])
        self._refresh_recent()

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        files = self.recent_files()
        for i, name in enumerate(files, start=1):
            action = self._action(f"&{i} {name}",
                                  lambda n=name: self.open_database(_location(n)))
            self.recent_menu.addAction(action)
        self.recent_menu.setEnabled(bool(files))

    def _changed(self, changes: Changes) -> None:
        for page in self.pages.values():
            page.on_changes(changes)

    # ----- studies -------------------------------------------------------------------------
    def current_study(self) -> Study | None:
        key = self.study_box.currentData()
        if self.session is None or key is None:
            return None
        return self.session.studies.get(key)

    def _study_selected(self, _index: int) -> None:
        study = self.current_study()
        if study is not None:
            self.settings.setValue("study/current", study.key)
        for page in self.pages.values():
            page.set_study(study)

    # ----- the account ---------------------------------------------------------------------
    def _account_actions(self) -> None:
        """Enable what the signed-in role may do (the services refuse the rest anyway)."""
        from gisttracker.services.policy import Permission

        actor = self.session.tracker.actor if self.session is not None else None
        is_account = actor is not None and actor.is_account
        self.password_action.setEnabled(is_account)
        self.lock_action.setEnabled(is_account)
        self.sign_out_action.setEnabled(is_account)
        self.users_action.setVisible(actor is not None and actor.can(Permission.MANAGE_USERS))
        self.verify_action.setEnabled(actor is not None and actor.can(Permission.VIEW_AUDIT))

    def _start_idle_lock(self, session: Session) -> None:
        if self.idle_lock is not None:
            self.idle_lock.stop()
            self.idle_lock.deleteLater()
            self.idle_lock = None
        actor = session.tracker.actor
        if actor is not None and actor.is_account and not self.property("headless"):
            from gisttracker.services.accounts import AccountService
            from ui.lock import IdleLock

            minutes = getattr(self, "_idle_minutes", 10)
            self.idle_lock = IdleLock(self, AccountService(session.tracker), self.tasks, actor,
                                      minutes)

    def lock_now(self) -> None:
        if self.idle_lock is not None:
            self.idle_lock.lock(idle=False)

    def change_password(self) -> None:
        from gisttracker.services.accounts import AccountService
        from ui.accounts import ChangePasswordDialog

        if self.session is not None:
            ChangePasswordDialog(AccountService(self.session.tracker), self.tasks,
                                 self).exec()

    def manage_users(self) -> None:
        from gisttracker.services.accounts import AccountService
        from ui.accounts import UsersDialog

        if self.session is not None:
            UsersDialog(AccountService(self.session.tracker), self.tasks, self).exec()

    def verify_audit(self) -> None:
        """The full check of the audit trail, on the worker; the result in a box."""
        from gisttracker.services.audit import verify

        session = self.session
        if session is None:
            return
        self.statusBar().showMessage(_("Verifying the audit trail…"))

        def done(report: AuditReport) -> None:
            self.statusBar().showMessage(report.summary())
            text = report.summary()
            if not report.ok:
                text += "\n\n" + "\n".join(f.message for f in report.findings[:10])
            text += "\n\n" + _("Head: entry #{id}, hash {digest}").format(
                id=report.head_id, digest=report.head_hash)
            if not self.property("headless"):
                (QMessageBox.information if report.ok else QMessageBox.warning)(
                    self, _("Audit trail"), text)

        self.tasks.run(lambda: verify(session.db), done, lambda e: show_error(self, e))

    def sign_out(self) -> None:
        """Someone else will use this workstation: back to the sign-in dialog."""
        session = self.session
        if session is None or session.tracker.actor is None:
            return
        if self.idle_lock is not None:
            self.idle_lock.stop()
            self.idle_lock = None
        session.tracker.sign_out()
        self.session = None
        for page in self.pages.values():
            page.set_session(None, self.tasks)
        self._account_actions()
        self._authenticate(session, True)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.context is not None:
            for window in self.context.open_windows():
                if not window.close():  # a patient window with unsaved changes it keeps
                    event.ignore()
                    return
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.sync()
        super().closeEvent(event)


def protocol_banner(session: Session) -> str:
    """What the banner says about the protocol files: the studies that cannot be used (a
    site file refused: the shipped one is not used in its place) and the other files that
    did not load."""
    blocked = set(session.blocked)
    lines = [error.sentence() for error in session.unavailable()]
    others = [str(e) for e in session.protocol_errors if e.study not in blocked]
    if others:
        lines.append(_("Some protocol files could not be loaded:"))
        lines.extend(others)
    return "\n".join(lines)
