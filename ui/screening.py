"""The "Screening & enrollment" tab of the patient window.

Left: the screening form, laid out for the keyboard (tab order top to bottom; numbers typed,
enumerations in combo boxes that accept typed letters, dates as yyyy-MM-dd). A message
appears beside any value that cannot be right and Save stays disabled until it is fixed.
Right: every criterion of the patient's study with its state and reason, recomputed as the
user types; criteria that need a person's judgement have a check box (grey = not judged
yet), and who ticked them and when is shown once saved.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from PySide6.QtCore import QDate, Qt
from PySide6.QtGui import QBrush, QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
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
from gisttracker.errors import InputError, UserError
from gisttracker.grading.units import LABS
from gisttracker.i18n import N_, _, join_list, local, ngettext
from gisttracker.protocols import Study
from gisttracker.protocols.catalogue import MUTATIONS, PRIMARY_SITES, SCREENING_FIELDS
from gisttracker.services.base import StaleRecordError
from gisttracker.services.patients import (
    BOOL_COLUMNS,
    LAB_ANALYTES,
    STATUS_LABELS,
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
from ui.patient_view import PatientTabPage
from ui.tasks import TaskManager

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
NO_DATE = QDate(1900, 1, 1)


def _to_date(value: QDate) -> date | None:
    if value == NO_DATE:
        return None
    return date(value.year(), value.month(), value.day())


def _qdate(value: date | None) -> QDate:
    return NO_DATE if value is None else QDate(value.year, value.month, value.day)


def _date_edit(parent: QWidget) -> QDateEdit:
    edit = QDateEdit(parent)
    edit.setDisplayFormat("yyyy-MM-dd")
    edit.setCalendarPopup(True)
    edit.setMinimumDate(NO_DATE)
    edit.setSpecialValueText("—")
    edit.setDate(NO_DATE)
    return edit


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
        self.today = date.today
        self.dirty = False
        self._loading = False
        self.problems: dict[str, str] = {}
        self.result: eligibility.Screening | None = None
        self.messages: dict[str, QLabel] = {}
        self.judgement_boxes: dict[str, QCheckBox] = {}
        self.judged: dict[str, tuple[bool, str, str]] = {}
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
        self.screened_on = _date_edit(self)
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
        self._row(form, _("Primary &site"), self.primary_site, "primary_site")
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
        self.consent_date = _date_edit(self)
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
        self.save_button.clicked.connect(self.save_screening)
        QShortcut(QKeySequence.StandardKey.Save, self, self.save_screening)
        self.fail_button = QPushButton(_("Screen &failure…"), self)
        self.fail_button.clicked.connect(self.screen_failure)
        self.rescreen_button = QPushButton(_("&Re-screen"), self)
        self.rescreen_button.clicked.connect(self.rescreen)
        self.enroll_button = QPushButton(_("&Enroll…"), self)
        self.enroll_button.clicked.connect(self.enroll)
        self.status_line = QLabel(self)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status_line, 1)
        for button in (self.save_button, self.fail_button, self.rescreen_button,
                       self.enroll_button):
            button.setEnabled(False)  # until the patient is loaded
            buttons.addWidget(button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(splitter, 1)
        layout.addLayout(buttons)

        for edit, _kind in self.numbers.values():
            edit.textChanged.connect(self._changed)
        for box in (self.primary_site, self.mutation, self.mitotic_unit, *self.bools.values()):
            box.currentIndexChanged.connect(self._changed)
        for edit_date in (self.screened_on, self.consent_date):
            edit_date.dateChanged.connect(self._changed)
        self.metastasis_sites.textChanged.connect(self._changed)
        for value, unit, low, high in self.labs.values():
            for edit in (value, low, high):
                edit.textChanged.connect(self._changed)
            unit.currentIndexChanged.connect(self._changed)

    # ----- loading -------------------------------------------------------------------------
    def set_patient(self, session: Session, tasks: TaskManager, patient_uid: str) -> None:
        super().set_patient(session, tasks, patient_uid)
        self.service = PatientService(session)
        service = self.service

        def load() -> dict[str, Any]:
            patient = service.get(patient_uid)
            ident = service.identity(patient_uid)
            screening = service.latest_screening(patient_uid)
            return {
                "patient": patient, "dob": ident.date_of_birth if ident else None,
                "screening": screening,
                "data": service.screening_data(screening) if screening else ScreeningData(),
                "judged": service.judgement_records(screening) if screening else {},
                # What this form shows, by version: a save refuses if someone changed it since.
                "versions": screening_versions(session.db, patient_uid),
            }

        tasks.run(load, self._loaded, self._load_failed)

    def _load_failed(self, exc: BaseException) -> None:
        self.status_line.setText(_("The screening could not be read: {error}").format(
            error=exc))

    def _loaded(self, loaded: dict[str, Any]) -> None:
        if not isValid(self) or self.session is None:
            return  # the window was closed while the screening was being read
        patient = loaded["patient"]
        self.study = self.session.studies.get(patient.study_key)
        self.sex, self.dob, self.status = patient.sex, loaded["dob"], patient.status
        self.judged = loaded["judged"]
        self.versions: dict[str, int] = loaded["versions"]
        screening = loaded["screening"]
        self.title.setText(_("{patient} · {study} · {status}").format(
            patient=patient.study_id, study=patient.study_key,
            status=_(STATUS_LABELS.get(patient.status, patient.status))))
        self._build_criteria()
        self._loading = True
        try:
            self.fill(loaded["data"], screening.screened_on if screening else self.today())
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
        self.screened_on.setDate(_qdate(screened_on))
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
        self.consent_date.setDate(_qdate(v.get("consent_date")))
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
        values["consent_date"] = _to_date(self.consent_date.date())
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
        screened_on = _to_date(self.screened_on.date()) or self.today()
        problems.update(validate_screening(data, date_of_birth=self.dob,
                                           screened_on=screened_on, today=self.today()))
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
        # Only a role that enters data may change a screening; the service refuses anyway.
        open_screening = self.status == "screened" and (
            tracker is None or tracker.can(Permission.ENTER_DATA))
        self.save_button.setEnabled(open_screening and self.dirty and not self.problems)
        self.fail_button.setEnabled(open_screening and not self.dirty)
        self.rescreen_button.setEnabled(self.status == "screen_failed")
        self.enroll_button.setEnabled(
            open_screening and not self.dirty and self.result is not None
            and (tracker is None or tracker.can(Permission.RANDOMIZE))
            and self.result.outcome == eligibility.ELIGIBLE)
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
        elif not open_screening:
            self.status_line.setText(_("This screening is closed ({status}).").format(
                status=_(STATUS_LABELS.get(self.status, self.status))))
        else:
            self.status_line.setText("")

    # ----- actions -------------------------------------------------------------------------
    def save_screening(self) -> bool:
        if self.service is None or self.patient_uid is None or not self.save_button.isEnabled():
            return False
        data, _problems = self.collect()
        expected = getattr(self, "versions", {})
        try:
            with self.service.tracker.expect(expected):
                self.service.save_screening(self.patient_uid, data, today=self.today(),
                                            screened_on=_to_date(self.screened_on.date()))
        except (StaleRecordError, DatabaseLockedError) as exc:
            # Someone saved this screening since it was loaded, or held the file too long:
            # say who changed what, and offer to reload (or to try again).
            self.status_line.setText(str(exc).splitlines()[0])
            handle_save_error(self, exc, reload=self.reload, retry=self.save_screening)
            return False
        except UserError as exc:
            self.status_line.setText(str(exc))
            return False
        self.reload()
        return True

    def reload(self) -> None:
        if self.session is not None and self.tasks is not None and self.patient_uid:
            self.set_patient(self.session, self.tasks, self.patient_uid)
            header = self.window()
            if hasattr(header, "header") and self.service is not None:
                text = self.service.header(self.patient_uid)
                header.header.setText(text)
                header.setWindowTitle(text)

    def screen_failure(self, reason: str | None = None) -> None:
        if self.service is None or self.patient_uid is None:
            return
        if reason is None and (self.result is None
                               or self.result.outcome != eligibility.INELIGIBLE):
            text, ok = QInputDialog.getText(self, _("Screen failure"),
                                            _("Why did the screening fail?"))
            if not ok:
                return
            reason = text
        try:
            self.service.close_screen_failure(self.patient_uid, reason=reason or None)
        except UserError as exc:
            self.status_line.setText(str(exc))
            return
        self.reload()

    def rescreen(self) -> None:
        if self.service is None or self.patient_uid is None:
            return
        try:
            self.service.rescreen(self.patient_uid, today=self.today())
        except UserError as exc:
            self.status_line.setText(str(exc))
            return
        self.reload()

    def enroll(self) -> None:
        if self.service is None or self.patient_uid is None:
            return
        from ui.enrollment import EnrollmentDialog

        try:
            dialog = EnrollmentDialog(self.service, self.patient_uid, self.today(), self)
        except UserError as exc:
            self.status_line.setText(str(exc))
            return
        dialog.exec()
        if dialog.result_value is not None:
            self.reload()

    def maybe_close(self) -> bool:
        if not self.dirty or self.property("headless"):
            return True
        answer = QMessageBox.question(
            self, _("Unsaved screening"), _("Save the screening before closing?"),
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Save:
            return self.save_screening()
        return answer == QMessageBox.StandardButton.Discard
