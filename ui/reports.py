"""The Reports area: pick a report and its options, make the PDF off the GUI thread, then
open it in the system viewer, save a copy or print it.

Printing: PySide6-Essentials has no QtPdf, so Qt cannot rasterize a PDF itself. "Print…"
shows the Qt print dialog (printer and copies) and hands the PDF to the system's print
spooler (``lp`` on Linux and macOS, which prints PDF natively; the shell's "print" verb on
Windows). Where neither exists, it opens the PDF in the system viewer to print from there.
"""

from __future__ import annotations

import calendar
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QProcess, QStringListModel, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gisttracker.files import make_private_dir, restrict
from gisttracker.i18n import _, local
from gisttracker.protocols import Study
from gisttracker.reports import KINDS, ReportRequest, build
from gisttracker.services.base import Changes
from gisttracker.services.patients import PatientFilter, PatientService
from gisttracker.services.settings import SettingsService
from gisttracker.session import Session
from ui.areas import AreaPage
from ui.errors import error_message
from ui.tasks import TaskManager
from ui.widgets.date_field import DateField, DateInputError

if TYPE_CHECKING:
    from ui.context import WindowContext

PATIENT_CHOICES = 2000  # study identifiers offered by the completer (prefix search)


def _output_dir() -> Path:
    user = os.getuid() if hasattr(os, "getuid") else "user"
    folder = Path(tempfile.gettempdir()) / f"gisttracker-reports-{user}"
    make_private_dir(folder)
    restrict(folder)  # in a shared /tmp: never readable by others, even if made so
    return folder


def load_report_modules() -> None:
    """Import the report modules (reportlab, its fonts, PIL) here, on the GUI thread, before
    the first PDF is made on the worker. Their first import on the worker, while the window
    collected garbage, crashed the program now and then; a few tenths of a second once, at
    the first click on a report, is the price."""
    from gisttracker.reports import calendar, casebook, enrollment, schedule, screening

    del calendar, casebook, enrollment, schedule, screening


def open_in_viewer(path: Path, known: bool | None = None) -> bool:
    """Open ``path`` in the system's program for it; False when none could be started.
    ``known``: :func:`viewer_known`'s answer when it was asked already (on the worker)."""
    if not (viewer_known(path) if known is None else known):
        return False
    return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))))


def viewer_known(path: Path) -> bool:
    """Whether the desktop names a program for a file like ``path`` (a PDF).

    On Linux Qt hands the file to ``xdg-open`` and reports success once that has started,
    even when it then finds no program (a machine with no PDF viewer): the click would show
    nothing. ``xdg-mime`` says beforehand whether a default program is set. Elsewhere, and
    where ``xdg-mime`` is missing, the answer of the open call itself is all there is.
    """
    if sys.platform in ("win32", "darwin"):
        return True
    xdg_mime = shutil.which("xdg-mime")
    if xdg_mime is None:
        return True
    kind = "application/pdf" if path.suffix.lower() == ".pdf" else None
    if kind is None:
        return True
    try:
        answer = subprocess.run([xdg_mime, "query", "default", kind], capture_output=True,
                                text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return True  # cannot tell: let the open call try
    return bool(answer.stdout.strip())


def make_pdf(session: Session, request: ReportRequest, today: date, path: Path) -> Path:
    """Build and write the report (runs on the background thread; touches no widget)."""
    build(session, request, today=today, generated_at=datetime.now(UTC)).write(path)
    return path


def file_name(request: ReportRequest) -> str:
    part = request.patient or request.study_key or "all"
    if request.start and request.end:
        part += f"_{request.start.isoformat()}_{request.end.isoformat()}"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in part)
    return f"{request.kind}_{safe}.pdf"


def print_pdf(parent: QWidget, path: Path) -> None:
    """Print ``path``: choose the printer in the Qt dialog, then hand it to the spooler."""
    from PySide6.QtPrintSupport import QPrintDialog, QPrinter

    lp = shutil.which("lp")
    if not (lp or sys.platform == "win32"):
        if not open_in_viewer(path):
            show_saved(parent, path)
        return
    printer = QPrinter()
    dialog = QPrintDialog(printer, parent)
    if dialog.exec() != QPrintDialog.DialogCode.Accepted:
        return
    if sys.platform == "win32":
        os.startfile(str(path), "print")  # type: ignore[attr-defined]
        return
    args = ["-n", str(max(1, printer.copyCount()))]
    if printer.printerName():
        args = ["-d", printer.printerName(), *args]
    if not QProcess.startDetached(lp or "lp", [*args, str(path)]):
        QMessageBox.warning(parent, _("Print"), _("The PDF could not be sent to the printer; "
                                                  "open it and print from the viewer."))


class ReportsPage(AreaPage):
    """Choose a report, make it in the background, then open, save or print it."""

    report_ready = Signal(str)  # the path of the finished PDF
    report_failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path: Path | None = None
        self.kind = QComboBox(self)
        for kind in KINDS.values():
            self.kind.addItem(_(kind.title), kind.key)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.patient = QLineEdit(self)
        self.patient.setPlaceholderText(_("study identifier, e.g. ZJU-0007"))
        self._patients = QStringListModel(self)
        completer = QCompleter(self._patients, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.patient.setCompleter(completer)
        self.study_box = QComboBox(self)
        self.start = DateField(self, kind="any", label=_("From"))
        self.end = DateField(self, kind="any", label=_("To"))
        today = date.today()
        self.start.set_value(today.replace(day=1))
        self.end.set_value(today.replace(day=calendar.monthrange(today.year, today.month)[1]))
        self.paper = QComboBox(self)
        self.paper.addItem(_("A4"), "a4")
        self.paper.addItem(_("Letter"), "letter")
        self.identifiers = QCheckBox(_("Include names, record numbers and dates of birth"),
                                     self)
        self.make = QPushButton(_("Make PDF"), self)
        self.make.setDefault(True)
        self.make.clicked.connect(self.generate)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 0)  # busy: reportlab gives no steps
        self.progress.setMaximumWidth(240)
        self.progress.hide()
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = QPushButton(_("Open"), self)
        self.save_button = QPushButton(_("Save as…"), self)
        self.print_button = QPushButton(_("Print…"), self)
        self.open_button.clicked.connect(self.open_pdf)
        self.save_button.clicked.connect(self.save_as)
        self.print_button.clicked.connect(lambda: self.path and print_pdf(self, self.path))
        for b in (self.open_button, self.save_button, self.print_button):
            b.setEnabled(False)

        form = QFormLayout()
        form.addRow(_("Report"), self.kind)
        form.addRow(_("Patient"), self.patient)
        form.addRow(_("Study"), self.study_box)
        period = QHBoxLayout()
        period.addWidget(self.start)
        period.addWidget(QLabel("–", self))
        period.addWidget(self.end)
        period.addStretch(1)
        self._period = QWidget(self)
        self._period.setLayout(period)
        period.setContentsMargins(0, 0, 0, 0)
        form.addRow(_("Period"), self._period)
        form.addRow(_("Paper"), self.paper)
        form.addRow("", self.identifiers)
        actions = QHBoxLayout()
        actions.addWidget(self.make)
        actions.addWidget(self.progress)
        actions.addStretch(1)
        after = QHBoxLayout()
        for b in (self.open_button, self.save_button, self.print_button):
            after.addWidget(b)
        after.addStretch(1)
        title = QLabel(_("Reports"), self)
        title.setStyleSheet("QLabel { font-size: 16px; font-weight: 600; }")
        hint = QLabel(_("Reports show patients by study identifier; personal identifiers "
                        "are printed only if you tick the box."), self)
        hint.setWordWrap(True)
        hint.setStyleSheet("QLabel { color: #555; }")
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(hint)
        layout.addLayout(form)
        layout.addLayout(actions)
        layout.addWidget(self.status)
        layout.addLayout(after)
        layout.addStretch(1)
        self._kind_changed()

    # ----- AreaPage -----------------------------------------------------------------------
    def set_session(self, session: Session | None, tasks: TaskManager) -> None:
        super().set_session(session, tasks)
        self.study_box.clear()
        if session is None:
            return
        for key, study in sorted(session.studies.items()):
            self.study_box.addItem(f"{key} — {local(study.short_title or study.title)}", key)
        self._kind_changed()
        tasks.run(lambda: SettingsService(session.tracker).get("paper"), self._paper_loaded)

    def on_changes(self, changes: Changes) -> None:
        if changes.touched("setting") and self.session is not None and self.tasks is not None:
            session = self.session
            self.tasks.run(lambda: SettingsService(session.tracker).get("paper"),
                           self._paper_loaded)

    def set_study(self, study: Study | None) -> None:
        super().set_study(study)
        if study is not None:
            index = self.study_box.findData(study.key)
            if index >= 0:
                self.study_box.setCurrentIndex(index)
            self._load_patients(study.key)

    # ----- options ------------------------------------------------------------------------
    def _paper_loaded(self, paper: str) -> None:
        index = self.paper.findData(paper)
        if index >= 0:
            self.paper.setCurrentIndex(index)

    def _load_patients(self, study_key: str) -> None:
        session, tasks = self.session, self.tasks
        if session is None or tasks is None:
            return

        def fetch() -> list[str]:
            rows = PatientService(session).page(PatientFilter(study_key=study_key),
                                                limit=PATIENT_CHOICES)
            return [r.patient for r in rows]

        tasks.run(fetch, self._patients.setStringList)

    def _kind_changed(self) -> None:
        kind = KINDS[self.kind.currentData()]
        self.patient.setEnabled(kind.needs_patient)
        self.study_box.setEnabled(kind.needs_study or kind.study_optional)
        if self.study_box.count() and (self.study_box.itemData(0) is None) != \
                kind.study_optional:
            if kind.study_optional:
                self.study_box.insertItem(0, _("All studies"), None)
                self.study_box.setCurrentIndex(0)
            else:
                self.study_box.removeItem(0)
        self._period.setEnabled(kind.needs_period)
        self.identifiers.setEnabled(kind.key in ("schedule", "casebook", "screening"))

    def request(self) -> ReportRequest:
        """The report asked for by the current options."""
        kind = KINDS[self.kind.currentData()]
        return ReportRequest(
            kind=kind.key,
            patient=self.patient.text().strip() or None if kind.needs_patient else None,
            study_key=self.study_box.currentData() if (kind.needs_study
                                                       or kind.study_optional) else None,
            start=self.start.date_or_none() if kind.needs_period else None,
            end=self.end.date_or_none() if kind.needs_period else None,
            paper=self.paper.currentData(),
            include_identifiers=self.identifiers.isEnabled() and self.identifiers.isChecked())

    # ----- making the PDF -----------------------------------------------------------------
    def generate(self) -> None:
        session, tasks = self.session, self.tasks
        if session is None or tasks is None:
            return
        request = self.request()
        kind = KINDS[request.kind]
        if kind.needs_patient and not request.patient:
            self._failed(_("Enter the patient's study identifier."))
            return
        if kind.needs_period:
            for field in (self.start, self.end):
                try:
                    field.value()
                except DateInputError as exc:
                    self._failed(str(exc))
                    return
        if kind.needs_period and request.start and request.end and request.start > request.end:
            self._failed(_("The period starts after it ends."))
            return
        path = _output_dir() / file_name(request)
        today = self.today_fn()  # the window is where the clock is read
        load_report_modules()
        self.make.setEnabled(False)
        self.progress.show()
        self.status.setText(_("Making the PDF…"))
        tasks.run(lambda: make_pdf(session, request, today, path), self._done,
                  lambda exc: self._failed(error_message(exc, context="making a report")))

    def _done(self, path: Path) -> None:
        self.path = path
        self.make.setEnabled(True)
        self.progress.hide()
        self.status.setText(_("Ready: {path}").format(path=path))
        for b in (self.open_button, self.save_button, self.print_button):
            b.setEnabled(True)
        self.report_ready.emit(str(path))

    def _failed(self, message: str) -> None:
        self.make.setEnabled(True)
        self.progress.hide()
        self.status.setText(f"<span style='color:#a12'>{message}</span>")
        self.report_failed.emit(message)

    def open_pdf(self) -> None:
        if self.path is not None and not open_in_viewer(self.path):
            show_saved(self, self.path)

    def save_as(self) -> None:
        if self.path is None:
            return
        target, _filter = QFileDialog.getSaveFileName(
            self, _("Save report as"), str(Path.home() / self.path.name), _("PDF (*.pdf)"))
        if not target:
            return
        try:
            shutil.copyfile(self.path, target)
        except OSError as exc:
            QMessageBox.warning(self, _("Save as"), _("Cannot save {path}: {error}").format(
                path=target, error=exc.strerror or exc))
            return
        self.status.setText(_("Saved: {path}").format(path=target))


def print_schedule(parent: QWidget, context: WindowContext, patient_uid: str,
                   done: Callable[[Path], None] | None = None) -> None:
    """Make the patient's visit schedule in the background, then open it in the viewer.

    Where no PDF viewer opens it, the user is told where the PDF was saved and may open its
    folder: the click always has a visible result. ``done`` (tests, tools) receives the path
    instead of the viewer.
    """
    from gisttracker.store.models_patients import Patient

    session, today = context.session, context.today()
    load_report_modules()

    def work() -> tuple[Path, bool]:
        patient = Patient.get(Patient.uid == patient_uid)
        request = ReportRequest("schedule", patient=patient.study_id)
        path = make_pdf(session, request, today, _output_dir() / file_name(request))
        return path, viewer_known(path)  # asks the desktop: a subprocess, kept off the GUI

    def made(result: tuple[Path, bool]) -> None:
        path, known = result
        if done is not None:
            done(path)
        elif not open_in_viewer(path, known):
            show_saved(parent, path)

    def failed(exc: BaseException) -> None:
        QMessageBox.warning(parent, _("Print schedule"),
                            error_message(exc, context="printing a schedule"))

    context.tasks.run(work, made, failed)


def show_saved(parent: QWidget, path: Path) -> QMessageBox:
    """Say where a PDF was saved when no viewer could open it; offer to open the folder."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Information)
    box.setWindowTitle(_("PDF saved"))
    box.setText(_("No program to show PDF files could be started. The PDF was saved as:\n"
                  "{path}").format(path=path))
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    folder = box.addButton(_("Open &folder"), QMessageBox.ButtonRole.ActionRole)
    box.addButton(QMessageBox.StandardButton.Close)
    box.setObjectName("pdf_saved")

    def clicked(button: object) -> None:
        if button is folder:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent)))

    box.buttonClicked.connect(clicked)
    box.open()
    return box
