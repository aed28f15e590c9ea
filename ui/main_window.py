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
from ui.areas import AREAS, AreaPage
from ui.errors import error_message, open_log_folder
from ui.help import HelpMenu
from ui.language import language_menu
from ui.tasks import TaskManager

if TYPE_CHECKING:
    # The store, the ORM and the protocols are loaded by opening a database, on the
    # background thread, not before the window shows.
    from gisttracker.protocols import Study
    from gisttracker.services.base import Changes
    from gisttracker.session import Session
    from ui.context import WindowContext

MAX_RECENT = 8
DB_FILTER = N_("GIST Study Tracker database (*.db *.sqlite);;All files (*)")
FIRST_AREA = "patients"  # what a nurse opens the program for, until another area was used


def _open_session(path: Path) -> Session:
    from gisttracker.session import open_session

    return open_session(path, page_check=0)  # checked in the background (ui/exchange.py)


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
                 today: Callable[[], date] = date.today) -> None:
        super().__init__()
        self.settings = settings
        self.tasks = tasks
        self.opener = opener or _open_session
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
            from gisttracker.store.migrations import schema_version

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
        self.banner.setText(protocol_banner(session))
        self.banner.setVisible(bool(session.protocol_errors or session.blocked))
        self.setWindowTitle(_("GIST Study Tracker — {name}").format(name=session.path.name))
        self.statusBar().showMessage(_("{path} · schema {version} · user {user}").format(
            path=session.path, version=version, user=session.tracker.user))
        self.session_changed.emit(session)
        self._ready_when_shown()

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
