"""What the visit-form editors share: styles, value formatting and parsing, and the
dialog base with state buttons, the unsaved-change guard and the reason prompt.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QBoxLayout,
    QDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from gisttracker.forms import FormSpec
from gisttracker.i18n import N_, _
from gisttracker.services.base import StaleRecordError
from gisttracker.services.forms import (
    NOT_DONE_REASONS,
    FormData,
    FormInputError,
    FormService,
    state_label,
)
from gisttracker.services.policy import Permission
from gisttracker.services.scopes import versions as scope_versions
from gisttracker.session import Session
from gisttracker.store.db import DatabaseLockedError
from ui.conflicts import handle_save_error
from ui.errors import error_message
from ui.signing import ReviewPanel
from ui.tasks import TaskManager
from ui.visit_forms.visit_date import settle_with_visit_date

ERROR_STYLE = "QLabel { color: #b00020; }"
MUTED_STYLE = "QLabel { color: #666; }"
STATE_COLOURS = {"not_started": "#666666", "in_progress": "#8a5a00", "complete": "#1b7f3b",
                 "not_done": "#6b3fa0"}
VISIT_STATES = {"planned": N_("planned"), "done": N_("done"), "missed": N_("missed"),
                "cancelled": N_("cancelled"), "not_applicable": N_("not applicable")}
GRADE_COLOURS = {0: "#1b7f3b", 1: "#5b7f1b", 2: "#8a5a00", 3: "#b00020", 4: "#7a0015"}


def _fmt(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.1f}"
    return _(value) if isinstance(value, str) else str(value)


def _number(text: str) -> float | None:
    text = text.strip().replace(",", ".")
    if not text:
        return None
    return float(text)


def form_uid(session: Session, visit_uid: str, kind: str) -> str | None:
    """The uid of form ``kind`` at the visit; None while it is not started."""
    row = session.db.execute_sql(
        "SELECT f.uid FROM form f JOIN visit v ON v.id = f.visit_id WHERE v.uid = ? AND "
        "f.kind = ?", (visit_uid, kind)).fetchone()
    return None if row is None else str(row[0])


def form_versions(session: Session, visit_uid: str, kind: str) -> dict[str, int]:
    """uid → version of form ``kind`` at the visit and of its values (empty while it is not
    started). Read it *before* the form's data, on the same worker call: a change landing
    between the two reads then makes the next save refuse (the versions are older than what
    is shown), never pass over a change the form did not show."""
    uid = form_uid(session, visit_uid, kind)
    return scope_versions(session.db, "form", uid) if uid else {}


# --------------------------------------------------------------------------------------
# Shared dialog behaviour


class FormDialogBase(QDialog):
    """State buttons, unsaved-change guard and reason prompts shared by the editors."""

    changed = Signal()  # something was written: the visit list refreshes

    def __init__(self, session: Session, tasks: TaskManager, data: FormData, spec: FormSpec,
                 today: date, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.tasks = tasks
        self.data = data
        self.spec = spec
        self.today = today
        self.dirty = False
        self.busy = False
        self.setWindowTitle(_(spec.title))
        self.state_label = QLabel(self)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.save_button = QPushButton(_("&Save"), self)
        self.complete_button = QPushButton(_("Mark &complete"), self)
        self.not_done_button = QPushButton(_("&Not done…"), self)
        self.close_button = QPushButton(_("Close"), self)
        self.save_button.clicked.connect(lambda: self.save_changes())
        self.complete_button.clicked.connect(lambda: self.mark_complete())
        self.not_done_button.clicked.connect(lambda: self.mark_not_done())
        self.close_button.clicked.connect(self.close)
        QShortcut(QKeySequence.StandardKey.Save, self, activated=lambda: self.save_changes())
        for button in (self.save_button, self.complete_button, self.not_done_button,
                       self.close_button):
            button.setAutoDefault(False)
        # Accounts (issue 13): what the form showed, by version (a save based on an older
        # one is refused and offers to reload); its signature, lock and source verification;
        # a monitor's query; a role that may not enter data sees it read-only.
        self.versions: dict[str, int] = {}
        # Once the dialog holds versions (read with its data, or the first read), later
        # reads never move them on: only the form's own saves and a reload do.
        self._versions_held = False
        self.may_enter = session.tracker.can(Permission.ENTER_DATA)
        self.may_edit = self.may_enter
        self.review = ReviewPanel(self)
        self.review.changed.connect(self._review_changed)
        self.review.shown.connect(self._review_shown)
        self.query_button = QPushButton(_("Raise &query…"), self)
        self.query_button.setAutoDefault(False)
        self.query_button.clicked.connect(self.raise_query)
        self.query_button.setVisible(session.tracker.can(Permission.RAISE_QUERY))
        self._last_run: tuple[Callable[[], Any], Callable[[Any], None]] | None = None
        self._read_versions()

    def service(self) -> FormService:
        return FormService(self.session)

    def _form_uid(self) -> str | None:
        return form_uid(self.session, self.data.visit_uid, self.data.kind)

    def hold_versions(self, versions: dict[str, int]) -> None:
        """The versions of the form as it was shown (:func:`form_versions`, read with its
        data by whoever opened the dialog): a save sends these."""
        self.versions = dict(versions)
        self._versions_held = True

    def _read_versions(self) -> None:
        """The versions of the form and its values, and its review state (on the worker).

        The first read gives a dialog opened without versions its versions. Once it holds
        some (issue 13), a read adds only records it never had (the values its own save
        created) and never moves one on: the form still shows, and its typing is based on,
        what it was filled with; a change someone else made since must refuse the save."""
        def read() -> tuple[str | None, dict[str, int]]:
            uid = self._form_uid()
            return uid, scope_versions(self.session.db, "form", uid) if uid else {}

        def done(result: tuple[str | None, dict[str, int]]) -> None:
            if not isValid(self):
                return  # closed while the versions were being read
            uid, fresh = result
            if self._versions_held:
                for key, version in fresh.items():
                    self.versions.setdefault(key, version)
            else:
                self.versions = fresh
                self._versions_held = True
            self.review.show_target(self.session, self.tasks, "form", uid, _(self.spec.title))

        self.tasks.run(read, done, lambda _e: None)

    def _review_changed(self) -> None:
        self._read_versions()
        self.changed.emit()

    def _review_shown(self, state: Any) -> None:
        """Signed data is locked: shown read-only until an investigator unlocks it."""
        self.may_edit = self.may_enter and state.lock is None
        for button in (self.save_button, self.complete_button, self.not_done_button):
            button.setVisible(self.may_enter)
            button.setEnabled(self.may_edit)
        self.complete_button.setEnabled(self.may_edit and self.data.state != "complete")
        self.editing_allowed(self.may_edit)

    def editing_allowed(self, allowed: bool) -> None:
        """Enable or disable the fields (the editors that have fields override this)."""

    def raise_query(self) -> None:
        from gisttracker.services.queries import QueryService
        from ui.queries import RaiseQueryDialog

        patient = self.session.db.execute_sql("SELECT study_id FROM patient WHERE uid = ?",
                                              (self.data.patient_uid,)).fetchone()
        RaiseQueryDialog(QueryService(self.session), self.tasks, self,
                         patient=str(patient[0]) if patient else "").exec()

    def button_row(self) -> QBoxLayout:
        row = QHBoxLayout()
        row.addWidget(self.state_label, 1)
        for button in (self.query_button, self.save_button, self.complete_button,
                       self.not_done_button, self.close_button):
            row.addWidget(button)
        if not self.may_enter:
            for button in (self.save_button, self.complete_button, self.not_done_button):
                button.hide()
        box = QVBoxLayout()
        box.addWidget(self.review)
        box.addLayout(row)
        return box

    def show_state(self) -> None:
        text = state_label(self.data.state)
        if self.data.state == "not_done" and self.data.not_done_reason:
            text += f" — {self.data.not_done_reason}"
        elif self.data.state == "complete" and self.data.completed_by:
            text += " — " + _("{who}, {when}").format(
                who=self.data.completed_by,
                when=(self.data.completed_at or "")[:16].replace("T", " "))
        if self.dirty:
            text += "  " + _("(unsaved changes)")
        self.complete_button.setEnabled(self.data.state != "complete"
                                        and getattr(self, "may_edit", True))
        colour = STATE_COLOURS.get(self.data.state, "#333")
        self.state_label.setText(f"<b style='color:{colour}'>{text}</b>")

    def set_status(self, text: str, error: bool = False) -> None:
        self.status.setStyleSheet(ERROR_STYLE if error else MUTED_STYLE)
        self.status.setText(text)

    # ----- prompts (methods so tests can answer them) -------------------------------------
    def ask_reason(self) -> str | None:
        """The reason for changing a completed form, or None when the user cancels."""
        text, ok = QInputDialog.getText(
            self, _("Reason for change"),
            _("This form is already marked “{state}”. Why is it changed?").format(
                state=state_label(self.data.state)))
        return text.strip() if ok and text.strip() else None

    def ask_not_done_reason(self) -> str | None:
        """Why the form was not done, or None when the user cancels."""
        reasons = [_(r) for r in NOT_DONE_REASONS]
        text, ok = QInputDialog.getItem(self, _("Form not done"),
                                        _("Why was this form not done?"), reasons, 0, True)
        return text.strip() if ok and text.strip() else None

    def ask_unsaved(self) -> QMessageBox.StandardButton:
        """Save, Discard or Cancel for a close with unsaved changes."""
        return QMessageBox.question(
            self, _("Unsaved changes"),
            _("{form} has changes that are not saved. Save them?").format(
                form=_(self.spec.title)),
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)

    # ----- closing ------------------------------------------------------------------------
    def may_close(self) -> bool:
        """Whether the dialog may close now; asks first when there are unsaved changes."""
        if not self.dirty:
            return True
        answer = self.ask_unsaved()
        if answer == QMessageBox.StandardButton.Discard:
            self.dirty = False
            return True
        if answer == QMessageBox.StandardButton.Save:
            self.save_changes(then=self.close)
        return False

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.busy or not self.may_close():
            event.ignore()
            return
        event.accept()

    def reject(self) -> None:  # Escape goes through the same guard as the close button
        self.close()

    # ----- running service calls ----------------------------------------------------------
    def run(self, fn: Callable[[], Any], on_done: Callable[[Any], None]) -> None:
        self.busy = True
        self.set_status(_("Saving…"))
        self._last_run = (fn, on_done)
        expected, tracker = dict(self.versions), self.session.tracker

        def guarded() -> tuple[Any, dict[str, int]]:
            # Refused if the form changed since it was shown (StaleRecordError). The
            # versions held after it: this dialog's own changes count as seen.
            with tracker.expect(expected):
                result = fn()
                return result, dict(tracker.expected_versions())

        def done(answer: tuple[Any, dict[str, int]]) -> None:
            result, after = answer
            self.busy = False
            self.set_status("")
            self.versions.update(after)
            self._read_versions()
            on_done(result)

        self.tasks.run(guarded, done, self.failed)

    def failed(self, error: BaseException) -> None:
        self.busy = False
        if isinstance(error, StaleRecordError | DatabaseLockedError):
            # Someone changed the form since it was shown, or held the file too long: say
            # so, and offer to reload (or to try again).
            self.set_status(str(error).splitlines()[0], error=True)
            last = self._last_run
            handle_save_error(self, error, reload=self.reload_form,
                              retry=(lambda: self.run(*last)) if last else None)
            return
        if isinstance(error, FormInputError):
            self.show_errors(error.errors)
        self.set_status(error_message(error, context=f"saving a form ({self.data.kind})"),
                        error=True)

    def show_errors(self, errors: dict[str, str]) -> None:
        """Show messages beside the fields (the subclasses know their fields)."""

    def loaded(self, data: FormData) -> None:
        self.data = data
        self.dirty = False
        self.show_state()
        self.changed.emit()

    def reload_form(self) -> None:
        """Someone else changed the form: read it again (what was typed here is dropped)."""
        visit, kind, session = self.data.visit_uid, self.data.kind, self.session

        def load() -> tuple[dict[str, int], FormData]:
            return form_versions(session, visit, kind), self.service().load(visit, kind)

        def loaded(answer: tuple[dict[str, int], FormData]) -> None:
            versions, data = answer
            self.hold_versions(versions)  # what the form is filled with now
            self.reloaded(data)

        self.run(load, loaded)

    def reloaded(self, data: FormData) -> None:
        """Show ``data`` after a reload. Editors that can refill their fields override this;
        the others close (the visit's list shows the current state; open it again)."""
        self.loaded(data)
        self.done(0)

    # ----- actions ------------------------------------------------------------------------
    def save_changes(self, then: Callable[[], object] | None = None) -> None:
        raise NotImplementedError

    def nothing_to_save(self, then: Callable[[], object] | None) -> None:
        """Saving found no change: the form is clean; carry on with ``then``."""
        self.dirty = False
        self.show_state()
        if then is not None:
            then()

    def reason_for_change(self) -> tuple[bool, str | None]:
        """(go on?, reason): a completed or not-done form changes only with a reason."""
        if not self.data.locked:
            return True, None
        reason = self.ask_reason()
        if reason is None:
            self.set_status(_("Not saved: a reason is needed to change a completed form."),
                            error=True)
            return False, None
        return True, reason

    def mark_complete(self) -> None:
        def complete() -> None:
            reason = None
            if self.data.state == "not_done":
                reason = self.ask_reason()
                if reason is None:
                    return
            visit, kind = self.data.visit_uid, self.data.kind

            def go(visit_date: date | None) -> None:
                self.run(lambda: self.service().complete(
                    visit, kind, today=self.today, reason=reason, visit_date=visit_date),
                    self._completed)

            # The last form of a visit settles it: ask the day the visit took place first.
            settle_with_visit_date(self, self.session, self.tasks, visit, kind, self.today,
                                   go, self._no_visit_date, self.failed)
        if self.dirty:
            self.save_changes(then=complete)
        else:
            complete()

    def _completed(self, data: FormData) -> None:
        self.loaded(data)
        self.set_status(_("Form complete."))

    def mark_not_done(self) -> None:
        reason = self.ask_not_done_reason()
        if reason is None:
            return
        visit, kind = self.data.visit_uid, self.data.kind

        def go(visit_date: date | None) -> None:
            self.dirty = False
            self.run(lambda: self.service().mark_not_done(
                visit, kind, reason, today=self.today, visit_date=visit_date), self.loaded)

        settle_with_visit_date(self, self.session, self.tasks, visit, kind, self.today, go,
                               self._no_visit_date, self.failed)

    def _no_visit_date(self) -> None:
        self.set_status(_("Not saved: the date of the visit is needed to complete it."),
                        error=True)


# --------------------------------------------------------------------------------------
# Item forms


