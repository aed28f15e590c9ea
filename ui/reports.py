"""The Reports area: pick a report and its options, make the PDF off the GUI thread, then
open it in the system viewer, save a copy or print it.

Printing: PySide6-Essentials has no QtPdf, so Qt cannot rasterize a PDF itself. "Print…"
shows the Qt print dialog (printer and copies) and hands the PDF to the system's print
spooler (``lp`` on Linux and macOS, which prints PDF natively; the shell's "print" verb on
Windows). Where neither exists, it opens the PDF in the system viewer to print from there.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

from PySide6.QtCore import QDate, QProcess, QStringListModel, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QDateEdit,
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
from gisttracker.services.patients import PatientFilter, PatientService
from gisttracker.services.settings import SettingsService
from gisttracker.session import Session
from ui.areas import AreaPage
from ui.errors import error_message
from ui.tasks import TaskManager

PATIENT_CHOICES = 2000  # study identifiers offered by the completer (prefix search)


def _output_dir() -> Path:
    user = os.getuid() if hasattr(os, "getuid") else "user"
    folder = Path(tempfile.gettempdir()) / f"gisttracker-reports-{user}"
    make_private_dir(folder)
    restrict(folder)  # in a shared /tmp: never readable by others, even if made so
    return folder


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
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))
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
        self.start = QDateEdit(self)
        self.end = QDateEdit(self)
        for edit in (self.start, self.end):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
        today = QDate.currentDate()
        self.start.setDate(QDate(today.year(), today.month(), 1))
        self.end.setDate(QDate(today.year(), today.month(), today.daysInMonth()))
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
            start=self.start.date().toPython() if kind.needs_period else None,
            end=self.end.date().toPython() if kind.needs_period else None,
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
        if kind.needs_period and request.start and request.end and request.start > request.end:
            self._failed(_("The period starts after it ends."))
            return
        path = _output_dir() / file_name(request)
        today = date.today()  # the window is where the clock is read
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
        if self.path is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.path)))

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


def print_schedule(parent: QWidget, session: Session, tasks: TaskManager,
                   patient_uid: str, done: object = None) -> None:
    """Make the patient's visit schedule in the background and open it in the viewer."""
    from gisttracker.store.models_patients import Patient

    def work() -> Path:
        patient = Patient.get(Patient.uid == patient_uid)
        request = ReportRequest("schedule", patient=patient.study_id)
        return make_pdf(session, request, date.today(), _output_dir() / file_name(request))

    def opened(path: Path) -> None:
        if callable(done):
            done(path)
        else:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))

    tasks.run(work, opened, lambda exc: QMessageBox.warning(
        parent, _("Print schedule"), error_message(exc, context="printing a schedule")))
