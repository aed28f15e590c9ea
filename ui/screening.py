"""The "Screening & enrollment" tab of the patient window.

Left: the screening form, laid out for the keyboard (tab order top to bottom; numbers typed,
enumerations in combo boxes that accept typed letters, dates as yyyy-MM-dd). A message
appears beside any value that cannot be right and Save stays disabled until it is fixed.
Right: every criterion of the patient's study with its state and reason, recomputed as the
user types; criteria that need a person's judgement have a check box (grey = not judged
yet), and who ticked them and when is shown once saved.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from gisttracker.domain import eligibility
from gisttracker.errors import InputError
from gisttracker.grading.units import LABS
from gisttracker.i18n import N_, _, join_list, join_sentences, local, ngettext
from gisttracker.protocols import Study
from gisttracker.protocols.catalogue import MUTATIONS, PRIMARY_SITES, SCREENING_FIELDS
from gisttracker.services.base import Changes, StaleRecordError
from gisttracker.services.patients import (
    BOOL_COLUMNS,
    ENROLLED_STATUSES,
    LAB_ANALYTES,
    STATUS_LABELS,
    EnrollmentPreview,
    LabEntry,
    PatientService,
    ScreeningData,
    evaluate_screening,
    validate_screening,
)
from gisttracker.services.policy import Permission
from gisttracker.services.scopes import screening_versions
from gisttracker.session import Session
from gisttracker.store.db import DatabaseLockedError
from ui.conflicts import handle_save_error
from ui.errors import is_expected, show_error
from ui.patient_view import PatientTabPage
from ui.tasks import TaskManager
from ui.widgets.date_field import DateField
from ui.widgets.record_dialog import FieldError, RecordDialog
from ui.widgets.wheel import guard_wheels

STATE_STYLE = {
    eligibility.MET: ("✔", "#1b7f3b"),
    eligibility.NOT_MET: ("✘", "#b00020"),
    eligibility.UNKNOWN: ("?", "#8a6d00"),
}
EXCLUDES_STYLE = {True: "#fde7e9", False: "#e8f5ec", None: "#fff8e1"}
SITE_LABELS = {"stomach": N_("stomach"), "duodenum": N_("duodenum"),
               "small_intestine": N_("small intestine"), "colon": N_("colon"),
               "rectum": N_("rectum"), "oesophagus": N_("oesophagus"),
               "other": N_("other / extra-GI")}
MUTATION_LABELS = {"KIT_9": "KIT exon 9", "KIT_11": "KIT exon 11", "KIT_13": "KIT exon 13",
                   "KIT_17": "KIT exon 17", "PDGFRA_12": "PDGFRA exon 12",
                   "PDGFRA_14": "PDGFRA exon 14", "PDGFRA_18": "PDGFRA exon 18 (not D842V)",
                   "PDGFRA_18_D842V": "PDGFRA D842V", "WILD_TYPE": N_("wild type"),
                   "NOT_TESTED": N_("not tested")}
BOOL_LABELS = {
    "histology_confirmed": N_("Histologically confirmed GIST"),
    "cd117_positive": N_("CD117 positive"), "dog1_positive": N_("DOG-1 positive"),
    "ruptured": N_("Tumour rupture"), "distant_metastases": N_("Distant metastases"),
    "liver_metastases": N_("Liver metastases"), "prior_imatinib": N_("Imatinib before"),
    "prior_tki": N_("Any TKI before"), "other_malignancy_5y": N_("Other malignancy (5 y)"),
    "pregnant_or_lactating": N_("Pregnant or lactating"), "hiv_positive": N_("HIV positive"),
}
NUMBER_FIELDS = [
    ("ecog", N_("ECOG (0–5)"), int), ("asa", N_("ASA class (1–6)"), int),
    ("tumour_size_cm", N_("Max. diameter (cm)"), float),
    ("mitotic_count", N_("Mitotic count"), float),
    ("progressive_lesions", N_("Progressive lesions"), int),
    ("progressive_organs", N_("Organs with progression"), int),
]


def _number(text: str, kind: type) -> tuple[Any, str | None]:
    """The typed value (None when empty) and a message when it is not a number."""
    text = text.strip().replace(",", ".")
    if not text:
        return None, None
    try:
        value = float(text)
    except ValueError:
        return None, _("not a number")
    if kind is int:
        if not value.is_integer():
            return None, _("a whole number")
        return int(value), None
    return value, None


class ScreeningTab(PatientTabPage):
    """Screen the patient against their study's criteria, close or re-screen, enroll."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service: PatientService | None = None
        self.study: Study | None = None
        self.sex: str | None = None
        self.dob: date | None = None
        self.status = "screened"
        self.screening_open = False
        self.busy = False
        self.enrollment_dialog: QWidget | None = None
        self.dialog: QWidget | None = None
        self.dirty = False
        self._loading = False
        # What the form was filled with, by version (uid -> version): a save sends these, so
        # it is refused if someone changed the screening since. They move on only when the
        # form is filled again (or with this form's own save), never while it holds typing.
        self.versions: dict[str, int] = {}
        self.problems: dict[str, str] = {}
        self.result: eligibility.Screening | None = None
        self.messages: dict[str, QLabel] = {}
        self.judgement_boxes: dict[str, QCheckBox] = {}
        self.judged: dict[str, tuple[bool, str, str]] = {}
        self.failure_reasons: list[str] = []  # why a closed screening failed, as recorded
        self._build()

    # ----- layout --------------------------------------------------------------------------
    def _message(self, key: str) -> QLabel:
        label = QLabel(self)
        label.setStyleSheet("color: #b00020;")
        label.setWordWrap(True)
        self.messages[key] = label
        return label

    def _row(self, form: QFormLayout, text: str, widget: QWidget, key: str) -> None:
        box = QHBoxLayout()
        box.addWidget(widget)
        box.addWidget(self._message(key), 1)
        label = QLabel(text, self)
        label.setBuddy(widget)
        form.addRow(label, box)

    def _build(self) -> None:
        self.title = QLabel(self)
        self.title.setStyleSheet("font-weight: 600;")
        self.outcome = QLabel(self)
        self.outcome.setStyleSheet("font-weight: 600; padding: 4px;")

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        self.screened_on = DateField(self, today=lambda: self.today_fn(), inline_message=False,
                                     label=_("Screening date"))
        self._row(form, _("Screening &date"), self.screened_on, "screened_on")
        self.age_label = QLabel(self)
        form.addRow(_("Age at screening"), self.age_label)
        self.numbers: dict[str, tuple[QLineEdit, type]] = {}
        for key, label, kind in NUMBER_FIELDS:
            edit = QLineEdit(self)
            edit.setMaximumWidth(90)
            edit.setAccessibleName(_(label))
            self.numbers[key] = (edit, kind)
            if key == "mitotic_count":
                row = QHBoxLayout()
                self.mitotic_unit = QComboBox(self)
                self.mitotic_unit.addItem(_("per 5 mm²"), "5mm2")
                self.mitotic_unit.addItem(_("per 50 HPF"), "50hpf")
                row.addWidget(edit)
                row.addWidget(self.mitotic_unit)
                row.addWidget(self._message(key), 1)
                caption = QLabel(_(label), self)
                caption.setBuddy(edit)
                form.addRow(caption, row)
            else:
                self._row(form, _(label), edit, key)
        self.primary_site = QComboBox(self)
        self.primary_site.addItem("—", None)
        for site in PRIMARY_SITES:
            self.primary_site.addItem(_(SITE_LABELS[site]), site)
        self._row(form, _("Primary s&ite"), self.primary_site, "primary_site")
        self.mutation = QComboBox(self)
        self.mutation.addItem("—", None)
        for mutation in MUTATIONS:
            self.mutation.addItem(_(MUTATION_LABELS[mutation]), mutation)
        self._row(form, _("&Mutation"), self.mutation, "mutation")
        self.bools: dict[str, QComboBox] = {}
        for key in BOOL_COLUMNS:
            box = QComboBox(self)
            box.addItem("—", None)
            box.addItem(_("yes"), True)
            box.addItem(_("no"), False)
            self.bools[key] = box
            self._row(form, _(BOOL_LABELS[key]), box, key)
        self.metastasis_sites = QLineEdit(self)
        self._row(form, _("Metastasis sites"), self.metastasis_sites, "metastasis_sites")
        self.consent_date = DateField(self, optional=True, today=lambda: self.today_fn(),
                                      inline_message=False, label=_("Consent date"))
        self._row(form, _("&Consent signed on"), self.consent_date, "consent_date")

        labs = QGroupBox(_("Laboratory values (site reference range)"), self)
        grid = QGridLayout(labs)
        for column, text in enumerate((_("Analyte"), _("Value"), _("Unit"), _("LLN"),
                                       _("ULN"))):
            grid.addWidget(QLabel(f"<b>{text}</b>", labs), 0, column)
        self.labs: dict[str, tuple[QLineEdit, QComboBox, QLineEdit, QLineEdit]] = {}
        for row, (key, analyte) in enumerate(LAB_ANALYTES.items(), start=1):
            lab = LABS[analyte]
            value, low, high = QLineEdit(labs), QLineEdit(labs), QLineEdit(labs)
            unit = QComboBox(labs)
            for u in lab.units:
                unit.addItem(u, u)
            for edit in (value, low, high):
                edit.setMaximumWidth(80)
            value.setAccessibleName(_(SCREENING_FIELDS[key].label))
            self.labs[key] = (value, unit, low, high)
            grid.addWidget(QLabel(_(SCREENING_FIELDS[key].label), labs), row, 0)
            grid.addWidget(value, row, 1)
            grid.addWidget(unit, row, 2)
            grid.addWidget(low, row, 3)
            grid.addWidget(high, row, 4)
            grid.addWidget(self._message(key), row, 5)
        grid.setColumnStretch(5, 1)

        form_widget = QWidget(self)
        outer = QVBoxLayout(form_widget)
        outer.addLayout(form)
        outer.addWidget(labs)
        outer.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(form_widget)

        self.criteria = QTableWidget(0, 4, self)
        self.criteria.setHorizontalHeaderLabels([_("Criterion"), _("State"), _("Reason"),
                                                 _("Judgement")])
        self.criteria.verticalHeader().setVisible(False)
        self.criteria.setWordWrap(True)
        header = self.criteria.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.criteria.setColumnWidth(0, 230)
        self.criteria.setColumnWidth(1, 80)
        self.criteria.setColumnWidth(3, 110)

        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.outcome)
        right_layout.addWidget(self.criteria, 1)

        splitter = QSplitter(self)
        splitter.addWidget(scroll)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)

        self.save_button = QPushButton(_("&Save screening"), self)
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(lambda: self.save_screening())
        QShortcut(QKeySequence.StandardKey.Save, self, lambda: self.save_screening())
        self.fail_button = QPushButton(_("Screen &failure…"), self)
        self.fail_button.clicked.connect(self.screen_failure)
        self.rescreen_button = QPushButton(_("&Re-screen"), self)
        self.rescreen_button.clicked.connect(self.rescreen)
        self.enroll_button = QPushButton(_("&Enroll…"), self)
        self.enroll_button.clicked.connect(self.enroll)
        self.status_line = QLabel(self)
        self.status_line.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status_line, 1)
        for button in (self.save_button, self.fail_button, self.rescreen_button,
                       self.enroll_button):
            button.setEnabled(False)  # until the patient is loaded
            buttons.addWidget(button)

        # Once enrolled: what the enrollment recorded, and its corrections.
        self.enrollment_line = QLabel(self)
        self.enrollment_line.setWordWrap(True)
        self.correct_button = QPushButton(_("C&orrect screening…"), self)
        self.correct_button.setToolTip(_("Correct the screening data of an enrolled patient; "
                                         "each change needs a reason"))
        self.correct_button.clicked.connect(self.start_correction)
        self.choice_button = QPushButton(_("Treatment c&hoice…"), self)
        self.choice_button.setToolTip(_("Record the patient's choice within the arm "
                                        "(e.g. imatinib 600 mg or sunitinib 37.5 mg)"))
        self.choice_button.clicked.connect(self.record_choice)
        self.enrolled_on_button = QPushButton(_("E&nrollment date…"), self)
        self.enrolled_on_button.clicked.connect(self.correct_enrollment_date)
        self.notice = QLabel(self)
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet("QLabel { color: #8a5a00; font-weight: 600; }")
        self.notice.hide()
        enrollment = QHBoxLayout()
        enrollment.addWidget(self.enrollment_line, 1)
        for button in (self.choice_button, self.enrolled_on_button, self.correct_button):
            button.hide()
            enrollment.addWidget(button)
        self.patient: Any = None
        self.correcting = False

        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(enrollment)
        layout.addWidget(self.notice)
        layout.addWidget(splitter, 1)
        layout.addLayout(buttons)

        guard_wheels(self)  # the wheel scrolls this long form, never a field under it
        for edit, _kind in self.numbers.values():
            edit.textChanged.connect(self._changed)
        for box in (self.primary_site, self.mutation, self.mitotic_unit, *self.bools.values()):
            box.currentIndexChanged.connect(self._changed)
        for edit_date in (self.screened_on, self.consent_date):
            edit_date.edited.connect(self._changed)
            edit_date.problem_changed.connect(self._changed)
        self.metastasis_sites.textChanged.connect(self._changed)
        for value, unit, low, high in self.labs.values():
            for edit in (value, low, high):
                edit.textChanged.connect(self._changed)
            unit.currentIndexChanged.connect(self._changed)

    # ----- loading -------------------------------------------------------------------------
    def set_patient(self, session: Session, tasks: TaskManager, patient_uid: str) -> None:
        super().set_patient(session, tasks, patient_uid)
        self.service = PatientService(session)
        self.reload()

    def reload_after_write(self) -> None:
        """Reload after a write: the buttons wait for what the database now holds."""
        self.busy = True
        self._update_buttons()
        self.reload()

    def reload(self) -> None:
        """Read the patient and their screening on the worker, then show them."""
        if self.service is None or self.tasks is None or self.patient_uid is None:
            return
        service, patient_uid = self.service, self.patient_uid
        session = service.session

        def load() -> dict[str, Any]:
            # The versions first: a change landing between the two reads then makes the next
            # save refuse (the versions are older than what is shown) instead of passing over
            # a change the form never showed.
            versions = screening_versions(session.db, patient_uid)
            patient = service.get(patient_uid)
            ident = service.identity(patient_uid)
            screening = service.latest_screening(patient_uid)
            return {
                "patient": patient, "dob": ident.date_of_birth if ident else None,
                "screening": screening,
                "data": service.screening_data(screening) if screening else ScreeningData(),
                "judged": service.judgement_records(screening) if screening else {},
                "failure_reasons": _failure_reasons(screening,
                                                    session.studies.get(patient.study_key))
                if screening is not None and patient.status == "screen_failed" else [],
                # What this form shows, by version: a save refuses if someone changed it since.
                "versions": versions,
            }

        tasks = self.tasks
        tasks.run(load, self._loaded, self._load_failed)

    def on_changes(self, changes: Changes) -> None:
        if changes.touched("patient", "patient_identity", "screening", "lab_result",
                           "screening_judgement"):
            self.reload()

    def _load_failed(self, exc: BaseException) -> None:
        if not isValid(self):
            return
        self.busy = False
        self.status_line.setText(_("The screening could not be read."))
        show_error(self, exc, context="screening tab")

    def _loaded(self, loaded: dict[str, Any]) -> None:
        if not isValid(self) or self.session is None:
            return  # the window was closed while the screening was being read
        self.busy = False
        patient = loaded["patient"]
        self.study = self.session.studies.get(patient.study_key)
        self.sex, self.dob, self.status = patient.sex, loaded["dob"], patient.status
        self.judged = loaded["judged"]
        self.failure_reasons = loaded["failure_reasons"]
        screening = loaded["screening"]
        self.screening_open = screening is not None and not screening.closed
        self.patient = patient
        self._show_enrollment()
        self.title.setText(_("{patient} · {study} · {status}").format(
            patient=patient.study_id, study=patient.study_key,
            status=_(STATUS_LABELS.get(patient.status, patient.status))))
        for field in (self.screened_on, self.consent_date):
            field.set_bounds(birth=self.dob)
        if self.dirty and (self.status == "screened" or self.correcting):
            # Typed and not saved yet: a change made elsewhere must not wipe it out, nor move
            # on the versions the form was filled with (issue 13): the typing is based on
            # those, so its save is refused, naming who changed what, and the nurse reloads.
            self._changed()
            return
        self.versions = loaded["versions"]
        self._build_criteria()
        self._loading = True
        try:
            self.fill(loaded["data"], screening.screened_on if screening else self.today_fn())
        finally:
            self._loading = False
        self.dirty = False
        self._changed()
        self.dirty = False
        self._update_buttons()

    def _build_criteria(self) -> None:
        self.criteria.setRowCount(0)
        self.judgement_boxes.clear()
        if self.study is None:
            return
        self.criteria.setRowCount(len(self.study.criteria))
        for row, criterion in enumerate(self.study.criteria):
            kind = _("Inclusion") if criterion.kind == "inclusion" else _("Exclusion")
            item = QTableWidgetItem(
                f"{criterion.id} · {local(criterion.short or criterion.text)}")
            item.setToolTip(_("{kind}: {criterion}").format(kind=kind,
                                                             criterion=local(criterion.text)))
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.criteria.setItem(row, 0, item)
            for column in (1, 2):
                cell = QTableWidgetItem("")
                cell.setFlags(Qt.ItemFlag.ItemIsEnabled)
                self.criteria.setItem(row, column, cell)
            if criterion.rule is None:
                box = QCheckBox(_("not judged"), self.criteria)
                box.setTristate(True)
                box.setCheckState(Qt.CheckState.PartiallyChecked)
                box.setToolTip(_("Exclusion: tick when the condition is present")
                               if criterion.kind == "exclusion"
                               else _("Inclusion: tick when the criterion is met"))
                box.checkStateChanged.connect(self._changed)
                self.judgement_boxes[criterion.id] = box
                self.criteria.setCellWidget(row, 3, box)

    def fill(self, data: ScreeningData, screened_on: date) -> None:
        """Put stored values into the widgets."""
        v = data.values
        self.screened_on.set_value(screened_on)
        for key, (edit, _kind) in self.numbers.items():
            value = v.get(key)
            edit.setText("" if value is None else (f"{value:g}" if isinstance(value, float)
                                                   else str(value)))
        for box, key in ((self.primary_site, "primary_site"), (self.mutation, "mutation"),
                         (self.mitotic_unit, "mitotic_unit")):
            box.setCurrentIndex(max(0, box.findData(v.get(key))))
        for key, box in self.bools.items():
            value = v.get(key)
            box.setCurrentIndex(0 if value is None else (1 if value else 2))
        self.metastasis_sites.setText(v.get("metastasis_sites") or "")
        self.consent_date.set_value(v.get("consent_date"))
        for key, (value_edit, unit, low, high) in self.labs.items():
            lab = data.labs.get(key)
            value_edit.setText(f"{lab.value:g}" if lab else "")
            if lab:
                unit.setCurrentIndex(max(0, unit.findData(lab.unit)))
            low.setText(f"{lab.lln:g}" if lab and lab.lln is not None else "")
            high.setText(f"{lab.uln:g}" if lab and lab.uln is not None else "")
        for cid, box in self.judgement_boxes.items():
            tick = data.judgements.get(cid)
            box.setCheckState(Qt.CheckState.PartiallyChecked if tick is None
                              else Qt.CheckState.Checked if tick else Qt.CheckState.Unchecked)

    # ----- reading the form and evaluating live --------------------------------------------
    def collect(self) -> tuple[ScreeningData, dict[str, str]]:
        """The form as ScreeningData, and messages for what cannot be read."""
        problems: dict[str, str] = {}
        values: dict[str, Any] = {}
        for key, (edit, kind) in self.numbers.items():
            value, problem = _number(edit.text(), kind)
            if problem:
                problems[key] = problem
            values[key] = value
        values["mitotic_unit"] = (self.mitotic_unit.currentData()
                                  if values.get("mitotic_count") is not None else None)
        values["primary_site"] = self.primary_site.currentData()
        values["mutation"] = self.mutation.currentData()
        for key, box in self.bools.items():
            values[key] = box.currentData()
        values["metastasis_sites"] = self.metastasis_sites.text().strip() or None
        for key, field in (("screened_on", self.screened_on),
                           ("consent_date", self.consent_date)):
            if field.problem():
                # While a date is being typed it is not wrong yet, only unfinished: Save
                # waits, and the message appears once the field says it.
                problems[key] = field.shown_problem()
        values["consent_date"] = (None if "consent_date" in problems
                                  else self.consent_date.date_or_none())
        labs: dict[str, LabEntry] = {}
        for key, (value_edit, unit, low, high) in self.labs.items():
            value, problem = _number(value_edit.text(), float)
            lln, p2 = _number(low.text(), float)
            uln, p3 = _number(high.text(), float)
            if problem or p2 or p3:
                problems[key] = problem or p2 or p3 or ""
                continue
            if value is not None:
                labs[key] = LabEntry(value, unit.currentData(), lln, uln)
            elif lln is not None or uln is not None:
                pass  # a reference range alone is kept only with a value
        ticks: dict[str, bool | None] = {}
        for cid, box in self.judgement_boxes.items():
            state = box.checkState()
            ticks[cid] = (None if state == Qt.CheckState.PartiallyChecked
                          else state == Qt.CheckState.Checked)
        return ScreeningData(values, labs, ticks), problems

    def _changed(self, *_args: object) -> None:
        if self._loading or self.study is None:
            return
        self.dirty = True
        data, problems = self.collect()
        screened_on = self.screened_on.date_or_none() or self.today_fn()
        problems.update(validate_screening(data, date_of_birth=self.dob,
                                           screened_on=screened_on, today=self.today_fn()))
        if self.dob is not None and screened_on >= self.dob:
            self.age_label.setText(str(eligibility.age_on(self.dob, screened_on)))
        else:
            self.age_label.setText("—")
        # The panel keeps working while a value is wrong: that value counts as not entered.
        usable = ScreeningData(
            {k: (None if k in problems else v) for k, v in data.values.items()},
            {k: lab for k, lab in data.labs.items() if k not in problems}, data.judgements)
        try:
            self.result = evaluate_screening(self.study, usable, sex=self.sex,
                                             date_of_birth=self.dob, screened_on=screened_on)
        except InputError as exc:
            key = exc.field or "screened_on"
            problems.setdefault(key if key in self.messages else "screened_on", str(exc))
            self.result = None
        self.problems = problems
        for key, label in self.messages.items():
            label.setText(problems.get(key, ""))
        for box in self.judgement_boxes.values():
            state = box.checkState()
            box.setText(_("not judged") if state == Qt.CheckState.PartiallyChecked
                        else _("yes") if state == Qt.CheckState.Checked else _("no"))
        self._show_result()
        self._update_buttons()

    def _show_result(self) -> None:
        if self.result is None or self.study is None:
            self.outcome.setText(_("Fix the values marked in red to see the criteria."))
            return
        for row, r in enumerate(self.result.results):
            # The mark says whether the result is good for the patient's eligibility: an
            # exclusion criterion that is "not met" is a green tick, not a red cross.
            verdict = {True: eligibility.NOT_MET, False: eligibility.MET,
                       None: eligibility.UNKNOWN}[r.excludes]
            symbol, colour = STATE_STYLE[verdict]
            state = self.criteria.item(row, 1)
            state.setText(f"{symbol} {_(eligibility.STATE_LABELS[r.state])}")
            state.setForeground(QBrush(QColor(colour)))
            reason = r.reason
            judged = self.judged.get(r.criterion.id)
            if judged is not None and r.criterion.rule is None:
                reason += " " + _("(by {user}, {at})").format(user=judged[1], at=judged[2])
            self.criteria.item(row, 2).setText(reason)
            self.criteria.item(row, 2).setToolTip(reason)
            background = QBrush(QColor(EXCLUDES_STYLE[r.excludes]))
            for column in (0, 1, 2):
                self.criteria.item(row, column).setBackground(background)
        outcome = self.result.outcome
        colour = {"eligible": "#1b7f3b", "ineligible": "#b00020"}.get(outcome, "#8a6d00")
        text = _(eligibility.OUTCOME_LABELS[outcome])
        if outcome == eligibility.INCOMPLETE:
            n = len(self.result.unknown)
            text += " — " + ngettext("{n} criterion not yet known", "{n} criteria not yet known",
                                     n).format(n=n)
        elif outcome == eligibility.INELIGIBLE:
            text += " — " + join_list(r.criterion.id for r in self.result.failures)
        self.outcome.setText(text)
        self.outcome.setStyleSheet(f"font-weight: 600; padding: 4px; color: {colour};")

    def _update_buttons(self) -> None:
        tracker = self.session.tracker if self.session is not None else None
        # Only a role that enters data may change a screening (the service refuses anyway);
        # only one that randomizes may enroll.
        may_enter = tracker is None or tracker.can(Permission.ENTER_DATA)
        may_randomize = tracker is None or tracker.can(Permission.RANDOMIZE)
        enrolled = self.status in ENROLLED_STATUSES
        # The form is editable while screening, and for a correction once enrolled.
        open_screening = may_enter and (self.status == "screened"
                                        or (enrolled and self.correcting))
        idle = not self.busy
        self.save_button.setText(_("&Save correction…") if self.correcting
                                 else _("&Save screening"))
        self.save_button.setEnabled(idle and open_screening and self.dirty and not self.problems)
        self.correct_button.setText(_("Cancel correction") if self.correcting
                                    else _("C&orrect screening…"))
        # A screen failure is always possible while screening (consent declined…).
        self.fail_button.setEnabled(idle and may_enter and self.status == "screened"
                                    and not self.dirty)
        self.rescreen_button.setEnabled(idle and may_enter and self.status == "screen_failed")
        self.enroll_button.setEnabled(
            idle and may_enter and may_randomize and self.status == "screened"
            and not self.dirty and self.result is not None
            and self.result.outcome == eligibility.ELIGIBLE)
        for button in (self.correct_button, self.enrolled_on_button):
            button.setVisible(enrolled)
            button.setEnabled(idle and may_enter)
        self.choice_button.setVisible(enrolled and self._arm_options() != [])
        self.choice_button.setEnabled(idle and may_enter)
        for widget in (*[e for e, _k in self.numbers.values()], self.primary_site,
                       self.mutation, self.mitotic_unit, *self.bools.values(),
                       self.metastasis_sites, self.consent_date, self.screened_on,
                       *self.judgement_boxes.values(),
                       *[w for row in self.labs.values() for w in row]):
            widget.setEnabled(open_screening)
        if self.problems:
            self.status_line.setText(_("Fix the values marked in red before saving."))
        elif self.dirty:
            self.status_line.setText(_("Unsaved changes."))
        elif self.correcting:
            self.status_line.setText(_("Correcting the screening: change what is wrong, then "
                                       "save the correction with its reason."))
        elif not open_screening and self.status == "screen_failed" and self.failure_reasons:
            self.status_line.setText(_("This screening is closed: screen failure ({reasons}).")
                                     .format(reasons=join_sentences(self.failure_reasons)))
        elif not open_screening:
            self.status_line.setText(_("This screening is closed ({status}).").format(
                status=_(STATUS_LABELS.get(self.status, self.status))))
        else:
            self.status_line.setText("")

    # ----- actions -------------------------------------------------------------------------
    def discard_and_reload(self) -> None:
        """Show what is stored now, dropping what was typed (the user chose to reload)."""
        self.dirty = False
        self.correcting = False
        self.reload()

    def _as_shown(self, write: Callable[[], object]) -> Callable[[], object]:
        """``write`` refused (:class:`StaleRecordError`) if someone changed this screening
        since it was shown: the versions it was shown with are checked on the worker. Its
        answer is ``(result, versions)``, the versions held after it (this save's own
        changes counted as seen; :meth:`_own_save` takes them)."""
        expected = dict(self.versions)
        assert self.service is not None and self.patient_uid is not None
        tracker, patient_uid = self.service.tracker, self.patient_uid

        def work() -> object:
            with tracker.expect(expected):
                result = write()
                after = dict(tracker.expected_versions())
            # The rows this save added (a first lab value, a judgement) count as seen too,
            # or the next save would be refused as if someone else had added them.
            for uid, version in screening_versions(tracker.db, patient_uid).items():
                after.setdefault(uid, version)
            return result, after

        return work

    def _own_save(self, answer: object) -> object:
        """The result of a save run through :meth:`_as_shown`; the form now holds the
        versions its own save left (so typing on before the reload answers, then saving,
        is not refused over the nurse's own save)."""
        result, versions = answer  # type: ignore[misc]
        self.versions.update(versions)
        return result

    def _run(self, work: Callable[[], object], done: Callable[[object], None],
             what: str) -> None:
        """Run a write on the worker; a refusal is shown on the status line, a bug reported."""
        if self.tasks is None:
            return
        self.busy = True
        self._update_buttons()

        def finished(result: object) -> None:
            self.busy = False
            if isValid(self):
                done(result)
                self._update_buttons()

        def failed(exc: BaseException) -> None:
            self.busy = False
            if not isValid(self):
                return
            self._update_buttons()
            if isinstance(exc, (StaleRecordError, DatabaseLockedError)):
                # Someone saved this screening since it was loaded, or held the file too
                # long: say who changed what, and offer to reload (or to try again).
                self.status_line.setText(str(exc).splitlines()[0])
                handle_save_error(self, exc, reload=self.discard_and_reload,
                                  retry=self.save_screening)
            elif is_expected(exc):
                self.status_line.setText(str(exc))
            else:
                self.status_line.setText("")
                show_error(self, exc, context=what)

        self.tasks.run(work, finished, failed)

    def save_screening(self, then: Callable[[], object] | None = None) -> bool:
        """Save the form on the worker (``then`` runs once it is saved); False when there is
        nothing that may be saved now."""
        if self.service is None or self.patient_uid is None or not self.save_button.isEnabled():
            return False
        data, _problems = self.collect()
        service, uid, today = self.service, self.patient_uid, self.today_fn()
        screened_on = self.screened_on.date_or_none()
        if self.correcting:
            reason = self.ask_reason(_("Correct the screening"))
            if reason is None:
                return False

            def corrected(answer: object) -> None:
                result = self._own_save(answer)
                self.dirty = False
                self.correcting = False
                outcome = getattr(result, "outcome", None)
                if outcome != eligibility.ELIGIBLE:
                    failing = join_list(r.criterion.id for r in (
                        getattr(result, "failures", ()) or getattr(result, "unknown", ())))
                    self.notice.setText(_(
                        "Saved. On the corrected screening the patient is {outcome} ({criteria})"
                        ": the enrollment stands; report this as a protocol deviation.").format(
                        outcome=_(eligibility.OUTCOME_LABELS.get(outcome or "", outcome or "")),
                        criteria=failing or "—"))
                    self.notice.show()
                else:
                    self.notice.hide()
                self.reload_after_write()
                if then is not None:
                    then()

            self._run(self._as_shown(lambda: service.correct_screening(
                uid, data, today=today, reason=reason, screened_on=screened_on)),
                      corrected, "correcting a screening")
            return True

        def saved(answer: object) -> None:
            self._own_save(answer)
            self.dirty = False
            self.reload_after_write()
            if then is not None:
                then()

        self._run(self._as_shown(lambda: service.save_screening(
            uid, data, today=today, screened_on=screened_on)), saved, "saving a screening")
        return True

    def ask_reason(self, title: str) -> str | None:
        """The reason for a correction; None when the user cancels."""
        text, ok = QInputDialog.getText(self, title, _("Reason for the change:"))
        return text.strip() if ok and text.strip() else None

    def start_correction(self) -> None:
        """Make the enrolled patient's screening editable (or cancel the correction)."""
        if self.correcting:
            self.correcting = False
            self.dirty = False
            self.reload()
            return
        self.correcting = True
        self._update_buttons()

    def _arm_options(self) -> list[tuple[str, str]]:
        if self.study is None or self.patient is None or not self.patient.arm_code:
            return []
        try:
            arm = self.study.arm(self.patient.arm_code)
        except KeyError:
            return []
        return [(o.code, local(o.label)) for o in arm.options]

    def _show_enrollment(self) -> None:
        p = self.patient
        if p is None or p.status not in ENROLLED_STATUSES:
            self.enrollment_line.clear()
            return
        options = dict(self._arm_options())
        parts = [_("Enrolled on {date} in arm {arm}").format(
            date=p.enrolled_on.isoformat() if p.enrolled_on else "—", arm=p.arm_code or "—")]
        if p.randomization_number:
            parts.append(_("randomization {number}").format(number=p.randomization_number))
        if options:
            parts.append(_("patient's choice: {choice}").format(
                choice=options.get(p.arm_option or "", _("not recorded yet"))))
        self.enrollment_line.setText(" · ".join(parts))

    def record_choice(self) -> None:
        """The patient's choice within the arm (NCT03862768 arm B: imatinib 600 mg or
        sunitinib 37.5 mg), recorded after randomization; changing it needs a reason."""
        options = self._arm_options()
        if not options or self.service is None or self.patient_uid is None:
            return
        current = self.patient.arm_option
        dialog = RecordDialog(_("Treatment choice"), self,
                              reason="required" if current else "optional", prompt=_(
            "The patient's choice within arm {arm}.").format(arm=self.patient.arm_code))
        box = QComboBox(dialog)
        for code, label in options:
            box.addItem(label, code)
        box.setCurrentIndex(max(0, box.findData(current)))
        dialog.add("option", _("&Choice"), box)
        dialog.read = lambda d: (box.currentData(), d.reason_text() or None)
        service, uid = self.service, self.patient_uid
        self._submit_dialog(dialog, lambda value: service.record_arm_option(
            uid, value[0], reason=value[1]), "recording a treatment choice")

    def correct_enrollment_date(self) -> None:
        if self.service is None or self.patient_uid is None or self.patient is None:
            return
        dialog = RecordDialog(_("Correct the enrollment date"), self, reason="required",
                              prompt=_("Visits counted from the enrollment move with it; "
                                       "visits already done keep their dates."))
        field = DateField(dialog, today=lambda: self.today_fn(), inline_message=False)
        field.set_value(self.patient.enrolled_on)
        dialog.add("on", _("&Enrolled on"), field)
        dialog.read = lambda d: (d.date("on"), d.reason_text())
        service, uid, today = self.service, self.patient_uid, self.today_fn()
        self._submit_dialog(dialog, lambda value: service.correct_enrollment_date(
            uid, value[0], today=today, reason=value[1]), "correcting an enrollment")

    def _submit_dialog(self, dialog: RecordDialog, work: Callable[[Any], object],
                       what: str) -> None:
        """Open ``dialog``; on OK run ``work(value)`` on the worker and close it when done.

        ``value`` is what ``dialog.read`` took from the widgets on the GUI thread: ``work``
        never touches a widget (Qt widgets belong to the GUI thread only)."""

        def submit(value: object) -> None:
            def failed(exc: BaseException) -> None:
                if is_expected(exc):
                    dialog.show_errors({"": str(exc)})
                else:
                    dialog.show_errors({"": ""})
                    show_error(self, exc, context=what)

            assert self.tasks is not None
            self.tasks.run(lambda: work(value),
                           lambda _r: (dialog.done_ok(), self.reload_after_write()), failed)

        dialog.submit = submit
        self.dialog = dialog
        dialog.open()

    def screen_failure_dialog(self) -> ScreenFailureDialog:
        """Why the screening failed: the criteria not met (ticked), others, or typed."""
        failing = {r.criterion.id for r in self.result.failures} if self.result else set()
        assert self.study is not None
        return ScreenFailureDialog(self.study, failing, self)

    def screen_failure(self) -> None:
        """Record a screen failure, always possible while screening (consent declined…)."""
        if self.service is None or self.patient_uid is None or self.study is None:
            return
        dialog = self.screen_failure_dialog()
        service, uid, today = self.service, self.patient_uid, self.today_fn()

        def submit(value: tuple[list[str], str]) -> None:
            criteria, reason = value

            def done(_result: object) -> None:
                dialog.done_ok()
                self.dirty = False
                self.reload_after_write()

            def failed(exc: BaseException) -> None:
                if is_expected(exc):
                    dialog.show_errors({"": str(exc)})
                else:
                    dialog.show_errors({"": ""})
                    show_error(self, exc, context="screen failure")

            assert self.tasks is not None
            self.tasks.run(lambda: service.close_screen_failure(
                uid, reason=reason or None, criteria=criteria, today=today), done, failed)

        dialog.submit = submit
        dialog.open()

    def rescreen(self) -> None:
        if self.service is None or self.patient_uid is None:
            return
        service, uid, today = self.service, self.patient_uid, self.today_fn()
        self._run(lambda: service.rescreen(uid, today=today), lambda _r: self.reload_after_write(),
                  "re-screening")

    def enroll(self) -> None:
        """Read what enrollment will do (on the worker), then open the enrollment dialog."""
        if self.service is None or self.patient_uid is None or self.tasks is None:
            return
        service, uid = self.service, self.patient_uid

        def opened(preview: object) -> None:
            from ui.enrollment import EnrollmentDialog

            assert isinstance(preview, EnrollmentPreview) and self.tasks is not None
            dialog = EnrollmentDialog(service, uid, self.today_fn(), self, preview=preview,
                                      tasks=self.tasks)
            self.enrollment_dialog = dialog
            dialog.finished.connect(lambda _code: self.reload())
            dialog.open()

        self._run(lambda: service.preview_enrollment(uid), opened, "enrollment")

    def ask_unsaved(self) -> QMessageBox.StandardButton:
        """Save, Discard or Cancel for closing with unsaved changes (tests answer it)."""
        return QMessageBox.question(
            self, _("Unsaved screening"), _("Save the screening before closing?"),
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel)

    def maybe_close(self) -> bool:
        if not self.dirty or self.property("headless"):
            return True
        answer = self.ask_unsaved()
        if answer == QMessageBox.StandardButton.Save:
            window = self.window()
            # Saved on the worker; the window closes once the screening is stored.
            self.save_screening(then=window.close)
            return False
        if answer == QMessageBox.StandardButton.Discard:
            self.dirty = False
            return True
        return False


def _failure_reasons(screening: Any, study: Study | None) -> list[str]:
    """The reasons a closed screening records (criterion id and reason, or the typed
    reason), in the language shown now whatever language they were recorded in; read on
    the worker with the screening."""
    import json

    try:
        recorded = json.loads(screening.reasons or "[]")
    except ValueError:
        return []
    return [eligibility.reason_line(r, study) for r in recorded if isinstance(r, dict)]


class ScreenFailureDialog(RecordDialog):
    """The reasons of a screen failure: criteria of the study (those not met are ticked)
    and/or a reason typed (consent declined, withdrew before enrollment…)."""

    def __init__(self, study: Study, failing: set[str], parent: QWidget | None = None) -> None:
        super().__init__(_("Screen failure"), parent, prompt=_(
            "Why did the screening fail? Tick the criteria it failed on, or type the reason "
            "(for example: consent declined). The screening log keeps these reasons."))
        self.boxes: dict[str, QCheckBox] = {}
        host = QWidget(self)
        column = QVBoxLayout(host)
        column.setContentsMargins(0, 0, 0, 0)
        for criterion in study.criteria:
            box = QCheckBox(f"{criterion.id} · {local(criterion.short or criterion.text)}", host)
            box.setToolTip(local(criterion.text))
            box.setChecked(criterion.id in failing)
            self.boxes[criterion.id] = box
            column.addWidget(box)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(host)
        scroll.setMinimumHeight(220)
        self.add("criteria", _("Criteria"), scroll, wide=True)
        self.reason_edit = QLineEdit(self)
        self.reason_edit.setPlaceholderText(_("e.g. consent declined"))
        self.add("typed", _("Other &reason"), self.reason_edit, wide=True)
        self.read = ScreenFailureDialog._read
        self.resize(620, 480)

    @staticmethod
    def _read(dialog: RecordDialog) -> tuple[list[str], str]:
        assert isinstance(dialog, ScreenFailureDialog)
        chosen = [cid for cid, box in dialog.boxes.items() if box.isChecked()]
        typed = dialog.reason_edit.text().strip()
        if not chosen and not typed:
            raise FieldError("typed", _("tick a criterion or type the reason"))
        return chosen, typed
