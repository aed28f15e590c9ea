"""The patient's "Treatment & course" tab: treatment exposures with interruptions and dose
changes, surgery, pathology with the NIH-2008 risk, clinical course events, the computed
pre- and postoperative imatinib durations, the organ-preservation status (rectal study),
timing flags and the patient's endpoints.

Each section is a table of what is recorded and a small entry form; a refused entry shows
its messages beside the fields concerned (:class:`CourseInputError` maps field → message),
and nothing typed is cleared until it is saved. Database work runs on the task thread.

No lost updates (issue 13): every save of a record that is already stored sends the version
the tab showed of it (:func:`gisttracker.services.scopes.course_versions`, read with the
data; :meth:`Tracker.expect`) — a correction the version its form was filled with, a
deletion, an interruption or a dose change the version of the row selected (a deleted
exposure's interruptions too). A save over someone else's change meanwhile is refused,
saying who changed what, and the tab offers to reload (:func:`ui.conflicts.handle_save_error`);
a correction is then filled again with what is stored now.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gisttracker.domain import course as course_rules
from gisttracker.domain import treatment as tx
from gisttracker.domain.course import OrganPreservation
from gisttracker.errors import InputError
from gisttracker.i18n import N_, _, join_list, join_sentences, local, ngettext
from gisttracker.protocols.catalogue import MUTATIONS, PRIMARY_SITES
from gisttracker.protocols.model import Period
from gisttracker.services.base import Changes, StaleRecordError
from gisttracker.services.course import (
    EVENT_LABELS,
    PHASE_LABELS,
    PROCEDURE_LABELS,
    CourseInputError,
    CourseService,
    EndpointResult,
    EventInput,
    EventRow,
    ExposureInput,
    PathologyInput,
    PathologyRow,
    SurgeryInput,
    SurgeryRow,
    TreatmentSummary,
)
from gisttracker.services.course.values import CRITERION_LABELS, STOMA_LABELS, drug_label
from gisttracker.services.scopes import course_versions
from gisttracker.store.db import DatabaseLockedError
from ui.conflicts import handle_save_error
from ui.errors import error_message
from ui.patient_view import PatientTabPage
from ui.widgets.date_field import DateField, DateInputError
from ui.widgets.record_dialog import FieldError, RecordDialog
from ui.widgets.wheel import guard_wheels

ERROR_STYLE = "QLabel { color: #b00020; }"


def _table(headers: Sequence[str], parent: QWidget) -> QTableWidget:
    table = QTableWidget(0, len(headers), parent)
    table.setHorizontalHeaderLabels([_(h) for h in headers])
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    table.setMinimumHeight(110)
    table.setMaximumHeight(170)
    return table


def _fill(table: QTableWidget, rows: Sequence[tuple[str | None, Sequence[str]]]) -> None:
    """Rows of (uid, cells); the uid is kept on the first cell."""
    table.setRowCount(len(rows))
    for r, (uid, cells) in enumerate(rows):
        for c, text in enumerate(cells):
            item = QTableWidgetItem(text)
            if c == 0:
                item.setData(Qt.ItemDataRole.UserRole, uid)
            table.setItem(r, c, item)


def _selected_uid(table: QTableWidget) -> str | None:
    rows = table.selectionModel().selectedRows()
    if not rows:
        return None
    item = table.item(rows[0].row(), 0)
    return item.data(Qt.ItemDataRole.UserRole) if item is not None else None


def _d(value: date | None) -> str:
    return value.isoformat() if value else "—"


class EntryForm(QWidget):
    """A form whose every field has a red message label beside it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.layout_ = QFormLayout(self)
        self.layout_.setContentsMargins(0, 4, 0, 0)
        self.fields: dict[str, QWidget] = {}
        self.messages: dict[str, QLabel] = {}
        self.general = QLabel(self)
        self.general.setStyleSheet(ERROR_STYLE)
        self.general.setWordWrap(True)

    def add(self, name: str, label: str, widget: QWidget) -> QWidget:
        message = QLabel(self)
        message.setStyleSheet(ERROR_STYLE)
        message.setWordWrap(True)
        if isinstance(widget, DateField):
            widget.problem_changed.connect(message.setText)
        row = QHBoxLayout()
        row.addWidget(widget, 2)
        row.addWidget(message, 3)
        self.layout_.addRow(label, row)
        self.fields[name] = widget
        self.messages[name] = message
        return widget

    def finish(self, *buttons: QPushButton) -> None:
        row = QHBoxLayout()
        for button in buttons:
            row.addWidget(button)
        row.addStretch(1)
        self.layout_.addRow(row)
        self.layout_.addRow(self.general)

    def show_errors(self, errors: dict[str, str]) -> None:
        for name, label in self.messages.items():
            label.setText(errors.get(name, ""))
        rest = [m for name, m in errors.items() if name not in self.messages]
        if any(rest):
            # A refusal is red, also over the amber note of a correction under way.
            self.general.setStyleSheet(ERROR_STYLE)
        self.general.setText("\n".join(rest))

    def clear_errors(self) -> None:
        self.show_errors({})

    def date(self, name: str, *, required: bool = True) -> date | None:
        widget = self.fields[name]
        assert isinstance(widget, DateField)
        if not required and not widget.text().strip():
            return None
        try:
            return widget.value()
        except DateInputError:
            raise FieldError(name, widget.problem() or "") from None

    def number(self, name: str, *, required: bool = False) -> float | None:
        widget = self.fields[name]
        assert isinstance(widget, QLineEdit)
        text = widget.text().strip().replace(",", ".")
        if not text:
            if required:
                raise FieldError(name, _("enter a number"))
            return None
        try:
            return float(text)
        except ValueError:
            raise FieldError(name, _("{text!r} is not a number").format(text=text)) from None


def _combo(parent: QWidget, items: Sequence[tuple[str | None, str]]) -> QComboBox:
    box = QComboBox(parent)
    for value, label in items:
        box.addItem(label, value)
    return box


def _tristate(parent: QWidget) -> QComboBox:
    return _combo(parent, [(None, _("unknown")), ("no", _("no")), ("yes", _("yes"))])


def _bool_of(box: QComboBox) -> bool | None:
    value = box.currentData()
    return None if value is None else value == "yes"


@dataclass
class Section:
    """One part of the tab (exposures, surgery, pathology, events): its table, its entry
    form, and the record being corrected (None: the form adds a new one)."""

    name: str  # marked with N_, e.g. "surgery"
    table: QTableWidget
    form: EntryForm
    save: QPushButton
    add_text: str
    correct: QPushButton
    delete: QPushButton
    cancel: QPushButton
    editing: str | None = None
    # The version of the record being corrected, as its form was filled with it.
    versions: dict[str, int] = field(default_factory=dict)


@dataclass
class Loaded:
    treatment: TreatmentSummary
    surgeries: list[SurgeryRow]
    pathology: list[PathologyRow]
    events: list[EventRow]
    preservation: OrganPreservation | None
    endpoints: list[EndpointResult]
    drugs: list[str]
    primary_site: str | None
    versions: dict[str, int] = field(default_factory=dict)  # uid -> version, read first


class CourseTab(PatientTabPage):
    """Treatment, surgery, pathology, course events and endpoints of one patient."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.today_fn: Callable[[], date] = date.today  # read when needed, not frozen
        self.loaded: Loaded | None = None
        # A correction to fill again once the reload the nurse asked for arrives.
        self._refill: Section | None = None
        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.addWidget(self._treatment_box(body))
        layout.addWidget(self._surgery_box(body))
        layout.addWidget(self._pathology_box(body))
        layout.addWidget(self._events_box(body))
        layout.addWidget(self._endpoints_box(body))
        layout.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        guard_wheels(self)  # the wheel scrolls this long page, never a field under it

    def _date(self, parent: QWidget, *, optional: bool = False,
              inline: bool = False) -> DateField:
        """A date field judged as of today (read when it checks, never frozen)."""
        return DateField(parent, optional=optional, today=lambda: self.today_fn(),
                         inline_message=inline)

    # ----- sections -----------------------------------------------------------------------
    def _treatment_box(self, parent: QWidget) -> QGroupBox:
        box = QGroupBox(_("Treatment"), parent)
        self.exposures = _table((N_("Drug"), N_("Dose (mg/day)"), N_("Phase"), N_("Start"),
                                 N_("Last dose"), N_("Interruptions"), N_("Reason")), box)
        self.durations = QLabel(box)
        self.durations.setWordWrap(True)
        self.treatment_flags = QLabel(box)
        self.treatment_flags.setWordWrap(True)
        self.treatment_flags.setStyleSheet(ERROR_STYLE)
        f = self.exposure_form = EntryForm(box)
        self.drug = QComboBox(f)
        self.drug.setEditable(True)
        f.add("drug", _("Drug"), self.drug)
        self.dose = QLineEdit(f)
        self.dose.setText("400")
        f.add("dose_mg_per_day", _("Dose (mg/day)"), self.dose)
        self.phase = _combo(f, [(k, _(v)) for k, v in PHASE_LABELS.items()])
        f.add("phase", _("Phase"), self.phase)
        self.start_on = f.add("start_on", _("First dose"), self._date(f))
        self.stop_on = f.add("stop_on", _("Last dose (empty: ongoing)"),
                             self._date(f, optional=True))
        self.exposure_reason = QLineEdit(f)
        f.add("reason", _("Reason / note"), self.exposure_reason)
        add = QPushButton(_("Add exposure"), f)
        add.clicked.connect(self.add_exposure)
        pause = QPushButton(_("Interruption of selected…"), f)
        pause.clicked.connect(self._interrupt)
        dose = QPushButton(_("Dose change of selected…"), f)
        dose.clicked.connect(self._change_dose)
        self.exposure_section = self._section(N_("treatment exposure"), self.exposures, f, add,
                                              _("Add exposure"), extra=(pause, dose))
        self.interruptions = _table((N_("Drug"), N_("First day off"), N_("Last day off"),
                                     N_("Reason")), box)
        self.interruptions.setMaximumHeight(110)
        self.interruptions.setMinimumHeight(70)
        self.delete_interruption_button = QPushButton(_("Delete selected interruption…"), box)
        self.delete_interruption_button.clicked.connect(self._delete_interruption)
        v = QVBoxLayout(box)
        v.addWidget(self.exposures)
        v.addWidget(QLabel(_("Interruptions"), box))
        row = QHBoxLayout()
        row.addWidget(self.interruptions, 1)
        row.addWidget(self.delete_interruption_button, 0, Qt.AlignmentFlag.AlignTop)
        v.addLayout(row)
        v.addWidget(self.durations)
        v.addWidget(self.treatment_flags)
        v.addWidget(f)
        return box

    def _surgery_box(self, parent: QWidget) -> QGroupBox:
        box = QGroupBox(_("Surgery"), parent)
        self.surgery_table = _table((N_("Date"), N_("Procedure"), N_("Margin"), N_("Rupture"),
                                     N_("Stoma"), N_("Reversed"), N_("Complications")), box)
        f = self.surgery_form = EntryForm(box)
        self.performed_on = f.add("performed_on", _("Date"), self._date(f))
        self.procedure = _combo(f, [(None, _("choose…"))]
                                + [(k, _(v)) for k, v in PROCEDURE_LABELS.items()])
        f.add("procedure", _("Procedure"), self.procedure)
        self.margin = _combo(f, [(None, _("unknown"))] + [(m, m) for m in course_rules.MARGINS])
        f.add("margin", _("Resection margin"), self.margin)
        self.surgery_rupture = _tristate(f)
        f.add("ruptured", _("Tumour rupture"), self.surgery_rupture)
        self.stoma = _combo(f, [("none", _("none")), ("temporary", _("temporary")),
                                ("permanent", _("permanent"))])
        f.add("stoma", _("Stoma"), self.stoma)
        self.reversed_on = f.add("stoma_reversed_on", _("Stoma reversed on"),
                                 self._date(f, optional=True))
        self.complications = QLineEdit(f)
        f.add("complications", _("Complications"), self.complications)
        add = self.add_surgery_button = QPushButton(_("Add surgery"), f)
        add.clicked.connect(self.add_surgery)
        self.surgery_section = self._section(N_("surgery"), self.surgery_table, f, add,
                                             _("Add surgery"))
        v = QVBoxLayout(box)
        v.addWidget(self.surgery_table)
        v.addWidget(f)
        return box

    def _pathology_box(self, parent: QWidget) -> QGroupBox:
        box = QGroupBox(_("Pathology"), parent)
        self.pathology_table = _table((N_("Reported"), N_("Site"), N_("Size (cm)"),
                                       N_("Mitoses"), N_("Mutation"), N_("Rupture"),
                                       N_("Response grade"), N_("NIH-2008 risk")), box)
        f = self.pathology_form = EntryForm(box)
        self.reported_on = f.add("reported_on", _("Reported on"),
                                 self._date(f, optional=True))
        self.site = _combo(f, [(None, _("unknown"))] + [(s, _(s.replace("_", " ")))
                                                          for s in PRIMARY_SITES])
        f.add("primary_site", _("Primary site"), self.site)
        self.size = f.add("tumour_size_cm", _("Size (cm)"), QLineEdit(f))
        mitoses = QWidget(f)
        row = QHBoxLayout(mitoses)
        row.setContentsMargins(0, 0, 0, 0)
        self.mitoses = QLineEdit(mitoses)
        self.mitotic_unit = _combo(mitoses, [("50hpf", _("per 50 HPF")),
                                             ("5mm2", _("per 5 mm²"))])
        row.addWidget(self.mitoses)
        row.addWidget(self.mitotic_unit)
        f.add("mitotic_count", _("Mitotic count"), mitoses)
        self.mutation = _combo(f, [(None, _("unknown"))] + [(m, m) for m in MUTATIONS])
        f.add("mutation", _("Mutation"), self.mutation)
        self.pathology_rupture = _tristate(f)
        f.add("ruptured", _("Tumour rupture"), self.pathology_rupture)
        self.grade = QLineEdit(f)
        f.add("response_grade", _("Pathological response grade"), self.grade)
        self.live_risk = QLabel(f)
        f.add("risk", _("NIH-2008 risk"), self.live_risk)
        for edit in (self.size, self.mitoses):
            assert isinstance(edit, QLineEdit)
            edit.textChanged.connect(self._update_risk)
        for combo in (self.site, self.mitotic_unit, self.pathology_rupture):
            combo.currentIndexChanged.connect(self._update_risk)
        add = QPushButton(_("Add pathology"), f)
        add.clicked.connect(self.add_pathology)
        self.pathology_section = self._section(N_("pathology report"), self.pathology_table,
                                               f, add, _("Add pathology"))
        v = QVBoxLayout(box)
        v.addWidget(self.pathology_table)
        v.addWidget(f)
        return box

    def _events_box(self, parent: QWidget) -> QGroupBox:
        box = QGroupBox(_("Clinical course"), parent)
        self.events_table = _table((N_("Date"), N_("Event"), N_("Criterion"), N_("Site"),
                                    N_("Cause"), N_("Salvage")), box)
        f = self.event_form = EntryForm(box)
        self.kind = _combo(f, [(None, _("choose…"))]
                           + [(k, _(v)) for k, v in EVENT_LABELS.items()])
        f.add("kind", _("Event"), self.kind)
        self.occurred_on = f.add("occurred_on", _("Date"), self._date(f))
        self.criterion = _combo(f, [(None, "—")] + [
            (c, _(CRITERION_LABELS[c])) for c in course_rules.PROGRESSION_CRITERIA])
        f.add("criterion", _("Criterion (progression)"), self.criterion)
        self.event_site = QLineEdit(f)
        f.add("site", _("Site"), self.event_site)
        self.cause = QLineEdit(f)
        f.add("cause", _("Cause (death)"), self.cause)
        self.salvage = _combo(f, [(None, _("none"))]
                              + [(k, _(v)) for k, v in PROCEDURE_LABELS.items()])
        f.add("salvage_procedure", _("Salvage procedure"), self.salvage)
        self.salvage_margin = _combo(f, [(None, "—")]
                                     + [(m, m) for m in course_rules.MARGINS])
        f.add("salvage_margin", _("Salvage margin"), self.salvage_margin)
        add = self.add_event_button = QPushButton(_("Add event"), f)
        add.clicked.connect(self.add_event)
        self.event_section = self._section(N_("event"), self.events_table, f, add,
                                           _("Add event"))
        v = QVBoxLayout(box)
        v.addWidget(self.events_table)
        v.addWidget(f)
        return box

    def _endpoints_box(self, parent: QWidget) -> QGroupBox:
        box = QGroupBox(_("Organ preservation and endpoints"), parent)
        self.preservation = QLabel(box)
        self.preservation.setWordWrap(True)
        self.endpoint_table = _table((N_("Endpoint"), N_("From"), N_("Result"), N_("Date"),
                                      N_("Months"), N_("Note")), box)
        v = QVBoxLayout(box)
        v.addWidget(self.preservation)
        v.addWidget(self.endpoint_table)
        return box

    def _section(self, name: str, table: QTableWidget, form: EntryForm, save: QPushButton,
                 add_text: str, extra: Sequence[QPushButton] = ()) -> Section:
        correct = QPushButton(_("Correct selected…"), form)
        delete = QPushButton(_("Delete selected…"), form)
        cancel = QPushButton(_("Cancel correction"), form)
        cancel.hide()
        section = Section(name, table, form, save, add_text, correct, delete, cancel)
        correct.clicked.connect(lambda: self.start_correction(section))
        delete.clicked.connect(lambda: self.delete_selected(section))
        cancel.clicked.connect(lambda: self.end_correction(section))
        table.doubleClicked.connect(lambda _i: self.start_correction(section))
        form.finish(save, *extra, correct, delete, cancel)
        return section

    def sections(self) -> tuple[Section, ...]:
        return (self.exposure_section, self.surgery_section, self.pathology_section,
                self.event_section)

    # ----- corrections --------------------------------------------------------------------
    def start_correction(self, section: Section) -> None:
        """Load the selected record into the form; saving it then corrects it (reason asked)."""
        uid = _selected_uid(section.table)
        if uid is None or self.loaded is None:
            section.form.show_errors({"": _("select a row first")})
            return
        fill = {"treatment exposure": self._fill_exposure, "surgery": self._fill_surgery,
                "pathology report": self._fill_pathology, "event": self._fill_event}
        if not fill[section.name](uid):
            return
        section.editing = uid
        section.versions = self._versions_of(uid)
        section.save.setText(_("Save correction…"))
        section.cancel.show()
        self._show_correcting(section)

    @staticmethod
    def _show_correcting(section: Section) -> None:
        section.form.clear_errors()
        section.form.general.setStyleSheet("QLabel { color: #8a5a00; }")
        section.form.general.setText(_("Correcting the selected {what}: change what is wrong, "
                                       "then save the correction.").format(what=_(section.name)))

    def _versions_of(self, *uids: str) -> dict[str, int]:
        """The versions the tab last read of ``uids`` (what its tables show)."""
        known = self.loaded.versions if self.loaded is not None else {}
        return {uid: known[uid] for uid in uids if uid in known}

    def end_correction(self, section: Section) -> None:
        section.editing = None
        section.versions = {}
        section.save.setText(section.add_text)
        section.cancel.hide()
        section.form.general.setStyleSheet(ERROR_STYLE)
        section.form.general.clear()

    def delete_selected(self, section: Section) -> None:
        """Delete the selected record, with a reason; what depended on it is recomputed."""
        uid = _selected_uid(section.table)
        if uid is None or self.tasks is None:
            section.form.show_errors({"": _("select a row first")})
            return
        reason = self.ask_reason(_("Delete {what}").format(what=_(section.name)))
        if reason is None:
            return
        today = self.today_fn()
        call: dict[str, Callable[[CourseService], object]] = {
            "treatment exposure": lambda s: s.delete_exposure(uid, reason=reason),
            "surgery": lambda s: s.delete_surgery(uid, reason=reason),
            "pathology report": lambda s: s.delete_pathology(uid, reason=reason),
            "event": lambda s: s.delete_event(uid, reason=reason, today=today),
        }
        shown = [uid]
        if section is self.exposure_section and self.loaded is not None:
            # Its interruptions go with it: the ones shown are expected as shown.
            row = self._row(self.loaded.treatment.exposures, uid)
            shown += [i.uid for i in row.interruptions] if row is not None else []
        expected = self._versions_of(*shown)
        if section.editing == uid:
            self.end_correction(section)
        self._submit(section.form, lambda: None, lambda s, _d: call[section.name](s),
                     expected=expected)

    def _delete_interruption(self) -> None:
        uid = _selected_uid(self.interruptions)
        if uid is None:
            self.exposure_form.show_errors({"": _("select an interruption first")})
            return
        reason = self.ask_reason(_("Delete interruption"))
        if reason is None:
            return
        self._submit(self.exposure_form, lambda: None,
                     lambda s, _d: s.delete_interruption(uid, reason=reason),
                     expected=self._versions_of(uid))

    def _row(self, rows: Sequence[Any], uid: str) -> Any:
        return next((r for r in rows if r.uid == uid), None)

    def _fill_exposure(self, uid: str) -> bool:
        assert self.loaded is not None
        row = self._row(self.loaded.treatment.exposures, uid)
        if row is None:
            return False
        d = row.data
        self.drug.setCurrentText(drug_label(d.drug))
        self.dose.setText(f"{d.dose_mg_per_day:g}")
        self.phase.setCurrentIndex(max(0, self.phase.findData(d.phase)))
        self.start_on.set_value(d.start_on)  # type: ignore[attr-defined]
        self.stop_on.set_value(d.stop_on)  # type: ignore[attr-defined]
        self.exposure_reason.setText(d.reason or "")
        return True

    def _fill_surgery(self, uid: str) -> bool:
        assert self.loaded is not None
        row = self._row(self.loaded.surgeries, uid)
        if row is None:
            return False
        d = row.data
        self.performed_on.set_value(d.performed_on)  # type: ignore[attr-defined]
        self.procedure.setCurrentIndex(max(0, self.procedure.findData(d.procedure)))
        self.margin.setCurrentIndex(max(0, self.margin.findData(d.margin)))
        self.surgery_rupture.setCurrentIndex(max(0, self.surgery_rupture.findData(
            None if d.ruptured is None else "yes" if d.ruptured else "no")))
        self.stoma.setCurrentIndex(max(0, self.stoma.findData(d.stoma)))
        self.reversed_on.set_value(d.stoma_reversed_on)  # type: ignore[attr-defined]
        self.complications.setText(d.complications or "")
        return True

    def _fill_pathology(self, uid: str) -> bool:
        assert self.loaded is not None
        row = self._row(self.loaded.pathology, uid)
        if row is None:
            return False
        d = row.data
        self.reported_on.set_value(d.reported_on)  # type: ignore[attr-defined]
        self.site.setCurrentIndex(max(0, self.site.findData(d.primary_site)))
        self.size.setText("" if d.tumour_size_cm is None  # type: ignore[attr-defined]
                          else f"{d.tumour_size_cm:g}")
        self.mitoses.setText("" if d.mitotic_count is None else f"{d.mitotic_count:g}")
        self.mitotic_unit.setCurrentIndex(max(0, self.mitotic_unit.findData(d.mitotic_unit)))
        self.mutation.setCurrentIndex(max(0, self.mutation.findData(d.mutation)))
        self.pathology_rupture.setCurrentIndex(max(0, self.pathology_rupture.findData(
            None if d.ruptured is None else "yes" if d.ruptured else "no")))
        self.grade.setText(d.response_grade or "")
        return True

    def _fill_event(self, uid: str) -> bool:
        assert self.loaded is not None
        row = self._row(self.loaded.events, uid)
        if row is None:
            return False
        d = row.data
        self.kind.setCurrentIndex(max(0, self.kind.findData(d.kind)))
        self.occurred_on.set_value(d.occurred_on)  # type: ignore[attr-defined]
        self.criterion.setCurrentIndex(max(0, self.criterion.findData(d.criterion)))
        self.event_site.setText(d.site or "")
        self.cause.setText(d.cause or "")
        self.salvage.setCurrentIndex(max(0, self.salvage.findData(d.salvage_procedure)))
        self.salvage_margin.setCurrentIndex(max(0, self.salvage_margin.findData(
            d.salvage_margin)))
        return True

    def _correction_reason(self, section: Section) -> tuple[bool, str | None]:
        """(go on?, reason): a correction needs its reason; a new record does not."""
        if section.editing is None:
            return True, None
        reason = self.ask_reason(_("Correct {what}").format(what=_(section.name)))
        return reason is not None, reason

    # ----- hooks --------------------------------------------------------------------------
    def ask_text(self, title: str, label: str) -> str | None:
        text, ok = QInputDialog.getText(self, title, label)
        return text.strip() if ok and text.strip() else None

    def ask_reason(self, title: str) -> str | None:
        """The reason for a correction or a deletion; None when the user cancels."""
        return self.ask_text(title, _("Reason for the change:"))

    # ----- loading ------------------------------------------------------------------------
    def set_patient(self, session, tasks, patient_uid):  # type: ignore[no-untyped-def]
        super().set_patient(session, tasks, patient_uid)
        self.reload()

    def service(self) -> CourseService:
        assert self.session is not None
        return CourseService(self.session)

    def on_changes(self, changes: Changes) -> None:
        if changes.touched("treatment_exposure", "treatment_interruption", "surgery",
                           "pathology", "course_event", "anchor_date", "patient", "visit",
                           "tumour_assessment"):
            self.request_reload()

    def reload(self) -> None:
        if self.tasks is None or self.patient_uid is None:
            return
        service, patient, today = self.service(), self.patient_uid, self.today_fn()
        db = service.session.db

        def load() -> Loaded:
            # The versions first (see course_versions): a change between the two reads
            # makes a save refuse rather than pass unseen.
            versions = course_versions(db, patient)
            return Loaded(service.treatment(patient, today=today), service.surgeries(patient),
                          service.pathology(patient), service.events(patient),
                          service.organ_preservation(patient, today=today),
                          service.endpoints(patient, today=today), service.drugs(patient),
                          service.default_primary_site(patient), versions)

        self.tasks.run(load, self._loaded, self._failed)

    def _loaded(self, loaded: Loaded) -> None:
        if not self.alive():
            return
        first = self.loaded is None
        self.loaded = loaded
        t = loaded.treatment
        _fill(self.exposures, [(r.uid, (
            drug_label(r.data.drug), f"{r.data.dose_mg_per_day:g}",
            _(PHASE_LABELS.get(r.data.phase, r.data.phase)),
            _d(r.data.start_on), _d(r.data.stop_on) if r.data.stop_on else _("ongoing"),
            join_sentences(f"{_d(i.start_on)} – {_d(i.end_on)} ({i.reason or ''})"
                           for i in r.interruptions), r.data.reason or "")) for r in t.exposures])
        _fill(self.interruptions, [(i.uid, (
            drug_label(r.data.drug), _d(i.start_on), _d(i.end_on) if i.end_on else _("still off"),
            i.reason or "")) for r in t.exposures for i in r.interruptions])
        self.durations.setText(self._duration_text(t))
        self.treatment_flags.setText("\n".join(f"• {flag}" for flag in t.flags))
        if first:
            self.drug.clear()
            # Shown in the reader's language, recorded as the drug's own (English) name.
            for drug in loaded.drugs:
                self.drug.addItem(drug_label(drug), drug)
            site = self.site.findData(loaded.primary_site)
            if site >= 0:
                self.site.setCurrentIndex(site)
        _fill(self.surgery_table, [(s.uid, (
            _d(s.data.performed_on), _(PROCEDURE_LABELS.get(s.data.procedure, s.data.procedure)),
            s.data.margin or "—", self._yes_no(s.data.ruptured),
            _(STOMA_LABELS.get(s.data.stoma, s.data.stoma)),
            _d(s.data.stoma_reversed_on) if s.data.stoma_reversed_on else "",
            s.data.complications or "")) for s in loaded.surgeries])
        _fill(self.pathology_table, [(p.uid, (
            _d(p.data.reported_on), _((p.data.primary_site or "—").replace("_", " ")),
            "—" if p.data.tumour_size_cm is None else f"{p.data.tumour_size_cm:g}",
            "—" if p.data.mitotic_count is None else "{n:g} {unit}".format(
                n=p.data.mitotic_count,
                unit=_("/50 HPF") if p.data.mitotic_unit == "50hpf" else _("/5 mm²")),
            p.data.mutation or "—", self._yes_no(p.data.ruptured), p.data.response_grade or "",
            _(p.risk) if p.risk else _("unknown: {missing}").format(
                missing=join_list(p.risk_missing)))) for p in loaded.pathology])
        _fill(self.events_table, [(e.uid, (
            _d(e.data.occurred_on), _(EVENT_LABELS.get(e.data.kind, e.data.kind)),
            e.data.criterion or "", e.data.site or "", e.data.cause or "",
            " ".join(x for x in (e.data.salvage_procedure, e.data.salvage_margin) if x)))
            for e in loaded.events])
        op = loaded.preservation
        if op is None:
            self.preservation.setText("")
            self.preservation.setVisible(False)
        else:
            self.preservation.setVisible(True)
            status = (_("not known yet") if op.preserved is None
                      else _("organ preserved") if op.preserved else _("not preserved"))
            colour = ("#8a6d00" if op.preserved is None
                      else "#1b7f3a" if op.preserved else "#b00020")
            self.preservation.setText(
                _("<b>Organ preservation at 18 months</b> (until {horizon}): "
                  "<span style='color:{colour}'>{status}</span> — {reason}").format(
                    horizon=op.horizon.isoformat(), colour=colour, status=status,
                    reason=op.reason))
        _fill(self.endpoint_table, [(None, (
            local(e.name), _d(e.start), self._endpoint_value(e), _d(e.on),
            "" if e.months is None else f"{e.months:.1f}", e.note)) for e in loaded.endpoints])
        refill, self._refill = self._refill, None
        if refill is not None and refill.editing is not None:
            self._fill_again(refill)

    def _fill_again(self, section: Section) -> None:
        """After the reload the nurse chose: the correction shows what is stored now (and
        its versions), or ends when someone deleted the record."""
        fill = {"treatment exposure": self._fill_exposure, "surgery": self._fill_surgery,
                "pathology report": self._fill_pathology, "event": self._fill_event}
        uid = section.editing
        assert uid is not None
        if fill[section.name](uid):
            section.versions = self._versions_of(uid)
            self._show_correcting(section)
            return
        self.end_correction(section)
        section.form.show_errors({"": _("The {what} was deleted by someone else.").format(
            what=_(section.name))})

    def discard_and_reload(self, section: Section | None = None) -> None:
        """Show what is stored now (the nurse chose to reload after a refused save); a
        correction under way is filled again with the stored values."""
        if section is not None:
            section.form.clear_errors()
            if section.editing is not None:
                self._refill = section
        self.request_reload()

    @staticmethod
    def _yes_no(value: bool | None) -> str:
        return "—" if value is None else _("yes") if value else _("no")

    @staticmethod
    def _endpoint_value(e: EndpointResult) -> str:
        if e.kind == "time_to_event":
            if e.event is None:
                return _("unknown")
            return _("event") if e.event else _("censored")
        return e.value or _("unknown")

    @staticmethod
    def _duration_text(t: TreatmentSummary) -> str:
        def text(d: tx.PhaseDuration | None) -> str:
            if d is None:
                return "—"
            return ngettext("{duration} ({first} – {last}), {on} day on drug",
                            "{duration} ({first} – {last}), {on} days on drug",
                            d.days_on_drug).format(
                duration=Period(d.calendar_months, 0, d.extra_days).describe(),
                first=d.first_start.isoformat(), last=d.last_stop.isoformat(),
                on=d.days_on_drug)

        parts = [_("<b>Preoperative imatinib</b>: {pre}").format(pre=text(t.preoperative)),
                 _("<b>Postoperative imatinib</b>: {post}").format(post=text(t.postoperative))]
        if t.group:
            parts.append(_("<b>Duration group</b>: {group}").format(group=t.group))
        if t.surgery_date is None:
            parts.append(_("(no surgery recorded: durations are counted from it)"))
        return "<br>".join(parts)

    # ----- saving -------------------------------------------------------------------------
    def _submit(self, form: EntryForm, build: Callable[[], Any],
                call: Callable[[CourseService, Any], Any],
                section: Section | None = None, *,
                expected: dict[str, int] | None = None) -> None:
        """Read the form (errors beside fields), then run the save on the task thread; a
        correction that went through ends the form's correction mode.

        The save is refused if a record it changes is no longer at the version shown:
        ``expected`` (uid -> version), by default the correction's own."""
        if self.tasks is None:
            return
        try:
            data = build()
        except FieldError as exc:
            form.show_errors({exc.field: str(exc)})
            return
        service = self.service()
        if expected is None:
            expected = dict(section.versions) if section is not None else {}

        def done(_result: object) -> None:
            if not self.alive():
                return
            form.clear_errors()
            if section is not None and section.editing is not None:
                self.end_correction(section)
            self.request_reload()

        def failed(exc: BaseException) -> None:
            if not self.alive():
                return
            if isinstance(exc, CourseInputError):
                form.show_errors(exc.errors)
            elif isinstance(exc, StaleRecordError | DatabaseLockedError):
                # Someone changed the record since the tab showed it (or held the database
                # too long): nothing was written. Say who changed what, beside the form;
                # offer to reload (or to try again).
                form.show_errors({"": str(exc)})
                handle_save_error(
                    self, exc, reload=lambda: self.discard_and_reload(section),
                    retry=lambda: self._submit(form, build, call, section, expected=expected))
            else:
                form.show_errors({"": error_message(exc, context="treatment & course tab")})

        self.tasks.run(self._as_shown(expected, lambda: call(service, data)), done, failed)

    def _as_shown(self, expected: dict[str, int],
                  write: Callable[[], Any]) -> Callable[[], Any]:
        """``write`` on the worker, refused (:class:`StaleRecordError`) if a record in
        ``expected`` is no longer at the version the tab showed."""
        tracker = self.service().tracker
        expected = dict(expected)

        def work() -> Any:
            with tracker.expect(expected):
                return write()

        return work

    def add_exposure(self) -> None:
        f = self.exposure_form

        def build() -> ExposureInput:
            dose = f.number("dose_mg_per_day", required=True) or 0.0
            start = f.date("start_on")
            assert start is not None
            return ExposureInput(self._drug_typed(), dose, self.phase.currentData(),
                                 start, f.date("stop_on", required=False),
                                 self.exposure_reason.text())

        section = self.exposure_section
        go, reason = self._correction_reason(section)
        if not go:
            return
        patient, today, uid = self.patient_uid or "", self.today_fn(), section.editing
        self._submit(f, build, lambda s, d: s.add_exposure(patient, d, today=today)
                     if uid is None else s.update_exposure(uid, d, today=today,
                                                           reason=reason or ""),
                     section)

    def interruption_dialog(self) -> RecordDialog:
        """Days off drug for the selected exposure (first and last day, reason)."""
        dialog = RecordDialog(_("Interruption"), self, reason="required",
                              reason_label=_("&Reason"))
        dialog.add("start_on", _("&First day off drug"), self._date(dialog))
        dialog.add("end_on", _("&Last day off drug (empty: still off)"),
                   self._date(dialog, optional=True))
        dialog.read = lambda d: (d.date("start_on"), d.date("end_on"))
        return dialog

    def dose_change_dialog(self) -> RecordDialog:
        """A new daily dose of the selected exposure from a date, with the reason."""
        dialog = RecordDialog(_("Dose change"), self, reason="required",
                              reason_label=_("&Reason"))
        dialog.add("on", _("New dose &from"), self._date(dialog))
        dialog.add("dose", _("New &dose (mg/day)"), QLineEdit(dialog))
        dialog.read = lambda d: (d.date("on"), d.number("dose", required=True))
        return dialog

    def _drug_typed(self) -> str:
        """The drug as it is recorded: a listed drug by its own name, else what was typed."""
        text = self.drug.currentText().strip()
        index = self.drug.findText(text)
        return str(self.drug.itemData(index)) if index >= 0 and self.drug.itemData(index) \
            else text

    def _interrupt(self) -> None:
        uid = _selected_uid(self.exposures)
        if uid is None:
            self.exposure_form.show_errors({"": _("select an exposure first")})
            return
        dialog = self.interruption_dialog()
        today = self.today_fn()
        expected = self._versions_of(uid)  # the exposure as selected

        def submit(value: tuple[date, date | None]) -> None:
            reason = dialog.reason_text()  # read here: widgets are never touched on the worker
            self._save_in(dialog, lambda s: s.add_interruption(
                uid, value[0], value[1], reason=reason, today=today), expected)

        dialog.submit = submit
        dialog.open()

    def _change_dose(self) -> None:
        uid = _selected_uid(self.exposures)
        if uid is None:
            self.exposure_form.show_errors({"": _("select an exposure first")})
            return
        dialog = self.dose_change_dialog()
        today = self.today_fn()
        expected = self._versions_of(uid)  # the exposure as selected

        def submit(value: tuple[date, float]) -> None:
            reason = dialog.reason_text()  # read here: widgets are never touched on the worker
            self._save_in(dialog, lambda s: s.change_dose(
                uid, value[0], value[1], today=today, reason=reason), expected)

        dialog.submit = submit
        dialog.open()

    def _save_in(self, dialog: RecordDialog, call: Callable[[CourseService], Any],
                 expected: dict[str, int]) -> None:
        """Save on the worker; the dialog closes when it went through, else shows why. A
        record in ``expected`` changed since it was shown refuses the save."""
        if self.tasks is None:
            return
        service = self.service()

        def done(_result: object) -> None:
            dialog.done_ok()
            self.request_reload()

        def failed(exc: BaseException) -> None:
            if isinstance(exc, CourseInputError):
                errors = dict(exc.errors)
                if "start_on" in errors and "on" in dialog.fields:
                    errors["on"] = errors.pop("start_on")
                if "dose_mg_per_day" in errors:
                    errors["dose"] = errors.pop("dose_mg_per_day")
                dialog.show_errors(errors)
            elif isinstance(exc, StaleRecordError | DatabaseLockedError):
                # The exposure changed since it was selected: the dialog says who changed
                # what; reloading closes it and shows the exposure as stored now.
                dialog.show_errors({"": str(exc)})

                def reload() -> None:
                    dialog.reject()
                    self.discard_and_reload()

                handle_save_error(dialog, exc, reload=reload,
                                  retry=lambda: self._save_in(dialog, call, expected))
            else:
                dialog.show_errors({"": error_message(exc, context="course tab")})

        self.tasks.run(self._as_shown(expected, lambda: call(service)), done, failed)

    def add_surgery(self) -> None:
        f = self.surgery_form

        def build() -> SurgeryInput:
            on = f.date("performed_on")
            assert on is not None
            if self.procedure.currentData() is None:
                raise FieldError("procedure", _("choose the procedure"))
            return SurgeryInput(on, self.procedure.currentData(), self.margin.currentData(),
                                _bool_of(self.surgery_rupture), self.stoma.currentData(),
                                f.date("stoma_reversed_on", required=False),
                                self.complications.text())

        section = self.surgery_section
        go, reason = self._correction_reason(section)
        if not go:
            return
        patient, today, uid = self.patient_uid or "", self.today_fn(), section.editing
        self._submit(f, build, lambda s, d: s.record_surgery(patient, d, today=today, uid=uid,
                                                             reason=reason), section)

    def _pathology_input(self) -> PathologyInput:
        f = self.pathology_form
        return PathologyInput(f.date("reported_on", required=False), self.site.currentData(),
                              f.number("tumour_size_cm"), self._mitoses(),
                              self.mitotic_unit.currentData(),
                              self.mutation.currentData(), _bool_of(self.pathology_rupture),
                              self.grade.text())

    def _mitoses(self) -> float | None:
        text = self.mitoses.text().strip().replace(",", ".")
        if not text:
            return None
        try:
            return float(text)
        except ValueError:
            raise FieldError("mitotic_count", _("{text!r} is not a number").format(
                text=text)) from None

    def _update_risk(self) -> None:
        from gisttracker.services.course import risk_of

        try:
            data = self._pathology_input()
            risk, missing = risk_of(data)
        except (FieldError, InputError):
            self.live_risk.setText("—")
            return
        self.live_risk.setText(_(risk) if risk else _("needs {missing}").format(
            missing=join_list(missing)))

    def add_pathology(self) -> None:
        section = self.pathology_section
        go, reason = self._correction_reason(section)
        if not go:
            return
        patient, today, uid = self.patient_uid or "", self.today_fn(), section.editing
        self._submit(self.pathology_form, self._pathology_input,
                     lambda s, d: s.record_pathology(patient, d, today=today, uid=uid,
                                                     reason=reason), section)

    def add_event(self) -> None:
        f = self.event_form

        def build() -> EventInput:
            on = f.date("occurred_on")
            assert on is not None
            if self.kind.currentData() is None:
                raise FieldError("kind", _("choose the kind of event"))
            return EventInput(self.kind.currentData(), on, self.criterion.currentData(),
                              self.event_site.text(), self.cause.text(),
                              self.salvage.currentData(), self.salvage_margin.currentData())

        section = self.event_section
        go, reason = self._correction_reason(section)
        if not go:
            return
        patient, today, uid = self.patient_uid or "", self.today_fn(), section.editing
        self._submit(f, build, lambda s, d: s.record_event(patient, d, today=today, uid=uid,
                                                           reason=reason), section)

    def _failed(self, exc: BaseException) -> None:
        if not self.alive():
            return
        self.event_form.show_errors({"": error_message(exc, context="treatment & course tab")})
