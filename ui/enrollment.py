"""The enrollment dialog: says exactly what will happen, does it, and prints the result.

Before: the sentence from :meth:`PatientService.preview_enrollment` (for a randomized study
"ZJU-0007 will be randomized in stratum site=ZJU of NCT03862768; this cannot be undone."),
plus what the allocation needs (the patient's choice within an arm, the treatment received,
the dates of preoperative imatinib). After: the arm, the randomization number, the stratum,
who and when — printable (or saved as PDF) for the patient's file.
"""

from __future__ import annotations

import random
from datetime import date
from html import escape
from pathlib import Path

from PySide6.QtCore import QMarginsF
from PySide6.QtGui import QPageLayout, QPageSize, QTextDocument
from PySide6.QtPrintSupport import QPrintDialog, QPrinter
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gisttracker.i18n import _, local
from gisttracker.services.course import procedure_label
from gisttracker.services.patients import EnrollmentPreview, EnrollmentResult, PatientService
from ui.errors import error_message
from ui.tasks import TaskManager
from ui.widgets.date_field import DateField, DateInputError


class EnrollmentDialog(QDialog):
    """Enroll one eligible patient. ServiceError from the constructor if they cannot be."""

    def __init__(self, service: PatientService, patient_uid: str, today: date,
                 parent: QWidget | None = None, rng: random.Random | None = None, *,
                 preview: EnrollmentPreview | None = None,
                 tasks: TaskManager | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.patient_uid = patient_uid
        self.today = today
        self.tasks = tasks or TaskManager(self)
        # The seed of a study's list is drawn once, from the operating system's generator.
        self.rng = rng or random.SystemRandom()
        # The window reads the preview on its worker before opening the dialog.
        self.preview = preview or service.preview_enrollment(patient_uid)
        self.study = service.study(self.preview.study_key)
        self.result_value: EnrollmentResult | None = None
        randomized = self.preview.method == "randomized"
        title = _("Randomize {patient}") if randomized else _("Enroll {patient}")
        self.setWindowTitle(title.format(patient=self.preview.patient))
        self.setMinimumWidth(520)

        self.what = QLabel(self.preview.message, self)
        self.what.setWordWrap(True)
        self.what.setStyleSheet("font-size: 14px; font-weight: 600; padding: 6px;"
                                + ("background: #fff3cd; color: #664d03;" if randomized
                                   else ""))
        self.inputs = QWidget(self)
        form = QFormLayout(self.inputs)
        form.setContentsMargins(0, 0, 0, 0)
        self.option: QComboBox | None = None
        self.procedures: dict[str, QCheckBox] = {}
        self.start: DateField | None = None
        self.last: DateField | None = None
        if randomized:
            optional = [a for a in self.study.arms if a.options]
            for arm in optional[:1]:
                self.option = QComboBox(self)
                self.option.addItem(_("not decided yet"), None)
                for option in arm.options:
                    self.option.addItem(local(option.label), option.code)
                form.addRow(_("Patient's choice if allocated to arm {arm}").format(
                    arm=arm.code), self.option)
        elif self.preview.method == "treatment_received":
            # The procedures the protocol's group rules name, in rule order.
            for code in self.study.allocation.group_procedures:
                box = QCheckBox(procedure_label(code), self)
                self.procedures[code] = box
                form.addRow("", box)
            default = self.study.arm(self.study.allocation.rules[-1].arm)
            form.addRow("", QLabel(_("None ticked: {group}.").format(group=default.name), self))
        elif self.preview.method == "derived_duration":
            span = self.study.allocation.duration
            assert span is not None  # the loader requires it for this method
            start_label = local(self.study.anchor(span.start).label)
            last_label = local(self.study.anchor(span.end).label)
            self.start = DateField(self, today=lambda: self.today, label=start_label)
            self.last = DateField(self, today=lambda: self.today, label=last_label)
            form.addRow(start_label, self.start)
            form.addRow(last_label, self.last)
        self.message = QLabel(self)
        self.message.setStyleSheet("color: #b00020;")
        self.message.setWordWrap(True)
        self.outcome = QLabel(self)
        self.outcome.setWordWrap(True)
        self.outcome.hide()

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.go = self.buttons.addButton(_("Randomize") if randomized else _("Enroll"),
                                         QDialogButtonBox.ButtonRole.ActionRole)
        self.go.clicked.connect(self.enroll)
        self.print_button = QPushButton(_("&Print…"), self)
        self.print_button.clicked.connect(self.print_result)
        self.buttons.addButton(self.print_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.print_button.hide()  # until there is a result to print
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.what)
        layout.addWidget(self.inputs)
        layout.addWidget(self.message)
        layout.addWidget(self.outcome)
        layout.addWidget(self.buttons)

    def enroll(self) -> None:
        """Do it: the one irreversible step. Shows the result (or the reason it failed)."""
        kwargs: dict[str, object] = {}
        if self.option is not None:
            kwargs["arm_option"] = self.option.currentData()
        if self.preview.method == "treatment_received":
            kwargs["procedures"] = [c for c, box in self.procedures.items() if box.isChecked()]
        if self.start is not None and self.last is not None:
            try:
                kwargs["preop_start"] = self.start.value()
                kwargs["last_preop_dose"] = self.last.value()
            except DateInputError as exc:
                self.message.setText(str(exc))
                return
        service, uid, today, rng = self.service, self.patient_uid, self.today, self.rng
        self.go.setEnabled(False)
        self.message.setText(_("Working…"))
        self.tasks.run(lambda: service.enroll(uid, today=today, rng=rng,
                                              **kwargs),  # type: ignore[arg-type]
                       self._enrolled, self._refused)

    def _refused(self, exc: BaseException) -> None:
        self.go.setEnabled(True)
        self.message.setText(error_message(exc, context="enrollment"))

    def _enrolled(self, result: EnrollmentResult) -> None:
        self.go.setEnabled(True)
        self.result_value = result
        self.message.clear()
        self.what.setStyleSheet("font-size: 14px; font-weight: 600; padding: 6px;"
                                "background: #e8f5ec; color: #1b5e20;")
        self.what.setText(self.summary_line())
        self.outcome.setText(self.result_html())
        self.outcome.show()
        self.go.hide()
        self.print_button.show()
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(_("Close"))
        self.inputs.hide()  # what was chosen is in the record below

    def summary_line(self) -> str:
        r = self.result_value
        assert r is not None
        if r.randomization_number:
            return _("{patient} randomized to arm {arm} ({name}), number {number}.").format(
                patient=r.patient, arm=r.arm_code, name=local(r.arm_name),
                number=r.randomization_number)
        return _("{patient} enrolled in {arm} ({name}).").format(
            patient=r.patient, arm=r.arm_code, name=local(r.arm_name))

    def result_html(self) -> str:
        """The record of the enrollment, as shown and as printed (no personal data)."""
        r = self.result_value
        assert r is not None
        rows = [(_("Patient"), r.patient),
                (_("Study"), f"{self.study.key} — {local(self.study.title)}"),
                (_("Arm"), f"{r.arm_code} — {local(r.arm_name)}")]
        if r.arm_option:
            option = next((local(o.label) for a in self.study.arms for o in a.options
                           if o.code == r.arm_option), r.arm_option)
            rows.append((_("Patient's choice"), option))
        if r.randomization_number:
            rows += [(_("Randomization number"), r.randomization_number),
                     (_("Stratum"), r.stratum or "—"),
                     (_("Randomized at (UTC)"), r.randomized_at or "—")]
        rows += [(_("Enrolled on"), r.enrolled_on.isoformat()), (_("Enrolled by"), r.enrolled_by)]
        body = "".join(f"<tr><td style='color:#555;padding-right:12px'>{escape(k)}</td>"
                       f"<td><b>{escape(v)}</b></td></tr>" for k, v in rows)
        title = (_("Randomization record") if r.randomization_number
                 else _("Enrollment record"))
        return f"<h3>{escape(title)}</h3><table>{body}</table>"

    def _document(self) -> QTextDocument:
        doc = QTextDocument()
        doc.setHtml(f"<div style='font-family: DejaVu Sans'>{self.result_html()}"
                    "<p style='margin-top:36px'>"
                    + escape(_("Signature: {line}  Date: {date_line}")).format(
                        line="______________", date_line="____________").replace(
                        "  ", "&nbsp;&nbsp;") + "</p></div>")
        return doc

    def print_to(self, printer: QPrinter) -> None:
        printer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4),
                                          QPageLayout.Orientation.Portrait,
                                          QMarginsF(20, 20, 20, 20),
                                          QPageLayout.Unit.Millimeter))
        self._document().print_(printer)

    def print_to_pdf(self, path: Path) -> None:
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
        printer.setOutputFileName(str(path))
        self.print_to(printer)

    def print_result(self) -> None:
        if self.result_value is None:
            return
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        dialog = QPrintDialog(printer, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.print_to(printer)
