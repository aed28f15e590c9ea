"""The Help menu: the user guide (F1), the keyboard shortcuts, About, About Qt.

The guide is written as whole translatable paragraphs (``N_`` here, ``_`` when shown), so
the translators see every sentence in the catalogue and the pseudo-locale test sees every
string. Its list of areas is built from :data:`ui.areas.AREAS` (title and shortcut) and the
shortcut list from the window's real actions, so neither can drift from the program.
Everything opens inside the application (no browser, no network).

About names the program's version, where its database is, and the licences of what it ships:
the report fonts (licence texts in ``resources/fonts``, opened in the application) and the
Python distributions it runs on, read from their installed metadata (a bundle carries that
metadata for this purpose).
"""

from __future__ import annotations

import platform
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QObject, Qt, QUrl, qVersion
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from gisttracker import __version__, resources
from gisttracker.i18n import N_, _
from ui.areas import AREAS

if TYPE_CHECKING:
    from importlib.metadata import Distribution

# ----- the guide ------------------------------------------------------------------------------
# What each area of the main window is for, by area key; an area without an entry here is
# still listed (title and shortcut), just without a description.
AREA_GUIDE: dict[str, str] = {
    "summary": N_(
        "The selected study as its protocol file defines it: design, arms or groups, "
        "eligibility criteria, the visit schedule with its windows, and the endpoints. "
        "Choose the study in the toolbar (Ctrl+L); a site running several studies switches "
        "here."),
    "patients": N_(
        "Every patient of the site, with study identifier, arm and status. Type in the "
        "search box to find a patient, press Enter or double-click to open the patient's "
        "window, and use New patient (Ctrl+Shift+N) to start screening someone."),
    "calendar": N_(
        "The site's work by week: visits due, overdue, and done outside their window, for "
        "one study or all of them. Move between weeks, print the calendar, or export the "
        "visits to a calendar program (iCalendar)."),
    "reports": N_(
        "PDF reports for the principal investigator, the sponsor and the patient file: a "
        "patient's visit schedule, the site calendar, the screening log, enrollment and "
        "accrual, and a patient's casebook."),
    "outcomes": N_(
        "A study's endpoints, derived from the recorded data as of the data cut-off you "
        "choose and analysed: survival curves by group with the numbers at risk, medians, "
        "survival at 1, 3 and 5 years, log-rank tests and Cox models, rates with their "
        "confidence intervals, questionnaire scores over time. Double-click any count for "
        "the patients behind it, and a patient to open the record that decided their value. "
        "PDF… prints it all."),
}

INTRODUCTION = N_(
    "GIST Study Tracker keeps the records of clinical studies of gastrointestinal stromal "
    "tumour treated with imatinib: screening, enrollment, visit schedules, the data of each "
    "visit, and the reports. It works on this computer without a network; every change is "
    "saved at once and recorded in the audit trail with who made it, when, the old and the "
    "new value, and the reason.")

AREAS_INTRODUCTION = N_(
    "The window has one area per task; the list on the left and the Go menu switch between "
    "them.")

WORKFLOW: tuple[tuple[str, str], ...] = (
    (N_("Start of the day"), N_(
        "Open Schedule & calendar. The week shows who is due, who is overdue and who was "
        "seen outside the window; print it for the clinic if you work from paper.")),
    (N_("A new patient"), N_(
        "In Patients, choose New patient and enter what the study's criteria need: age, "
        "ECOG, tumour site and size, mutation, laboratory values with the site's upper "
        "limits of normal. Each criterion shows met, not met or not yet known, with the "
        "reason. A patient who is not eligible is recorded as a screen failure and stays "
        "in the screening log with the reasons.")),
    (N_("Enrollment"), N_(
        "When every criterion is met, choose Enroll. In a randomized study the program "
        "allocates the arm (concealed until this moment, reproducible and audited) and "
        "shows the randomization number; print the confirmation for the patient file. The "
        "visit schedule is made at once from the study's anchor dates; entering or "
        "correcting an anchor (the date of surgery, say) recomputes the planned dates and "
        "keeps everything already entered.")),
    (N_("At a visit"), N_(
        "Open the patient and the Visits and forms tab, choose the visit and enter its "
        "forms. Questionnaires are typed one digit per item and scored as their manuals "
        "say; tumour measurements are classified by RECIST 1.1 and Choi as you type; "
        "laboratory values are graded by CTCAE, and a grade 3 or higher offers to record "
        "an adverse event. Save with Ctrl+S. Changing a value that was already saved asks "
        "for the reason, which the audit trail keeps.")),
    (N_("Treatment and outcomes"), N_(
        "The Treatment & course tab records imatinib and other treatment with dose changes "
        "and interruptions, surgery with its margins, pathology, progression, recurrence, "
        "death and loss to follow-up. The study's endpoints are derived from these "
        "records.")),
    (N_("End of the day"), N_(
        "Check Schedule & calendar for visits still open, then back up the database (see "
        "below).")),
)

TOPICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (N_("Printing"), (
        N_("Open Reports, choose the report, the study or patient, the period and the paper "
           "size, and press Make PDF. Then Open shows it, Save as keeps a copy, and Print "
           "sends it to a printer. A patient's schedule can also be printed from the "
           "patient's window."),
        N_("Reports name patients by their study identifier only. Names, record numbers "
           "and dates of birth are printed only when you tick the box that asks for them."),
    )),
    (N_("Backing up"), (
        N_("All of the site's data is in one database file. Back it up every working day: "
           "File > Back up writes a complete, consistent copy while the program is open. "
           "Keep the copies on another disk or a server, not only on this computer."),
        N_("The command gisttracker backup does the same from the command line, for example "
           "in a nightly scheduled task. Do not copy the database file with the file "
           "manager while the program runs: such a copy can be incomplete."),
    )),
    (N_("Sending data to the coordinating centre"), (
        N_("A site that works offline sends its data as a package: the command gisttracker "
           "export package writes one file with the site's records, which you send the way "
           "your study agreed (an encrypted drive or a secure upload)."),
        N_("The coordinating centre imports the packages of every site. Records keep their "
           "own identifiers across sites, so nothing is overwritten: if two people changed "
           "the same value, the centre sees both changes and decides."),
    )),
    (N_("Where the data is"), (
        N_("The database is created on first start in your user data folder. File > Open "
           "opens another one, and File > Open recent lists the last ones used. The title "
           "bar and the status bar show which database is open."),
        N_("A site adapts a study without changing the program: copy the study's protocol "
           "file into a folder named protocols next to the database and edit the copy; it "
           "replaces the shipped protocol for that database."),
    )),
)

SHORTCUTS_POINTER = N_(
    "Everything can be done from the keyboard. Help > Keyboard shortcuts lists every "
    "shortcut; F1 opens this guide from anywhere.")


def _key_text(sequence: QKeySequence | str) -> str:
    return QKeySequence(sequence).toString(QKeySequence.SequenceFormat.NativeText)


def guide_html() -> str:
    """The user guide as HTML, in the current language."""
    from html import escape  # (its entity table is loaded when help is first asked for)

    heading = _("GIST Study Tracker — user guide")
    areas_heading = _("The areas of the window")
    day_heading = _("A research nurse’s day")
    keyboard_heading = _("Keyboard")
    parts = [f"<h2>{escape(heading)}</h2>",
             f"<p>{escape(_(INTRODUCTION))}</p>",
             f"<h3>{escape(areas_heading)}</h3>",
             f"<p>{escape(_(AREAS_INTRODUCTION))}</p>", "<dl>"]
    for area in AREAS:
        title = _("{area} ({shortcut})").format(area=_(area.title),
                                               shortcut=_key_text(area.shortcut))
        parts.append(f"<dt><b>{escape(title)}</b></dt>")
        if area.key in AREA_GUIDE:
            parts.append(f"<dd style='margin-bottom: 6px'>{escape(_(AREA_GUIDE[area.key]))}"
                         "</dd>")
    parts.append("</dl>")
    parts.append(f"<h3>{escape(day_heading)}</h3><ol>")
    for heading, text in WORKFLOW:
        parts.append(f"<li style='margin-bottom: 4px'><b>{escape(_(heading))}.</b> "
                     f"{escape(_(text))}</li>")
    parts.append("</ol>")
    for heading, paragraphs in TOPICS:
        parts.append(f"<h3>{escape(_(heading))}</h3>")
        parts += [f"<p>{escape(_(p))}</p>" for p in paragraphs]
    parts.append(f"<h3>{escape(keyboard_heading)}</h3><p>{escape(_(SHORTCUTS_POINTER))}</p>")
    return "\n".join(parts)


# ----- shortcuts from the real actions --------------------------------------------------------
@dataclass(frozen=True)
class ShortcutRow:
    place: str  # the menu (or the part of the window) it belongs to
    command: str
    keys: str


def _plain(text: str) -> str:
    """Menu text without mnemonics ("&File" → "File", "&&" → "&") or a trailing tab part."""
    return re.sub(r"&(.)", r"\1", text.split("\t")[0])


def shortcut_rows(window: QMainWindow) -> list[ShortcutRow]:
    """Every keyboard shortcut of ``window``: its menus' actions, in menu order, then other
    actions and described shortcuts (``QShortcut.whatsThis``) of the window's parts."""
    rows: list[ShortcutRow] = []
    seen: set[int] = set()

    def walk(menu: QMenu, place: str) -> None:
        for action in menu.actions():
            seen.add(id(action))
            if action.menu() is not None:
                sub = action.menu()
                assert isinstance(sub, QMenu)
                walk(sub, f"{place} > {_plain(sub.title())}")
            elif action.shortcuts():
                keys = ", ".join(_key_text(k) for k in action.shortcuts())
                rows.append(ShortcutRow(place, _plain(action.text()), keys))

    for top in window.menuBar().actions():
        menu = top.menu()
        if isinstance(menu, QMenu):
            seen.add(id(top))
            walk(menu, _plain(menu.title()))
    other = _("Window")
    for action in window.findChildren(QAction):
        if id(action) not in seen and action.shortcuts() and action.text():
            keys = ", ".join(_key_text(k) for k in action.shortcuts())
            rows.append(ShortcutRow(other, _plain(action.text()), keys))
    for shortcut in window.findChildren(QShortcut):
        if shortcut.whatsThis() and not shortcut.key().isEmpty():
            rows.append(ShortcutRow(other, shortcut.whatsThis(), _key_text(shortcut.key())))
    return rows


class ShortcutsDialog(QDialog):
    """A table of the window's keyboard shortcuts, read from its actions when opened."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.setWindowTitle(_("Keyboard shortcuts"))
        self.table = QTableWidget(0, 3, self)
        self.table.setHorizontalHeaderLabels([_("Menu"), _("Command"), _("Shortcut")])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        for row in shortcut_rows(window):
            index = self.table.rowCount()
            self.table.insertRow(index)
            for column, text in enumerate((row.place, row.command, row.keys)):
                self.table.setItem(index, column, QTableWidgetItem(text))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(620, 420)


# ----- About: version and licences -------------------------------------------------------------
@dataclass(frozen=True)
class ShippedFont:
    name: str
    licence: str
    licence_file: str  # in resources/fonts
    file: str  # the font file, bundled or found on the system


FONTS = (
    ShippedFont("DejaVu Sans", "Bitstream Vera licence; DejaVu changes public domain",
                "DejaVu-LICENSE.txt", "DejaVuSans.ttf"),
    ShippedFont("WenQuanYi Zen Hei", "GPL-2.0 with font embedding exception",
                "WenQuanYi-Zen-Hei-LICENSE.txt", "wqy-zenhei.ttc"),
)
GPL_TEXT = "GPL-2.txt"


@dataclass(frozen=True)
class Library:
    name: str
    version: str
    licence: str


# Distributions whose metadata names no licence; what their own licence file says.
KNOWN_LICENCES = {"peewee": "MIT"}


def _licence(dist: Distribution) -> str:
    meta = dist.metadata
    expression = meta.get("License-Expression")
    if expression:
        return str(expression)
    text = str(meta.get("License") or "").strip()
    if text and "\n" not in text and len(text) <= 60:
        return text
    classifiers = [c.split(" :: ")[-1] for c in meta.get_all("Classifier") or []
                   if c.startswith("License :: ")]
    if classifiers:
        return ", ".join(classifiers)
    name = str(meta.get("Name") or "")
    return KNOWN_LICENCES.get(name.lower(), text.split("\n")[0][:60] or "?")


def _requirement_name(requirement: str) -> str | None:
    """The distribution a requirement names, or None for an optional extra's requirement."""
    if re.search(r"extra\s*==", requirement):
        return None
    found = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return found.group(1) if found else None


def shipped_libraries(root: str = "gisttracker") -> list[Library]:
    """The distributions the program runs on (its requirements, recursively), as installed.

    Optional extras are left out; a requirement for another platform is not installed and so
    not listed.
    """
    # importlib.metadata (20 ms of imports) is loaded when the About box asks, not at start.
    from importlib import metadata

    found: dict[str, Library] = {}
    pending = [root]
    while pending:
        name = pending.pop()
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        key = re.sub(r"[-_.]+", "-", str(dist.metadata["Name"])).lower()
        if key in found:
            continue
        found[key] = Library(str(dist.metadata["Name"]), dist.version, _licence(dist))
        pending += [n for r in dist.requires or [] if (n := _requirement_name(r))]
    found.pop(root, None)
    return sorted(found.values(), key=lambda lib: lib.name.lower())


def about_html(database: str) -> str:
    """The About text: version, database, runtime, fonts and libraries with licences."""
    from html import escape

    fonts_dir = resources.fonts_dir()
    licence_text = escape(_("licence text"))
    gpl = escape(_("GNU General Public License, version 2"))
    rows = []
    for font in FONTS:
        where = (_("shipped with the program") if (fonts_dir / font.file).is_file()
                 else _("from this computer’s fonts"))
        rows.append(
            f"<tr><td>{escape(font.name)}</td><td>{escape(font.licence)}</td>"
            f"<td>{escape(where)}</td><td><a href='licence:{font.licence_file}'>"
            f"{licence_text}</a></td></tr>")
    rows.append(f"<tr><td colspan='3'>{gpl}"
                f"</td><td><a href='licence:{GPL_TEXT}'>{licence_text}</a>"
                "</td></tr>")
    # Python and Qt themselves come first: every bundle carries both (Qt inside PySide6).
    runtimes = [Library("Python", platform.python_version(), "PSF-2.0"),
                Library("Qt", qVersion(), "LGPL-3.0-only")]
    libraries = "".join(
        f"<tr><td>{escape(lib.name)}</td><td>{escape(lib.version)}</td>"
        f"<td>{escape(lib.licence)}</td></tr>" for lib in runtimes + shipped_libraries())
    title = _("GIST Study Tracker {version}").format(version=__version__)
    purpose = _("Screening, enrollment, visit schedules, data entry and reports for clinical "
                "studies of gastrointestinal stromal tumour treated with imatinib.")
    where = _("Database: {path}").format(path=database)
    runtime = _("Python {python} · Qt {qt} · PySide6 {pyside}").format(
        python=platform.python_version(), qt=qVersion(), pyside=pyside_version)
    fonts_heading, libraries_heading = _("Fonts in the PDF reports"), _("Libraries")
    name, version, licence = _("Name"), _("Version"), _("Licence")
    return "\n".join([
        f"<h2>{escape(title)}</h2>",
        f"<p>{escape(purpose)}</p>",
        f"<p>{escape(where)}</p>",
        f"<p>{escape(runtime)}</p>",
        f"<h3>{escape(fonts_heading)}</h3>",
        "<table cellpadding='3'>" + "".join(rows) + "</table>",
        f"<h3>{escape(libraries_heading)}</h3>",
        f"<table cellpadding='3'><tr><th align='left'>{escape(name)}</th>"
        f"<th align='left'>{escape(version)}</th>"
        f"<th align='left'>{escape(licence)}</th></tr>{libraries}</table>",
    ])


class TextDialog(QDialog):
    """A dialog showing rich text (``html``) or plain text in a read-only browser."""

    def __init__(self, parent: QWidget, title: str, html: str | None = None,
                 plain: str | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        layout = QVBoxLayout(self)
        if plain is not None:
            self.text: QTextBrowser | QPlainTextEdit = QPlainTextEdit(plain, self)
            self.text.setReadOnly(True)
        else:
            self.text = QTextBrowser(self)
            self.text.setOpenLinks(False)  # links are ours to handle, never a browser
            self.text.setHtml(html or "")
        layout.addWidget(self.text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        # The text, not the Close button, has the keyboard: Page Down reads on, Tab walks
        # the links, Escape closes.
        self.text.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.text.setFocus()


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
        self.about_qt_action.triggered.connect(lambda: QMessageBox.aboutQt(window))

        menu.addAction(self.guide_action)
        menu.addAction(self.shortcuts_action)
        menu.addSeparator()
        menu.addAction(self.about_action)
        menu.addAction(self.about_qt_action)

    def show_guide(self) -> TextDialog:
        """The user guide, in a window of its own that stays open beside the work."""
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
        dialog = ShortcutsDialog(self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def show_about(self) -> TextDialog:
        from gisttracker.store.urls import is_server

        session = getattr(self.window, "session", None)
        # A server site is named by its URL (without any password); its path is only the
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
