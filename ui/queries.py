"""The Queries area: every data query of the study, by state, with what the signed-in role
may do — a monitor raises, closes and reopens; a research nurse or investigator answers."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from gisttracker.errors import UserError
from gisttracker.i18n import N_, _
from gisttracker.protocols import Study
from gisttracker.services.base import Changes
from gisttracker.services.policy import Permission
from gisttracker.services.queries import STATE_LABELS, STATES, QueryInfo, QueryService
from gisttracker.session import Session
from ui.areas import AreaPage
from ui.errors import show_error
from ui.tasks import TaskManager

COLUMNS = (N_("Query"), N_("State"), N_("Patient"), N_("Item"), N_("Value seen"),
           N_("Question"), N_("Raised"), N_("Answer"))
STATE_COLOURS = {"open": "#b02a37", "answered": "#8a5a00", "closed": "#2e7d32"}


def _one_line(text: str | None) -> str:
    line = " ".join((text or "").split())
    return line if len(line) <= 70 else line[:69] + "…"


class TextDialog(QDialog):
    """One text to write (an answer, a follow-up question, a closing note)."""

    def __init__(self, title: str, prompt: str, parent: QWidget | None = None, *,
                 required: bool = True) -> None:
        super().__init__(parent)
        self.required = required
        self.setWindowTitle(title)
        self.setMinimumWidth(460)
        label = QLabel(prompt, self)
        label.setWordWrap(True)
        self.text = QPlainTextEdit(self)
        self.text.setAccessibleName(title)
        self.message = QLabel(self)
        self.message.setStyleSheet("color: #b00020;")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self._ok)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addWidget(self.text)
        layout.addWidget(self.message)
        layout.addWidget(buttons)

    def value(self) -> str:
        return self.text.toPlainText().strip()

    def _ok(self) -> None:
        if self.required and not self.value():
            self.message.setText(_("Write something first."))
            return
        self.accept()


class RaiseQueryDialog(QDialog):
    """A monitor picks a patient's recorded value and asks about it."""

    def __init__(self, service: QueryService, tasks: TaskManager,
                 parent: QWidget | None = None, patient: str = "") -> None:
        super().__init__(parent)
        self.service = service
        self.tasks = tasks
        self.setWindowTitle(_("Raise a query"))
        self.setMinimumWidth(620)
        self.patient = QLineEdit(patient, self)
        self.patient.setPlaceholderText(_("study identifier, e.g. ZJU-0007"))
        self.patient.setAccessibleName(_("Patient"))
        self.find_button = QPushButton(_("&Find values"), self)
        self.find_button.clicked.connect(self.find)
        self.patient.returnPressed.connect(self.find)
        self.value = QComboBox(self)
        self.value.setAccessibleName(_("Value"))
        self.value.setMinimumContentsLength(50)
        self.question = QPlainTextEdit(self)
        self.question.setAccessibleName(_("Question"))
        self.question.setMaximumHeight(100)
        self.message = QLabel(self)
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #b00020;")
        row = QHBoxLayout()
        row.addWidget(self.patient, 1)
        row.addWidget(self.find_button)
        form = QFormLayout()
        form.addRow(_("&Patient"), row)
        form.addRow(_("&Value"), self.value)
        form.addRow(_("&Question"), self.question)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.raise_button = self.buttons.addButton(_("&Raise query"),
                                                   QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.raised: QueryInfo | None = None
        if patient:
            self.find()

    def find(self) -> None:
        ref = self.patient.text().strip()
        if not ref:
            return
        self.tasks.run(lambda: self.service.targets(ref), self._fill, self._failed)

    def _fill(self, targets: list) -> None:  # type: ignore[type-arg]
        self.value.clear()
        for t in targets:
            self.value.addItem(f"{t.label}: {t.value}", (t.table, t.record_uid, t.field))
        self.message.setText("" if targets else _("Nothing recorded for this patient yet."))

    def submit(self) -> None:
        picked = self.value.currentData()
        question = self.question.toPlainText().strip()
        if picked is None:
            self.message.setText(_("Find the patient and choose the value first."))
            return
        if not question:
            self.message.setText(_("Write the question."))
            return
        table, record, field = picked
        ref = self.patient.text().strip()
        self.setEnabled(False)
        self.tasks.run(lambda: self.service.raise_query(ref, table, record, field, question),
                       self._done, self._failed)

    def _done(self, info: QueryInfo) -> None:
        self.setEnabled(True)
        self.raised = info
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self.setEnabled(True)
        if isinstance(exc, UserError):
            self.message.setText(str(exc))
        else:
            show_error(self, exc, context="raising a query")


class QueriesPage(AreaPage):
    """Queries of the selected study (or all), by state."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service: QueryService | None = None
        self.rows: list[QueryInfo] = []
        self._subscribed: Session | None = None
        self.state_box = QComboBox(self)
        self.state_box.setAccessibleName(_("State"))
        self.state_box.addItem(_("Open and answered"), "active")
        for state in STATES:
            self.state_box.addItem(_(STATE_LABELS[state]), state)
        self.state_box.addItem(_("All"), None)
        self.state_box.currentIndexChanged.connect(lambda _i: self.refresh())
        self.counts = QLabel(self)
        self.raise_button = QPushButton(_("&Raise query…"), self)
        self.answer_button = QPushButton(_("&Answer…"), self)
        self.close_button = QPushButton(_("&Close query…"), self)
        self.reopen_button = QPushButton(_("Re&open…"), self)
        self.raise_button.clicked.connect(self.raise_query)
        self.answer_button.clicked.connect(self.answer)
        self.close_button.clicked.connect(self.close_query)
        self.reopen_button.clicked.connect(self.reopen)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels([_(c) for c in COLUMNS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        self.table.setColumnWidth(7, 220)
        self.table.itemSelectionChanged.connect(self._selection)
        self.detail = QTextBrowser(self)
        self.status = QLabel(self)
        self.status.setStyleSheet("color: #b02a37;")
        top = QHBoxLayout()
        label = QLabel(_("&Show:"), self)
        label.setBuddy(self.state_box)
        top.addWidget(label)
        top.addWidget(self.state_box)
        top.addWidget(self.counts, 1)
        for button in (self.raise_button, self.answer_button, self.close_button,
                       self.reopen_button):
            top.addWidget(button)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.table)
        splitter.addWidget(self.detail)
        splitter.setSizes([400, 160])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.status)
        self.changed.connect(self.refresh)
        self._selection()

    # ----- session and study -------------------------------------------------------------
    def set_session(self, session: Session | None, tasks: TaskManager) -> None:
        super().set_session(session, tasks)
        self.service = QueryService(session) if session is not None else None
        if session is not None and self._subscribed is not session:
            self._subscribed = session
            session.tracker.subscribe(self._tracker_changed)
        self.refresh()

    def set_study(self, study: Study | None) -> None:
        super().set_study(study)
        self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        # Another workstation (or the command line) may have raised or answered queries.
        super().showEvent(event)
        self.refresh()

    def _tracker_changed(self, changes: Changes) -> None:
        if changes.touched("data_query"):
            self.changed.emit()  # queued to the GUI thread when committed on the worker

    def can(self, permission: Permission) -> bool:
        return self.session is not None and self.session.tracker.can(permission)

    # ----- the list ----------------------------------------------------------------------
    def refresh(self) -> None:
        if self.service is None or self.tasks is None or self.session is None \
                or self.session.tracker.actor is None:
            self.table.setRowCount(0)
            return
        service = self.service
        study = self.study.key if self.study else None
        state = self.state_box.currentData()

        def read() -> tuple[list[QueryInfo], dict[str, int]]:
            rows = service.queries(study_key=study,
                                   state=state if state in STATES else None)
            if state == "active":
                rows = [r for r in rows if r.state != "closed"]
            return rows, service.counts(study)

        self.tasks.run(read, self._fill, lambda e: show_error(self, e))

    def _fill(self, result: tuple[list[QueryInfo], dict[str, int]]) -> None:
        rows, counts = result
        selected = self.selected()
        self.rows = rows
        self.table.setRowCount(len(rows))
        for r, q in enumerate(rows):
            cells = (q.code, q.state_label, q.patient, q.item,
                     "" if q.value_seen is None else str(q.value_seen), _one_line(q.question),
                     f"{q.raised_by} {q.raised_at[:10]}", _one_line(q.answer))
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 1:
                    item.setForeground(QColor(STATE_COLOURS.get(q.state, "#000")))
                self.table.setItem(r, c, item)
            if selected is not None and q.uid == selected.uid:
                self.table.selectRow(r)
        for column in range(len(COLUMNS)):
            if column not in (5, 7):  # the question stretches; the answer keeps its width
                self.table.resizeColumnToContents(column)
        self.counts.setText(_("{open} open · {answered} answered · {closed} closed").format(
            **counts))
        self._selection()

    def selected(self) -> QueryInfo | None:
        model = self.table.selectionModel()
        rows = model.selectedRows() if model is not None else []
        return self.rows[rows[0].row()] if rows and rows[0].row() < len(self.rows) else None

    def _selection(self) -> None:
        q = self.selected()
        self.raise_button.setVisible(self.can(Permission.RAISE_QUERY))
        self.answer_button.setVisible(self.can(Permission.ANSWER_QUERY))
        self.close_button.setVisible(self.can(Permission.CLOSE_QUERY))
        self.reopen_button.setVisible(self.can(Permission.RAISE_QUERY))
        self.answer_button.setEnabled(q is not None and q.state == "open")
        self.close_button.setEnabled(q is not None and q.state != "closed")
        self.reopen_button.setEnabled(q is not None and q.state == "answered")
        self.detail.setHtml(self._detail_html(q) if q else "")

    @staticmethod
    def _detail_html(q: QueryInfo) -> str:
        e = escape
        value_label = _("Value when asked")
        parts = [f"<h3>{e(q.code)} · {e(q.patient)} · {e(q.item)} · {e(q.state_label)}</h3>",
                 f"<p><b>{e(value_label)}:</b> {e(str(q.value_seen))}</p>",
                 f"<p><b>{e(q.raised_by)}</b> {e(q.raised_at[:16].replace('T', ' '))}:<br>"
                 f"{e(q.question).replace(chr(10), '<br>')}</p>"]
        if q.answer:
            parts.append(f"<p><b>{e(q.answered_by or '')}</b> "
                         f"{e((q.answered_at or '')[:16].replace('T', ' '))}:<br>"
                         f"{e(q.answer)}</p>")
        if q.closed_by:
            closed = _("Closed by {user}").format(user=q.closed_by)
            parts.append(f"<p><b>{e(closed)}</b> "
                         f"{e((q.closed_at or '')[:16].replace('T', ' '))}"
                         f"{': ' + e(q.close_note) if q.close_note else ''}</p>")
        return "".join(parts)

    # ----- actions ---------------------------------------------------------------------
    def _run(self, work: object) -> None:
        assert self.tasks is not None

        def failed(exc: BaseException) -> None:
            if isinstance(exc, UserError):
                self.status.setText(str(exc))
            else:
                show_error(self, exc)

        self.status.setText("")
        self.tasks.run(work, lambda _r: self.refresh(), failed)  # type: ignore[arg-type]

    def raise_query(self) -> None:
        if self.service is None or self.tasks is None:
            return
        dialog = RaiseQueryDialog(self.service, self.tasks, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.refresh()

    def answer(self) -> None:
        q, service = self.selected(), self.service
        if q is None or service is None:
            return
        dialog = TextDialog(_("Answer {query}").format(query=q.code), q.question, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            text = dialog.value()
            self._run(lambda: service.answer(q.uid, text, expected_version=q.version))

    def close_query(self) -> None:
        q, service = self.selected(), self.service
        if q is None or service is None:
            return
        dialog = TextDialog(_("Close {query}").format(query=q.code),
                            _("A note for the record (optional)."), self, required=False)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            note = dialog.value() or None
            self._run(lambda: service.close(q.uid, note, expected_version=q.version))

    def reopen(self) -> None:
        q, service = self.selected(), self.service
        if q is None or service is None:
            return
        dialog = TextDialog(_("Reopen {query}").format(query=q.code),
                            _("The follow-up question for the site."), self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            text = dialog.value()
            self._run(lambda: service.reopen(q.uid, text, expected_version=q.version))
