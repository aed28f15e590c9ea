"""The main window: study switcher, area navigation, File menu with recent databases."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
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
from gisttracker.protocols import Study
from gisttracker.services.base import Changes
from gisttracker.session import Session, open_session
from gisttracker.store.migrations import schema_version
from ui.areas import AREAS, AreaPage
from ui.context import WindowContext
from ui.errors import error_message, open_log_folder
from ui.help import HelpMenu
from ui.language import language_menu
from ui.tasks import TaskManager

MAX_RECENT = 8
DB_FILTER = N_("GIST Study Tracker database (*.db *.sqlite);;All files (*)")


class MainWindow(QMainWindow):
    """The application window. ``ready`` fires once the first screen shows its data."""

    ready = Signal()
    session_changed = Signal(object)
    failed = Signal(str)

    def __init__(self, settings: QSettings, tasks: TaskManager,
                 opener: Callable[[Path], Session] = open_session,
                 today: Callable[[], date] = date.today) -> None:
        super().__init__()
        self.settings = settings
        self.tasks = tasks
        self.opener = opener
        self.today = today
        self.session: Session | None = None
        self.context: WindowContext | None = None
        self.settings_dialog: QWidget | None = None
        self.setWindowTitle(_("GIST Study Tracker"))
        self.setMinimumSize(720, 480)

        self.study_box = QComboBox(self)
        self.study_box.setMinimumContentsLength(40)
        self.study_box.setAccessibleName(_("Study"))
        self.study_box.currentIndexChanged.connect(self._study_selected)

        self.nav = QListWidget(self)
        self.nav.setFixedWidth(180)
        self.stack = QStackedWidget(self)
        self.pages: dict[str, AreaPage] = {}
        for area in AREAS:
            page = area.factory()
            self.pages[area.key] = page
            self.stack.addWidget(page)
            QListWidgetItem(_(area.title), self.nav).setData(Qt.ItemDataRole.UserRole, area.key)
        self.nav.currentRowChanged.connect(self.stack.setCurrentIndex)

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
        self.nav.setCurrentRow(0)
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
        self.recent_menu = file_menu.addMenu(_("Open &recent"))
        self._refresh_recent()
        file_menu.addSeparator()
        self.settings_action = self._action(_("&Settings…"), self.open_settings, "Ctrl+,")
        file_menu.addAction(self.settings_action)
        file_menu.addMenu(language_menu(self, self.settings))
        file_menu.addSeparator()
        # Export, import, back up, restore, verify, the coordinating centre (ui/exchange.py).
        from ui.exchange import install as install_exchange

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

    def _focus_study(self) -> None:
        self.study_box.setFocus()
        self.study_box.showPopup()

    # ----- databases -----------------------------------------------------------------------
    def open_database(self, path: Path) -> None:
        """Open ``path`` in the background; on success it becomes the window's database."""
        self.statusBar().showMessage(_("Opening {path}…").format(path=path))

        def done(opened: tuple[Session, int]) -> None:
            self._install_session(*opened)

        def error(exc: BaseException) -> None:
            text = error_message(exc, context="opening a database")
            message = _("Could not open {path}:\n{error}").format(path=path, error=text)
            self.statusBar().showMessage(_("Could not open {path}").format(path=path))
            self.failed.emit(text)
            if not self.property("headless"):
                QMessageBox.critical(self, _("Database not opened"), message)

        def work() -> tuple[Session, int]:
            session = self.opener(path)
            return session, schema_version(session.db)

        self.tasks.run(work, done, error)

    def _install_session(self, session: Session, version: int) -> None:
        old = self.session
        if self.context is not None:
            self.context.close()  # its patient windows belong to the old site
            self.context.deleteLater()
        self.session = session
        if old is not None and old is not session:
            old.close()
        self._remember(session.path)
        # Every write of the window runs on the background worker; one on this (GUI) thread
        # is a bug, and the tracker refuses it rather than racing the worker for the file.
        session.tracker.refuse_writes_on(threading.current_thread())
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
        self.banner.setText(protocol_banner(session))
        self.banner.setVisible(bool(session.protocol_errors or session.blocked))
        self.setWindowTitle(_("GIST Study Tracker — {name}").format(name=session.path.name))
        self.statusBar().showMessage(_("{path} · schema {version} · user {user}").format(
            path=session.path, version=version, user=session.tracker.user))
        self.session_changed.emit(session)
        self.ready.emit()

    def new_database(self) -> None:
        name, _filter = QFileDialog.getSaveFileName(self, _("New site database"), "site.db",
                                                    _(DB_FILTER))
        if name:
            path = Path(name)
            if path.exists():
                QMessageBox.warning(self, _("File exists"), _(
                    "{path} already exists. Use Open to open it.").format(path=path))
                return
            self.open_database(path)

    def choose_database(self) -> None:
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
        files = [str(path.resolve())] + [f for f in self.recent_files()
                                         if f != str(path.resolve())]
        self.settings.setValue("recent/files", files[:MAX_RECENT])
        self._refresh_recent()

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        files = self.recent_files()
        for i, name in enumerate(files, start=1):
            action = self._action(f"&{i} {name}", lambda n=name: self.open_database(Path(n)))
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
