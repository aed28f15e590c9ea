"""The window's language: chosen at start, Qt's own strings translated, a menu to change it.

Which language (:func:`gisttracker.i18n.choose_language`):

1. the person's own choice, ``language`` in their QSettings (File → Language), a per-user
   preference like window geometry, because two nurses at one site may read different
   languages;
2. else the site's default, the ``language`` site setting in the database;
3. else the system's: the desktop's preferred UI languages (``QLocale.system()``).

A change applies at the next start: every screen, table model and cached protocol text is
built once in the chosen language, and rebuilding them live would be a second way to build
them that nobody tests. Dates stay ISO (YYYY-MM-DD) in every language.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QSettings, QTranslator
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QMessageBox, QWidget

from gisttracker import i18n
from gisttracker.i18n import N_, _
from gisttracker.store.paths import read_site_language

SETTING = "language"
SYSTEM = "system"

# Kept alive for the life of the application: Qt does not own an installed translator.
_translators: list[QTranslator] = []

# Qt's own words that Qt's Chinese catalogue lacks: qtbase_zh_CN was made for an older file
# dialog, so Qt 6's non-native file dialog (the one Linux desktops without a portal, and the
# bundle, show) said "Look in:", "Files of type:" and, in its Type column, "Folder" in a
# Chinese window. Found by looking at File > Open, Export, Back up and Restore in a Chinese
# session with every look-up that no Qt catalogue answered logged.
# (Qt's context, Qt's source text, Qt's disambiguation) -> the same text in our catalogue.
QT_SUPPLEMENT: dict[tuple[str, str, str], str] = {
    # TRANSLATORS: Qt's file dialog; "&" marks the access key, shown as "(&L)" in Chinese.
    ("QFileDialog", "&Look in:", ""): N_("&Look in:"),
    # TRANSLATORS: Qt's file dialog, the label of the file filter list.
    ("QFileDialog", "Files of &type:", ""): N_("Files of &type:"),
    # TRANSLATORS: Qt's file dialog, the Type column of a folder.
    ("QAbstractFileIconProvider", "Folder", "All other platforms"): N_("Folder"),
    # TRANSLATORS: Qt's file dialog, the Type column of a disk drive.
    ("QAbstractFileIconProvider", "Drive", ""): N_("Drive"),
    # TRANSLATORS: Qt's file dialog, the Type column of a file of unknown kind.
    ("QAbstractFileIconProvider", "File", ""): N_("File"),
    # TRANSLATORS: Qt's file dialog, the Type column; %1 is a file name extension ("PDF").
    ("QAbstractFileIconProvider", "%1 File", ""): N_("%1 File"),
    # (Windows and macOS show their own file dialogs, in the system's language.)
}


class QtSupplement(QTranslator):
    """Qt's look-ups that the Qt catalogues could not answer, answered from our catalogue
    (:data:`QT_SUPPLEMENT`). Installed before ``qtbase``, so Qt asks it last: for a string
    ``qtbase`` translates, this is never called; for one neither knows, None lets Qt show
    its English."""

    def translate(self, context: str, source_text: str, disambiguation: str | None = None,
                  n: int = -1) -> str | None:  # type: ignore[override]
        msgid = QT_SUPPLEMENT.get((context, source_text, disambiguation or ""))
        return _(msgid) if msgid is not None else None

    def isEmpty(self) -> bool:
        return False


def user_choice(settings: QSettings) -> str | None:
    """The person's own language choice, or None to follow the site and the system."""
    value = settings.value(SETTING)
    return str(value) if value and value != SYSTEM else None


def start_language(settings: QSettings, db_path: Path | None, given: str | None = None) -> str:
    """Choose the language for this start and install it (core catalogue and Qt's own).

    ``given``: the language asked for on the command line (``--language``), which beats
    every remembered choice for this start only. Returns the language code installed.
    """
    site = read_site_language(db_path) if db_path is not None else None
    system = i18n.system_language(ui_languages=QLocale.system().uiLanguages())
    language = i18n.install(i18n.choose_language(given or user_choice(settings), site, system))
    install_qt_translations(language)
    return language


def install_qt_translations(language: str) -> bool:
    """Load Qt's own catalogue (``qtbase_<lang>``: OK, Cancel, Yes, No, the context menus of
    text fields…) from the translations PySide6 ships. False when there is none."""
    app = QCoreApplication.instance()
    for translator in _translators:
        QCoreApplication.removeTranslator(translator)
    _translators.clear()
    if app is None or language not in i18n.TRANSLATED:
        return False
    # Month and day names (the calendar) in the language too; dates are shown ISO anyway
    # (every date field sets its display format).
    QLocale.setDefault(QLocale(language))
    folder = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
    # The supplement first: Qt asks the translator installed last first.
    supplement = QtSupplement(app)
    QCoreApplication.installTranslator(supplement)
    _translators.append(supplement)
    translator = QTranslator(app)
    if not translator.load(f"qtbase_{language}", folder):
        return False
    QCoreApplication.installTranslator(translator)
    _translators.append(translator)
    return True


def language_menu(parent: QWidget, settings: QSettings) -> QMenu:
    """File → Language: follow the system, or one of the languages, each named in itself."""
    menu = QMenu(_("&Language"), parent)
    group = QActionGroup(menu)
    current = user_choice(settings) or SYSTEM
    choices = [(SYSTEM, _("Follow the site and the system"))]
    choices += list(i18n.LANGUAGES.items())
    for code, name in choices:
        action = QAction(name, menu)
        action.setCheckable(True)
        action.setChecked(code == current)
        action.setData(code)
        group.addAction(action)
        menu.addAction(action)
        action.triggered.connect(
            lambda _checked=False, c=code: choose(parent, settings, c))
    return menu


def choose(parent: QWidget, settings: QSettings, code: str) -> None:
    """Remember ``code`` as this person's language and say when it applies."""
    if (user_choice(settings) or SYSTEM) == code:
        return
    settings.setValue(SETTING, code)
    settings.sync()
    if not parent.property("headless"):
        QMessageBox.information(parent, _("Language"), _(
            "The new language applies the next time GIST Study Tracker starts."))
