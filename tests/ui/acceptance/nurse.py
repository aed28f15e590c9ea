"""A research nurse at the keyboard: the steps of a day's work, each done by typing into and
clicking on the real widgets of the window (never by calling their setters).

Every method waits for what the window shows to follow (a save runs on the worker); the
tests read the database themselves, on the window's worker, to say what was saved.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QPoint, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QWidget,
)
from pytestqt.qtbot import QtBot

from gisttracker.services.patients import LabEntry, ScreeningData
from tests.ui.conftest import on_worker
from tests.ui.helpers import click_ok, retype, type_into_next_dialog, when_dialog
from ui.main_window import MainWindow
from ui.patient_view import PatientWindow
from ui.patients import NewPatientDialog, PatientsPage

WAIT = 10_000


class Nurse:
    """Drives one main window like a person with a keyboard and a mouse."""

    def __init__(self, qtbot: QtBot, window: MainWindow) -> None:
        self.bot = qtbot
        self.window = window

    # ----- small motions -------------------------------------------------------------------
    def settle(self) -> None:
        """Let pending layouts run: a mouse click lands where the widget is drawn, and a
        widget just added or a tab just raised has its place only after the layout ran."""
        QApplication.processEvents()
        QApplication.processEvents()

    def idle(self) -> None:
        """Wait until the worker has answered everything asked of it, and it is shown."""
        self.wait(lambda: not self.window.tasks.busy)
        self.settle()

    def click(self, button: QWidget) -> None:
        self.settle()
        assert button.isVisible() and button.isEnabled(), button
        if isinstance(button, QCheckBox):
            # On the box itself: a check box stretched by its layout reacts only to a click
            # on its box or its text, not on the empty rest of its row.
            self.bot.mouseClick(button, Qt.MouseButton.LeftButton,
                                pos=QPoint(8, button.height() // 2))
            return
        self.bot.mouseClick(button, Qt.MouseButton.LeftButton)

    def type(self, widget: QWidget, text: str) -> None:
        widget.setFocus()
        self.bot.keyClicks(widget, text)

    def retype(self, widget: QWidget, text: str) -> None:
        retype(self.bot, widget, text)

    def pick(self, combo: QComboBox, data: object) -> None:
        """Choose the entry holding ``data`` with the arrow keys, as from the keyboard."""
        combo.setFocus()
        target = combo.findData(data)
        assert target >= 0, (data, [combo.itemData(i) for i in range(combo.count())])
        self.bot.keyClick(combo, Qt.Key.Key_Home)
        for _i in range(target):
            self.bot.keyClick(combo, Qt.Key.Key_Down)
        assert combo.currentIndex() == target

    def click_cell(self, view: QAbstractItemView, row: int, column: int = 0) -> None:
        self.settle()
        model = view.model()
        index: QModelIndex = model.index(row, column)
        view.scrollTo(index)
        self.bot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                            pos=view.visualRect(index).center())

    def row_of(self, table: QTableWidget, text: str, column: int = 0) -> int:
        for r in range(table.rowCount()):
            item = table.item(r, column)
            if item is not None and item.text() == text:
                return r
        raise KeyError((text, [table.item(r, column).text() for r in range(table.rowCount())]))

    def wait(self, condition: Callable[[], object], timeout: int = WAIT) -> None:
        self.bot.waitUntil(lambda: bool(condition()), timeout=timeout)

    def db(self, fn: Callable[[], Any]) -> Any:
        """Read the database on the window's worker (never from the GUI thread)."""
        return on_worker(self.bot, self.window, fn)

    # ----- patients ------------------------------------------------------------------------
    def register(self, study: str, *, sex: str, record: str, name: str, initials: str,
                 dob: str) -> PatientWindow:
        """Patients > New patient…: type the registration; the patient's window opens."""
        page = self.window.pages["patients"]
        assert isinstance(page, PatientsPage)
        self.click_cell(self.window.nav, 1)  # the Patients area, clicked in the list
        opened: list[NewPatientDialog] = []

        def fill(dialog: QWidget) -> None:
            assert isinstance(dialog, NewPatientDialog)
            opened.append(dialog)
            self.pick(dialog.study_box, study)
            self.pick(dialog.sex_box, sex)
            self.type(dialog.record, record)
            self.type(dialog.name, name)
            self.type(dialog.initials, initials)
            self.type(dialog.dob.edit, dob)
            click_ok(self.bot, dialog)

        when_dialog(fill)
        before = set(self.window.context.windows) if self.window.context else set()
        self.click(page.new_button)
        assert opened and opened[0].patient_uid is not None
        assert self.window.context is not None
        uid = opened[0].patient_uid
        window = self.window.context.windows[uid]
        assert uid not in before
        self.wait(lambda: "·" in window.header.text())
        return window

    def open_from_list(self, study_id: str) -> PatientWindow:
        """Patients: search the study identifier and double-click the row."""
        from tests.ui.helpers import double_click

        page = self.window.pages["patients"]
        assert isinstance(page, PatientsPage)
        self.click_cell(self.window.nav, 1)  # the Patients area, clicked in the list
        self.pick(page.study_filter, None)
        page.search.clear()
        self.type(page.search, study_id)
        self.wait(lambda: page.model.rowCount() == 1
                  and page.model.data(page.model.index(0, 0)) == study_id)
        double_click(self.bot, page.table, page.model.index(0, 0))
        assert self.window.context is not None
        windows = self.window.context.open_windows()
        assert len(windows) == 1
        return windows[0]

    # ----- screening -----------------------------------------------------------------------
    def screen(self, window: PatientWindow, data: ScreeningData, *,
               judgements: Mapping[str, bool] | None = None) -> None:
        """Type the screening form (values, labs, judgement ticks) and save it."""
        tab: Any = window.pages["screening"]
        window.tabs.setCurrentWidget(tab)
        self.wait(lambda: tab.save_button.isVisible() and tab.study is not None
                  and tab.numbers["ecog"][0].isEnabled())
        v = data.values
        for key, (edit, _kind) in tab.numbers.items():
            if v.get(key) is not None:
                self.retype(edit, f"{v[key]:g}" if isinstance(v[key], float) else str(v[key]))
        if v.get("mitotic_count") is not None:
            self.pick(tab.mitotic_unit, v.get("mitotic_unit", "50hpf"))
        for key, combo in (("primary_site", tab.primary_site), ("mutation", tab.mutation)):
            if v.get(key) is not None:
                self.pick(combo, v[key])
        for key, combo in tab.bools.items():
            if v.get(key) is not None:
                self.pick(combo, v[key])
        consent = v.get("consent_date")
        if consent is not None:
            self.retype(tab.consent_date.edit, consent.isoformat().replace("-", ""))
        for key, lab in data.labs.items():
            self._lab(tab, key, lab)
        for cid, box in tab.judgement_boxes.items():
            wanted = (judgements or {}).get(cid, data.judgements.get(cid))
            if wanted is None:
                continue
            self._tick(box, wanted)
        self.wait(lambda: tab.save_button.isEnabled())
        self.click(tab.save_button)
        self.wait(lambda: not tab.dirty and not tab.busy)

    def _lab(self, tab: Any, key: str, lab: LabEntry) -> None:
        value, unit, low, high = tab.labs[key]
        self.pick(unit, lab.unit)
        self.retype(value, f"{lab.value:g}")
        if lab.lln is not None:
            self.retype(low, f"{lab.lln:g}")
        if lab.uln is not None:
            self.retype(high, f"{lab.uln:g}")

    def _tick(self, box: QCheckBox, wanted: bool) -> None:
        target = Qt.CheckState.Checked if wanted else Qt.CheckState.Unchecked
        for _i in range(3):  # a tri-state box: not judged → yes → no
            if box.checkState() == target:
                return
            self.bot.mouseClick(box, Qt.MouseButton.LeftButton,
                                pos=QPoint(8, box.height() // 2))
        assert box.checkState() == target

    def screen_failure(self, window: PatientWindow, *, reason: str = "",
                       criteria: tuple[str, ...] | None = ()) -> None:
        """Screen failure…: tick exactly ``criteria`` (None: keep the criteria the dialog
        ticked, those not met) and/or type the reason; OK."""
        tab: Any = window.pages["screening"]
        window.tabs.setCurrentWidget(tab)
        self.wait(lambda: tab.fail_button.isEnabled())
        self.click(tab.fail_button)
        from ui.screening import ScreenFailureDialog

        self.wait(lambda: any(isinstance(w, ScreenFailureDialog) and w.isVisible()
                              for w in tab.findChildren(ScreenFailureDialog)))
        dialog = next(w for w in tab.findChildren(ScreenFailureDialog) if w.isVisible())
        for cid, box in dialog.boxes.items():
            if criteria is not None and box.isChecked() != (cid in criteria):
                self.click(box)
        if reason:
            self.type(dialog.reason_edit, reason)
        click_ok(self.bot, dialog)
        self.wait(lambda: not dialog.isVisible())
        self.wait(lambda: tab.status == "screen_failed")

    def enroll(self, window: PatientWindow, *, option: str | None = None,
               procedures: tuple[str, ...] = (), preop: tuple[str, str] | None = None) -> Any:
        """Enroll… (or Randomize…): the dialog's inputs, the button, then Close."""
        tab: Any = window.pages["screening"]
        window.tabs.setCurrentWidget(tab)
        self.wait(lambda: tab.enroll_button.isEnabled())
        self.click(tab.enroll_button)
        self.wait(lambda: tab.enrollment_dialog is not None
                  and tab.enrollment_dialog.isVisible())
        dialog = tab.enrollment_dialog
        if option is not None and dialog.option is not None:
            self.pick(dialog.option, option)
        for code in procedures:
            self.click(dialog.procedures[code])
        if preop is not None:
            self.type(dialog.start.edit, preop[0])
            self.type(dialog.last.edit, preop[1])
        self.click(dialog.go)
        self.wait(lambda: dialog.result_value is not None)
        result = dialog.result_value
        from PySide6.QtWidgets import QDialogButtonBox

        self.click(dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel))  # "Close"
        self.wait(lambda: tab.status == "enrolled" and not tab.busy)
        return result

    # ----- schedule ------------------------------------------------------------------------
    def schedule_rows(self, window: PatientWindow) -> dict[str, list[str]]:
        tab: Any = window.pages["schedule"]
        table = tab.table
        return {table.item(r, 0).text(): [table.item(r, c).text()
                                          for c in range(table.columnCount())]
                for r in range(table.rowCount())}

    def enter_anchor(self, window: PatientWindow, key: str, day: str,
                     reason: str = "") -> None:
        """Schedule > Enter… (or Correct…) beside an anchor: type the date, OK."""
        tab: Any = window.pages["schedule"]
        window.tabs.setCurrentWidget(tab)
        self.wait(lambda: key in tab.anchor_labels)
        self.idle()  # the anchors are drawn anew by each refresh: take the current button
        row = list(tab.anchor_labels).index(key)
        button = tab.anchor_grid.itemAtPosition(row, 2).widget()
        assert isinstance(button, QPushButton)
        before = tab.anchor_labels[key].text()

        def answer(dialog: QWidget) -> None:
            field = dialog.date  # type: ignore[attr-defined]
            self.retype(field.edit, day)
            if reason:
                self.type(dialog.reason, reason)  # type: ignore[attr-defined]
            click_ok(self.bot, dialog)

        when_dialog(answer)
        self.click(button)
        self.wait(lambda: tab.anchor_labels[key].text() != before
                  and tab.anchor_labels[key].text() == date.fromisoformat(
                      day if "-" in day else f"{day[:4]}-{day[4:6]}-{day[6:]}").isoformat())

    def mark_done(self, window: PatientWindow, visit: str, day: str) -> None:
        tab: Any = window.pages["schedule"]
        window.tabs.setCurrentWidget(tab)
        self.wait(lambda: tab.table.rowCount() > 0)
        self.click_cell(tab.table, self.row_of(tab.table, visit))

        def answer(dialog: QWidget) -> None:
            self.retype(dialog.date.edit, day)  # type: ignore[attr-defined]
            click_ok(self.bot, dialog)

        when_dialog(answer)
        self.click(tab.done_button)
        self.wait(lambda: self.schedule_rows(window)[visit][5] != "")

    def print_schedule(self, window: PatientWindow, monkeypatch: Any) -> Path:
        """Print schedule: the PDF is made and handed to the viewer (recorded here)."""
        shown: list[Path] = []
        monkeypatch.setattr("ui.reports.open_in_viewer",
                            lambda path, _known=None: shown.append(path) or True)
        self.click(window.print_schedule)
        self.wait(lambda: bool(shown), timeout=30_000)
        return shown[0]

    # ----- visits and forms ----------------------------------------------------------------
    def open_form(self, window: PatientWindow, visit: str, form: str) -> Any:
        tab: Any = window.pages["visit_forms"]
        window.tabs.setCurrentWidget(tab)
        self.wait(lambda: tab.visits.rowCount() > 0)
        self.click_cell(tab.visits, self.row_of(tab.visits, visit))
        self.wait(lambda: tab.forms.rowCount() > 0)
        self.click_cell(tab.forms, self.row_of(tab.forms, form))
        tab.dialog = None
        self.click(tab.open_button)
        self.wait(lambda: tab.dialog is not None and tab.dialog.isVisible())
        return tab.dialog

    def answer_questionnaire(self, dialog: Any, digits: str) -> None:
        """Type the answers as digits: each key answers one item and moves on."""
        dialog.activateWindow()
        first = dialog.order[0]
        first.setFocus()
        for key in digits:
            widget = QApplication.focusWidget()
            assert widget is not None
            self.bot.keyClick(widget, key)

    def complete_form(self, dialog: Any) -> None:
        self.click(dialog.complete_button)
        self.wait(lambda: dialog.data.state == "complete")

    def close_form(self, dialog: Any) -> None:
        self.click(dialog.close_button)
        self.wait(lambda: not dialog.isVisible())

    def type_labs(self, dialog: Any, values: Mapping[str, tuple[str, str | None, str | None,
                                                               str | None]]) -> None:
        """Labs: for each analyte the value, unit (None: keep), LLN and ULN, typed along the
        row with Tab."""
        keys = [a.key for a in dialog.analytes]
        for key, (value, unit, lln, uln) in values.items():
            row = dialog.rows[keys.index(key)]
            self.type(row.value, value)
            if unit is not None:
                self.pick(row.unit, unit)
            if lln is not None:
                self.type(row.lln, lln)
            if uln is not None:
                self.type(row.uln, uln)
        self.click(dialog.save_button)
        self.wait(lambda: not dialog.dirty and not dialog.busy)

    # ----- tumour --------------------------------------------------------------------------
    def tumour_assessment(self, window: PatientWindow, day: str,
                          lesions: list[tuple[str, ...]], *, follow_up: bool = False,
                          confirm: bool = False) -> None:
        """Tumour assessments (New follow-up first when ``follow_up``): the date, then per
        lesion its label, organ, diameter in mm and, if given, density in HU typed into the
        lesion table's cells; Save."""
        tab: Any = window.pages["tumour"]
        window.tabs.setCurrentWidget(tab)
        if follow_up:
            self.wait(lambda: tab.new_button.text() == "New follow-up")
            self.click(tab.new_button)
        self.retype(tab.date.edit, day)
        for i, lesion in enumerate(lesions):
            label, organ, diameter = lesion[:3]
            hu = lesion[3] if len(lesion) > 3 else ""
            if tab.lesions.rowCount() <= i:
                self.click(tab.add_lesion)
            for column, text in ((0, label), (1, organ), (3, diameter), (4, hu)):
                if column == 4 and not text:
                    continue
                if column == 0 and not text:
                    continue
                item = tab.lesions.item(i, column)
                if item is not None and item.text() == text:
                    continue
                self.click_cell(tab.lesions, i, column)
                self.bot.keyClick(tab.lesions, Qt.Key.Key_F2)  # edit the cell
                editors = [e for e in tab.lesions.viewport().findChildren(QLineEdit)
                           if e.isVisible()]
                assert len(editors) == 1, editors
                editors[0].selectAll()
                self.bot.keyClicks(editors[0], text)
                self.bot.keyClick(editors[0], Qt.Key.Key_Return)
        if confirm:
            tab.confirm_selection = lambda _problems: True
        count = len(tab.records)
        self.click(tab.save_button)
        self.wait(lambda: len(tab.records) == count + 1)

    # ----- course --------------------------------------------------------------------------
    def record_event(self, window: PatientWindow, kind: str, day: str, *,
                     site: str = "") -> None:
        tab: Any = window.pages["course"]
        window.tabs.setCurrentWidget(tab)
        rows = tab.events_table.rowCount()
        self.pick(tab.kind, kind)
        self.retype(tab.occurred_on.edit, day)
        if site:
            self.retype(tab.event_site, site)
        self.click(tab.add_event_button)
        self.wait(lambda: tab.events_table.rowCount() == rows + 1)

    def correct_event(self, window: PatientWindow, row: int, reason: str, *,
                      site: str | None = None, day: str | None = None) -> None:
        tab: Any = window.pages["course"]
        window.tabs.setCurrentWidget(tab)
        self.click_cell(tab.events_table, row)
        section = tab.event_section
        self.click(section.correct)
        if site is not None:
            self.retype(tab.event_site, site)
        if day is not None:
            self.retype(tab.occurred_on.edit, day)
        type_into_next_dialog(self.bot, reason)
        self.click(section.save)
        self.wait(lambda: section.editing is None)

    def record_surgery(self, window: PatientWindow, day: str, procedure: str,
                       margin: str = "R0") -> None:
        tab: Any = window.pages["course"]
        window.tabs.setCurrentWidget(tab)
        rows = tab.surgery_table.rowCount()
        self.retype(tab.performed_on.edit, day)
        self.pick(tab.procedure, procedure)
        self.pick(tab.margin, margin)
        self.click(tab.add_surgery_button)
        self.wait(lambda: tab.surgery_table.rowCount() == rows + 1)

    # ----- closing and reopening -----------------------------------------------------------
    def close(self, window: PatientWindow) -> None:
        uid = window.patient_uid
        window.close()
        assert self.window.context is not None
        self.wait(lambda: uid not in [w.patient_uid for w in self.window.context.open_windows()])
