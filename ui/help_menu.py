"""The Help menu's actions: the user guide (F1), the keyboard shortcuts, About, About Qt.

Built at every start, so it holds only the actions; what they open — the guide's text, the
dialogs, the licences and the list of shipped libraries (:mod:`ui.help`) — is imported the
first time one of them is asked for, not while a nurse waits for the first screen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QUrl
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QWidget

from gisttracker.i18n import _

if TYPE_CHECKING:
    from ui.help import ShortcutsDialog, TextDialog


class HelpMenu(QObject):
    """Fills the window's Help menu and owns the dialogs it opens."""

    def __init__(self, window: QMainWindow, menu: QMenu) -> None:
        super().__init__(window)
        self.window = window
        self.guide: TextDialog | None = None

        self.guide_action = QAction(_("&User guide"), window)
        # F1 everywhere (the platform's own help key too, where it differs, as on macOS).
        keys = [QKeySequence("F1")]
        native = QKeySequence(QKeySequence.StandardKey.HelpContents)
        if not native.isEmpty() and native != keys[0]:
            keys.append(native)
        self.guide_action.setShortcuts(keys)
        self.guide_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self.guide_action.triggered.connect(self.show_guide)
        self.shortcuts_action = QAction(_("&Keyboard shortcuts"), window)
        self.shortcuts_action.triggered.connect(self.show_shortcuts)
        self.about_action = QAction(_("&About GIST Study Tracker"), window)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        self.about_action.triggered.connect(self.show_about)
        self.about_qt_action = QAction(_("About &Qt"), window)
        self.about_qt_action.setMenuRole(QAction.MenuRole.AboutQtRole)
        self.about_qt_action.triggered.connect(self._about_qt)

        menu.addAction(self.guide_action)
        menu.addAction(self.shortcuts_action)
        menu.addSeparator()
        menu.addAction(self.about_action)
        menu.addAction(self.about_qt_action)

    def _about_qt(self) -> None:
        from PySide6.QtWidgets import QMessageBox

        QMessageBox.aboutQt(self.window)

    def show_guide(self) -> TextDialog:
        """The user guide, in a window of its own that stays open beside the work."""
        from ui.help import TextDialog, guide_html

        if self.guide is None:
            self.guide = TextDialog(self.window, _("GIST Study Tracker — user guide"),
                                    html=guide_html())
            self.guide.setObjectName("help_guide")
            self.guide.resize(720, 640)
        self.guide.show()
        self.guide.raise_()
        self.guide.activateWindow()
        return self.guide

    def show_shortcuts(self) -> ShortcutsDialog:
        from ui.help import ShortcutsDialog

        dialog = ShortcutsDialog(self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def show_about(self) -> TextDialog:
        from PySide6.QtWidgets import QTextBrowser

        from gisttracker.store.urls import is_server
        from ui.help import TextDialog, about_html

        session = getattr(self.window, "session", None)
        # A server site is named by its address (without any password), not by the
        # private local folder kept for it on this workstation.
        database = (_("no database open") if session is None
                    else str(session.path) if is_server(session.path)
                    else str(session.path.resolve()))
        dialog = TextDialog(self.window, _("About GIST Study Tracker"),
                            html=about_html(database))
        dialog.setObjectName("help_about")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        browser = dialog.text
        assert isinstance(browser, QTextBrowser)
        browser.anchorClicked.connect(lambda url: self._open_licence(dialog, url))
        dialog.resize(680, 620)
        dialog.open()
        return dialog

    def _open_licence(self, parent: QWidget, url: QUrl) -> None:
        from PySide6.QtWidgets import QMessageBox

        from gisttracker import resources
        from ui.help import TextDialog

        name = url.path() if url.scheme() == "licence" else ""
        path = resources.fonts_dir() / name
        if not name or path.parent != resources.fonts_dir():
            return
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            QMessageBox.warning(parent, _("Licence"), _(
                "The licence text {name} cannot be read: {error}").format(
                name=name, error=exc.strerror or exc))
            return
        dialog = TextDialog(parent, name, plain=text)
        dialog.setObjectName("help_licence")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.resize(640, 560)
        dialog.open()
