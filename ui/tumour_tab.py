"""The patient's "Tumour assessments" tab: assessments by date and an editor for one.

The editor lists the lesions (label, organ, lymph node, diameter in mm — short axis for a
node —, density in HU, too small to measure); at a follow-up it is pre-filled with the
baseline target labels. While typing, the sum of diameters, its change from the baseline
and from the nadir, the RECIST 1.1 target / non-target / overall response, the Choi response
and the patient's best overall response are recomputed with the core rules
(:func:`gisttracker.services.tumour.evaluate`, pure and fast, so on the GUI thread). RECIST
1.1 problems of a baseline target selection are shown beside the lesion table; saving such
a selection asks for confirmation.

No lost updates (issue 13): the editor keeps the versions of the assessment and lesions it
was filled with (:func:`gisttracker.services.scopes.tumour_versions`, read with the data),
and a correction or a deletion sends them (:meth:`Tracker.expect`). A save over someone
else's change meanwhile is refused, saying who changed what, and the tab offers to reload
(:func:`ui.conflicts.handle_save_error`); what was typed stays on screen until the nurse
chooses to reload.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gisttracker.i18n import N_, _
from gisttracker.services.base import Changes, StaleRecordError
from gisttracker.services.scopes import tumour_versions
from gisttracker.services.tumour import (
    MODALITIES,
    NON_TARGET_STATES,
    AssessmentInput,
    AssessmentInputError,
    AssessmentRecord,
    Evaluation,
    LesionInput,
    SelectionProblems,
    SeriesResult,
    TumourService,
    evaluate,
)
from gisttracker.store.db import DatabaseLockedError
from ui.conflicts import handle_save_error
from ui.errors import error_message
from ui.patient_view import PatientTabPage
from ui.widgets.date_field import DateField

LIST_COLUMNS = (N_("Date"), N_("Type"), N_("Sum (mm)"), N_("vs baseline"), N_("vs nadir"),
                N_("RECIST target"), N_("Non-target"), N_("RECIST overall"), N_("Choi"))
LESION_COLUMNS = (N_("Label"), N_("Organ"), N_("Node"), N_("Diameter (mm)"), N_("HU"),
                  N_("Too small"))
C_LABEL, C_ORGAN, C_NODE, C_DIAM, C_HU, C_SMALL = range(6)
ERROR_STYLE = "QLabel { color: #b00020; }"
RESPONSE_COLOURS = {"CR": "#1b7f3a", "PR": "#1b7f3a", "SD": "#555555", "PD": "#b00020",
                    "NON-CR/NON-PD": "#555555", "NE": "#8a6d00"}


Loaded = tuple[list[AssessmentRecord], SeriesResult, str | None, dict[str, dict[str, int]]]
#: A save's answer: the assessment's uid, and the versions the editor holds after it.
Saved = tuple[str | None, dict[str, int]]


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:+.1f} %"


def _mm(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def _number(text: str) -> float | None:
    """The number typed in a cell (comma or point decimal); None when empty."""
    text = text.strip().replace(",", ".")
    return None if not text else float(text)


class TumourTab(PatientTabPage):
    """Assessments of one patient and the editor of one assessment."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor_dirty = False  # typed in the editor since it was filled
        self._select_after_load: str | None = None
        self.records: list[AssessmentRecord] = []
        self.result = SeriesResult()
        self.editing_uid: str | None = None
        # assessment uid -> uid -> version, as last read; and what the editor was filled
        # with (empty for a new assessment): a save sends these.
        self.versions: dict[str, dict[str, int]] = {}
        self.editing_versions: dict[str, int] = {}
        self.saving = False  # a save is on its way, or its reload has not arrived yet
        self.editing_baseline = True
        self.primary: str | None = None
        self._filling = False

        self.list = QTableWidget(0, len(LIST_COLUMNS), self)
        self.list.setHorizontalHeaderLabels([_(c) for c in LIST_COLUMNS])
        self.list.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.list.verticalHeader().setVisible(False)
        self.list.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.list.itemSelectionChanged.connect(self._row_selected)
        self.best = QLabel(self)
        self.best.setTextFormat(Qt.TextFormat.RichText)
        self.new_button = QPushButton(_("New follow-up"), self)
        self.new_button.clicked.connect(self.new_assessment)
        self.delete_button = QPushButton(_("Delete…"), self)
        self.delete_button.clicked.connect(self._delete)
        top = QWidget(self)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        buttons = QHBoxLayout()
        buttons.addWidget(self.best, 1)
        buttons.addWidget(self.new_button)
        buttons.addWidget(self.delete_button)
        top_layout.addLayout(buttons)
        top_layout.addWidget(self.list)

        self.editor = QGroupBox(self)
        self.date = DateField(self.editor, today=lambda: self.today_fn(), inline_message=False,
                              label=_("Date of the assessment"))
        self.date.set_value(self.today_fn())
        self.modality = QComboBox(self.editor)
        for code in MODALITIES:
            self.modality.addItem(_(code) if code == "other" else code, code)
        self.non_target = QComboBox(self.editor)
        for code, label in NON_TARGET_STATES.items():
            self.non_target.addItem(_(label), code)
        self.new_lesions = QCheckBox(_("New lesions"), self.editor)
        self.new_nodules = QCheckBox(_("New or growing intratumoral nodules"), self.editor)
        self.lesions = QTableWidget(0, len(LESION_COLUMNS), self.editor)
        self.lesions.setHorizontalHeaderLabels([_(c) for c in LESION_COLUMNS])
        self.lesions.verticalHeader().setVisible(False)
        header = self.lesions.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(C_ORGAN, QHeaderView.ResizeMode.Stretch)
        self.add_lesion = QPushButton(_("Add lesion"), self.editor)
        self.add_lesion.clicked.connect(lambda: self.add_lesion_row())
        self.remove_lesion = QPushButton(_("Remove lesion"), self.editor)
        self.remove_lesion.clicked.connect(self._remove_lesion)
        self.problems = QLabel(self.editor)
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet(ERROR_STYLE)
        self.problems.setMinimumWidth(220)
        self.problems.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.errors = QLabel(self.editor)
        self.errors.setWordWrap(True)
        self.errors.setStyleSheet(ERROR_STYLE)
        self.save_button = QPushButton(_("Save assessment"), self.editor)
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self.submit)

        self.results: dict[str, QLabel] = {}
        results_box = QGroupBox(_("Computed"), self.editor)
        results_form = QFormLayout(results_box)
        for key, label in (("sum", N_("Sum of diameters")),
                           ("baseline", N_("Change from baseline")),
                           ("nadir", N_("Change from nadir")),
                           ("target", N_("RECIST target")),
                           ("non_target", N_("RECIST non-target")),
                           ("overall", N_("RECIST overall")),
                           ("choi", N_("Choi")),
                           ("best", N_("Best overall response"))):
            value = QLabel("—", results_box)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.results[key] = value
            results_form.addRow(_(label), value)

        head = QFormLayout()
        head.addRow(_("Date"), self.date)
        head.addRow(_("Modality"), self.modality)
        head.addRow(_("Non-target lesions"), self.non_target)
        flags = QHBoxLayout()
        flags.addWidget(self.new_lesions)
        flags.addWidget(self.new_nodules)
        flags.addStretch(1)
        lesion_buttons = QHBoxLayout()
        lesion_buttons.addWidget(self.add_lesion)
        lesion_buttons.addWidget(self.remove_lesion)
        lesion_buttons.addStretch(1)
        lesion_buttons.addWidget(self.save_button)
        head.addRow(flags)
        grid = QGridLayout(self.editor)
        grid.addLayout(head, 0, 0, Qt.AlignmentFlag.AlignTop)
        grid.addWidget(results_box, 0, 1)
        grid.addWidget(self.lesions, 1, 0)
        grid.addWidget(self.problems, 1, 1)
        grid.addLayout(lesion_buttons, 2, 0)
        grid.addWidget(self.errors, 3, 0, 1, 2)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 1)
        grid.setRowStretch(1, 1)

        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(top)
        splitter.addWidget(self.editor)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([160, 520])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        for widget in (self.non_target, self.modality):
            widget.currentIndexChanged.connect(self.recompute)
        self.date.edited.connect(self.recompute)
        self.date.problem_changed.connect(lambda _p: self.recompute())
        self.new_lesions.toggled.connect(self.recompute)
        self.new_nodules.toggled.connect(self.recompute)
        self.lesions.itemChanged.connect(self.recompute)
        self._set_title()

    # ----- hooks (tests replace these instead of clicking through dialogs) ----------------
    def confirm_selection(self, problems: tuple[str, ...]) -> bool:
        """Ask whether a baseline selection breaking RECIST 1.1 is saved as read."""
        answer = QMessageBox.question(
            self, _("Target selection"),
            _("The baseline target selection breaks RECIST 1.1:\n\n{problems}\n\n"
              "Save it as read anyway?").format(problems="\n".join(problems)))
        return answer == QMessageBox.StandardButton.Yes

    def ask_reason(self, title: str) -> str | None:
        text, ok = QInputDialog.getText(self, title, _("Reason for the change:"))
        return text.strip() if ok and text.strip() else None

    def show_error(self, message: str) -> None:
        self.errors.setText(message)

    # ----- loading ------------------------------------------------------------------------
    def set_patient(self, session, tasks, patient_uid):  # type: ignore[no-untyped-def]
        super().set_patient(session, tasks, patient_uid)
        self.reload()

    def service(self) -> TumourService:
        assert self.session is not None
        return TumourService(self.session)

    def on_changes(self, changes: Changes) -> None:
        if changes.touched("tumour_assessment", "lesion_measurement", "course_event"):
            self.request_reload()

    def reload(self, select_uid: str | None = None) -> None:
        """Read the assessments on the worker; ``select_uid`` (the one just saved) is shown
        in the editor unless the user has moved on before the answer comes back."""
        if self.tasks is None or self.patient_uid is None:
            return
        if select_uid is not None:
            self._select_after_load = select_uid
        patient = self.patient_uid
        service = self.service()

        db = self.session.db if self.session is not None else None

        def load() -> Loaded:
            # The versions first: see tumour_versions.
            versions = tumour_versions(db, patient) if db is not None else {}
            primary = service.primary_criterion(service.patient(patient))
            return (service.assessments(patient), service.evaluation(patient), primary,
                    versions)

        self.tasks.run(load, self._loaded, self._load_failed)

    def _load_failed(self, exc: BaseException) -> None:
        if self.alive() and self.saving:
            self.saving = False
            self.save_button.setEnabled(True)
        self._failed(exc)

    def _loaded(self, loaded: Loaded) -> None:
        if not self.alive():
            return
        self.records, self.result, self.primary, self.versions = loaded
        if self.saving:
            self.saving = False
            self.save_button.setEnabled(True)
        select_uid, self._select_after_load = self._select_after_load, None
        if self.editor_dirty:
            # Typed and not saved: a change that arrives now refreshes the list only; what
            # is being typed stays where it is (a late answer never swaps the editor).
            self._fill_list()
            self.recompute()
            return
        self._fill_list()
        select_uid = select_uid or self.editing_uid
        row = next((i for i, r in enumerate(self._ordered()) if r.uid == select_uid), None)
        if row is not None:
            self.list.selectRow(row)
            self._row_selected()
        else:
            self.new_assessment()

    def _ordered(self) -> list[AssessmentRecord]:
        return sorted(self.records, key=lambda r: (not r.data.is_baseline, r.data.assessed_on))

    def _fill_list(self) -> None:
        ordered = self._ordered()
        evaluations = {e.assessed_on: e for e in self.result.evaluations if not e.is_baseline}
        base = next((e for e in self.result.evaluations if e.is_baseline), None)
        self.list.blockSignals(True)
        self.list.setRowCount(len(ordered))
        for row, record in enumerate(ordered):
            e = base if record.data.is_baseline else evaluations.get(record.data.assessed_on)
            cells = [record.data.assessed_on.isoformat(),
                     _("Baseline") if record.data.is_baseline else _("Follow-up")]
            if e is None:
                cells += ["—"] * 7
            else:
                cells += [_mm(e.sum_mm), _pct(e.change_from_baseline_pct),
                          _pct(e.change_from_nadir_pct), e.recist_target or "—",
                          e.recist_non_target or "—", e.recist_overall or "—", e.choi or "—"]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, record.uid)
                if col >= 5 and text in RESPONSE_COLOURS:
                    item.setForeground(QColor(RESPONSE_COLOURS[text]))
                self.list.setItem(row, col, item)
        self.list.blockSignals(False)
        self.best.setText(self._best_text(self.result))
        has_base = any(r.data.is_baseline for r in self.records)
        self.new_button.setText(_("New follow-up") if has_base else _("New baseline"))

    def _best_text(self, result: SeriesResult) -> str:
        recist = result.best_recist or "—"
        choi = result.best_choi or "—"
        primary = _("Choi") if self.primary == "choi" else _("RECIST 1.1")
        return _("<b>Best overall response</b>: RECIST 1.1 {recist} · Choi {choi} "
                 "(primary criterion: {primary})").format(recist=recist, choi=choi,
                                                          primary=primary)

    # ----- the editor ---------------------------------------------------------------------
    def _set_title(self) -> None:
        if self.editing_uid is None:
            self.editor.setTitle(_("New baseline assessment") if self.editing_baseline
                                 else _("New follow-up assessment"))
        else:
            self.editor.setTitle(_("Baseline assessment") if self.editing_baseline
                                 else _("Follow-up assessment"))

    def add_lesion_row(self, lesion: LesionInput | None = None) -> int:
        self._filling = True
        row = self.lesions.rowCount()
        self.lesions.insertRow(row)
        values = ["", "", None, "", "", None]
        if lesion is not None:
            values = [lesion.label, lesion.organ, None,
                      "" if lesion.diameter_mm is None else f"{lesion.diameter_mm:g}",
                      "" if lesion.density_hu is None else f"{lesion.density_hu:g}", None]
        for col, text in enumerate(values):
            item = QTableWidgetItem(text or "")
            if col in (C_NODE, C_SMALL):
                item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled
                              | Qt.ItemFlag.ItemIsSelectable)
                checked = lesion is not None and (
                    lesion.is_node if col == C_NODE else lesion.too_small)
                item.setCheckState(Qt.CheckState.Checked if checked
                                   else Qt.CheckState.Unchecked)
            if col == C_LABEL and lesion is not None and not self.editing_baseline:
                # Labels are fixed at baseline: follow-ups are matched to it by label.
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.lesions.setItem(row, col, item)
        self._filling = False
        self.recompute()
        return row

    def _remove_lesion(self) -> None:
        row = self.lesions.currentRow()
        if row >= 0:
            self.lesions.removeRow(row)
            self.recompute()

    def set_lesion(self, row: int, *, label: str | None = None, organ: str | None = None,
                   diameter: str | None = None, hu: str | None = None,
                   node: bool | None = None, too_small: bool | None = None) -> None:
        """Fill cells of lesion ``row`` (what typing does; used by tests and the demo)."""
        for col, text in ((C_LABEL, label), (C_ORGAN, organ), (C_DIAM, diameter),
                          (C_HU, hu)):
            if text is not None:
                self.lesions.item(row, col).setText(text)
        for col, flag in ((C_NODE, node), (C_SMALL, too_small)):
            if flag is not None:
                self.lesions.item(row, col).setCheckState(
                    Qt.CheckState.Checked if flag else Qt.CheckState.Unchecked)

    def new_assessment(self) -> None:
        """Clear the editor for a new assessment: the baseline first, then follow-ups with
        the baseline target labels pre-filled."""
        self._select_after_load = None  # the user moved on: a pending answer selects nothing
        self.list.clearSelection()
        base = next((r.data for r in self.records if r.data.is_baseline), None)
        self.editing_uid = None
        self.editing_versions = {}
        self.editing_baseline = base is None
        self._load_editor(AssessmentInput(
            self.today_fn(), tuple(LesionInput(lesion.label, lesion.organ, is_node=lesion.is_node)
                                for lesion in base.lesions if lesion.is_target)
            if base else (), is_baseline=base is None,
            non_target=("none" if base is None or base.non_target == "none" else "present")))

    def _row_selected(self) -> None:
        rows = self.list.selectionModel().selectedRows()
        if not rows:
            return
        self._select_after_load = None
        uid = self.list.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole)
        record = next((r for r in self.records if r.uid == uid), None)
        if record is not None:
            self.editing_uid = record.uid
            self.editing_versions = dict(self.versions.get(record.uid, {}))
            self.editing_baseline = record.data.is_baseline
            self._load_editor(record.data)

    def _load_editor(self, data: AssessmentInput) -> None:
        self._filling = True
        self.date.set_value(data.assessed_on)
        self.modality.setCurrentIndex(max(0, self.modality.findData(data.modality or "CT")))
        self.non_target.setCurrentIndex(max(0, self.non_target.findData(data.non_target)))
        self.new_lesions.setChecked(data.new_lesions)
        self.new_nodules.setChecked(data.new_nodules)
        self.new_lesions.setEnabled(not data.is_baseline)
        self.new_nodules.setEnabled(not data.is_baseline)
        self.lesions.setRowCount(0)
        self._filling = False
        for lesion in data.lesions:
            self.add_lesion_row(lesion)
        self.errors.clear()
        self._set_title()
        self.delete_button.setEnabled(self.editing_uid is not None)
        self.recompute()
        self.editor_dirty = False

    def editor_input(self) -> tuple[AssessmentInput, dict[str, str]]:
        """What the editor holds, and the errors of cells that are not numbers."""
        errors: dict[str, str] = {}
        lesions = []
        for row in range(self.lesions.rowCount()):
            def text(col: int, row: int = row) -> str:
                item = self.lesions.item(row, col)
                return item.text() if item is not None else ""

            def checked(col: int, row: int = row) -> bool:
                item = self.lesions.item(row, col)
                return item is not None and item.checkState() == Qt.CheckState.Checked

            label = text(C_LABEL).strip()
            if not label and not text(C_DIAM).strip():
                continue
            values: dict[str, float | None] = {}
            for col, name in ((C_DIAM, "diameter"), (C_HU, "hu")):
                try:
                    values[name] = _number(text(col))
                except ValueError:
                    errors[f"lesions[{row}].{name}"] = _("{label}: {value!r} is not a number")\
                        .format(label=label or row + 1, value=text(col))
                    values[name] = None
            lesions.append(LesionInput(label, text(C_ORGAN).strip(), values["diameter"],
                                       values["hu"], checked(C_NODE), checked(C_SMALL)))
        if self.date.problem():
            errors["assessed_on"] = self.date.shown_problem() or _(
                "Date of the assessment: enter a date (YYYY-MM-DD)")
        data = AssessmentInput(
            self.date.date_or_none() or self.today_fn(), tuple(lesions),
            is_baseline=self.editing_baseline, non_target=self.non_target.currentData(),
            new_lesions=self.new_lesions.isChecked() and not self.editing_baseline,
            new_nodules=self.new_nodules.isChecked() and not self.editing_baseline,
            modality=self.modality.currentData())
        return data, errors

    def _colour_cells(self, errors: dict[str, str]) -> None:
        self.lesions.blockSignals(True)
        for row in range(self.lesions.rowCount()):
            for col, name in ((C_DIAM, "diameter"), (C_HU, "hu")):
                item = self.lesions.item(row, col)
                if item is None:
                    continue
                bad = f"lesions[{row}].{name}" in errors or (
                    f"lesions[{row}].{'diameter_mm' if name == 'diameter' else 'density_hu'}"
                    in errors)
                item.setBackground(QColor("#f8d7da") if bad else QColor(0, 0, 0, 0))
                item.setToolTip(errors.get(f"lesions[{row}].{name}", ""))
        self.lesions.blockSignals(False)

    def recompute(self) -> None:
        """Recompute the responses with what the editor holds (pure rules, instant)."""
        if self._filling:
            return
        self.editor_dirty = True
        data, errors = self.editor_input()
        others = [r.data for r in self.records if r.uid != self.editing_uid]
        result = evaluate([*others, data], primary=self.primary)
        current = self._evaluation_of(result, data)
        r = self.results
        r["sum"].setText(_("{value} mm").format(value=_mm(current.sum_mm))
                         if current is not None and current.sum_mm is not None else "—")
        follow = current is not None and not current.is_baseline
        r["baseline"].setText(_pct(current.change_from_baseline_pct) if follow and current
                              else "—")
        r["nadir"].setText(
            _("{pct} (nadir {nadir} mm)").format(pct=_pct(current.change_from_nadir_pct),
                                                 nadir=_mm(current.nadir_mm))
            if follow and current and current.nadir_mm is not None else "—")
        for key, value in (("target", current.recist_target if follow and current else None),
                           ("non_target",
                            current.recist_non_target if follow and current else None),
                           ("overall", current.recist_overall if follow and current else None),
                           ("choi", current.choi if follow and current else None)):
            self._set_response(r[key], value)
        r["best"].setText(_("RECIST 1.1 {recist} · Choi {choi}").format(
            recist=result.best_recist or "—", choi=result.best_choi or "—"))
        problems = list(result.selection_problems) if data.is_baseline else []
        problems += [p for p in result.problems if p not in problems]
        problems += list(errors.values())
        self.problems.setText("\n".join(f"• {p}" for p in problems))
        self._colour_cells(errors)

    @staticmethod
    def _set_response(label: QLabel, value: str | None) -> None:
        label.setText(value or "—")
        colour = RESPONSE_COLOURS.get(value or "", "#000000")
        label.setStyleSheet(f"QLabel {{ color: {colour}; font-weight: 600; }}")

    @staticmethod
    def _evaluation_of(result: SeriesResult, data: AssessmentInput) -> Evaluation | None:
        for e in result.evaluations:
            if e.is_baseline == data.is_baseline and e.assessed_on == data.assessed_on:
                return e
        return None

    # ----- saving -------------------------------------------------------------------------
    def submit(self, *, confirm: bool = False, reason: str | None = None) -> None:
        if self.tasks is None or self.patient_uid is None:
            return
        data, errors = self.editor_input()
        if errors:
            self.show_error("\n".join(errors.values()))
            return
        if self.editing_uid is not None and reason is None:
            reason = self.ask_reason(_("Correct assessment"))
            if reason is None:
                return
        service, patient, uid, today = self.service(), self.patient_uid, self.editing_uid, \
            self.today_fn()
        data = replace(data, lesions=tuple(data.lesions))
        self.save_button.setEnabled(False)
        self.saving = True
        self.tasks.run(
            self._as_shown(lambda: service.record(patient, data, today=today, uid=uid,
                                                  confirm=confirm, reason=reason)),
            self._saved, lambda exc: self._save_failed(exc, confirm, reason))

    def _as_shown(self, write: Callable[[], str | None]) -> Callable[[], Saved]:
        """``write`` refused (:class:`StaleRecordError`) if someone changed what the editor
        shows since it was filled; returns its result and the versions the editor holds
        after it (its own save moves them on, so a second save in a row goes through)."""
        expected = dict(self.editing_versions)
        tracker = self.service().tracker

        def work() -> Saved:
            with tracker.expect(expected):
                result = write()
                return result, dict(tracker.expected_versions())

        return work

    def _saved(self, saved: Saved) -> None:
        if not self.alive():
            return
        uid, versions = saved
        assert uid is not None
        # The save button waits for the reload (the versions of lesions this save added
        # come with it).
        self.errors.clear()
        if uid == self.editing_uid:
            self.editing_versions = versions
        self.editing_uid = uid
        self.editor_dirty = False
        # One reload answers both this save and the change signal it caused.
        self._select_after_load = uid
        self.request_reload()

    def _save_failed(self, exc: BaseException, confirm: bool, reason: str | None) -> None:
        if not self.alive():
            return
        self.saving = False
        self.save_button.setEnabled(True)
        if isinstance(exc, StaleRecordError | DatabaseLockedError):
            # Someone saved this assessment since the editor was filled (or held the
            # database too long): nothing was written. Say who changed what; offer to
            # reload (what was typed stays until the nurse chooses to), or to try again.
            self.show_error(str(exc))
            handle_save_error(self, exc, reload=self.discard_and_reload,
                              retry=lambda: self.submit(confirm=confirm, reason=reason))
            return
        if isinstance(exc, SelectionProblems):
            if self.confirm_selection(exc.problems):
                self.submit(confirm=True, reason=reason or _("selection confirmed"))
            return
        if isinstance(exc, AssessmentInputError):
            self._colour_cells(exc.errors)
            self.show_error("\n".join(exc.errors.values()))
            return
        self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        if not self.alive():
            return
        self.show_error(error_message(exc, context="tumour assessments tab"))

    def discard_and_reload(self) -> None:
        """Show what is stored now, dropping what was typed (the nurse chose to reload)."""
        self.editor_dirty = False
        self.errors.clear()
        self.reload(select_uid=self.editing_uid)

    def _delete(self) -> None:
        if self.editing_uid is None or self.tasks is None:
            return
        reason = self.ask_reason(_("Delete assessment"))
        if reason is None:
            return
        service, uid = self.service(), self.editing_uid

        def deleted(_result: object) -> None:
            if not self.alive():
                return
            self.errors.clear()
            if self.editing_uid == uid:
                self.editor_dirty = False
                self.editing_uid = None
                self.editing_versions = {}
            self.reload()

        def failed(exc: BaseException) -> None:
            if not self.alive():
                return
            if isinstance(exc, StaleRecordError | DatabaseLockedError):
                self.show_error(str(exc))
                handle_save_error(self, exc, reload=self.discard_and_reload,
                                  retry=self._delete)
                return
            self._failed(exc)

        self.tasks.run(self._as_shown(lambda: service.delete(uid, reason=reason)), deleted,
                       failed)
