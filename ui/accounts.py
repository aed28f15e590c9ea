"""Signing in, the first administrator, one's own password, and the administrator's
accounts dialog.

Every check of a password runs on the background worker (Argon2id takes a noticeable
fraction of a second by design); the dialog stays open, says what was wrong under the
field, and closes only when the service accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gisttracker.errors import UserError
from gisttracker.i18n import _
from gisttracker.services.accounts import MIN_PASSWORD, AccountRow, AccountService
from gisttracker.services.policy import ROLE_LABELS, Actor, Role
from ui.errors import show_error
from ui.tasks import TaskManager

ERROR_STYLE = "color: #b00020;"


def _password_edit(parent: QWidget, name: str) -> QLineEdit:
    edit = QLineEdit(parent)
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    edit.setAccessibleName(name)
    return edit


class _WorkingDialog(QDialog):
    """A dialog whose OK runs a service call on the worker and closes when it succeeds."""

    def __init__(self, tasks: TaskManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tasks = tasks
        self.message = QLabel(self)
        self.message.setWordWrap(True)
        self.message.setStyleSheet(ERROR_STYLE)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel, self)
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        self.result_value: Any = None

    def ok_button(self) -> QPushButton:
        button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        assert button is not None
        return button

    def check(self) -> str | None:
        """A message when the input cannot be sent yet (checked on the GUI thread)."""
        return None

    def work(self) -> Any:
        """The service call (runs on the worker; touches no widget)."""
        raise NotImplementedError

    def submit(self) -> None:
        problem = self.check()
        if problem:
            self.message.setText(problem)
            return
        self.message.setText(_("Checking…"))
        self.setEnabled(False)
        self.tasks.run(self.work, self._done, self._failed)

    def _done(self, value: Any) -> None:
        self.setEnabled(True)
        self.result_value = value
        self.message.setText("")
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self.setEnabled(True)
        if isinstance(exc, UserError):
            self.message.setText(str(exc))
            self.failed(exc)
        else:
            self.message.setText("")
            show_error(self, exc, context=type(self).__name__)

    def failed(self, exc: UserError) -> None:
        """After an expected error is shown (e.g. clear the password field)."""


class SignInDialog(_WorkingDialog):
    """The user name and password of an account of this site."""

    def __init__(self, service: AccountService, tasks: TaskManager, site: str,
                 parent: QWidget | None = None, name: str = "") -> None:
        super().__init__(tasks, parent)
        self.service = service
        self.setWindowTitle(_("Sign in — GIST Study Tracker"))
        self.setMinimumWidth(420)
        intro = QLabel(_("Sign in to {site}.").format(site=site), self)
        intro.setWordWrap(True)
        self.name = QLineEdit(name, self)
        self.name.setAccessibleName(_("User name"))
        self.password = _password_edit(self, _("Password"))
        form = QFormLayout()
        form.addRow(_("&User name"), self.name)
        form.addRow(_("&Password"), self.password)
        self.ok_button().setText(_("Sign in"))
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        (self.password if name else self.name).setFocus()

    def check(self) -> str | None:
        if not self.name.text().strip() or not self.password.text():
            return _("Type your user name and password.")
        return None

    def work(self) -> Actor:
        return self.service.sign_in(self.name.text(), self.password.text(), switch=False)

    def failed(self, exc: UserError) -> None:
        self.password.clear()
        self.password.setFocus()


class _NewPassword:
    """Two password fields that must agree and be long enough."""

    def __init__(self, parent: QWidget, form: QFormLayout, label: str) -> None:
        self.first = _password_edit(parent, label)
        self.again = _password_edit(parent, _("The same password again"))
        form.addRow(label, self.first)
        form.addRow(_("Again"), self.again)
        hint = QLabel(_("At least {n} characters.").format(n=MIN_PASSWORD), parent)
        hint.setStyleSheet("color: #555;")
        form.addRow("", hint)

    def problem(self) -> str | None:
        if len(self.first.text()) < MIN_PASSWORD:
            return _("A password needs at least {n} characters.").format(n=MIN_PASSWORD)
        if self.first.text() != self.again.text():
            return _("The two passwords differ.")
        return None

    def value(self) -> str:
        return self.first.text()


class FirstAdministratorDialog(_WorkingDialog):
    """A new site: create its administrator (who is then signed in)."""

    def __init__(self, service: AccountService, tasks: TaskManager, site: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(tasks, parent)
        self.service = service
        self.setWindowTitle(_("New site: create the administrator"))
        self.setMinimumWidth(480)
        intro = QLabel(_(
            "{site} has no accounts yet. Create the administrator: the person who adds the "
            "other accounts (investigators, research nurses, monitors) and keeps the "
            "randomization key. Keep this password safe; a second administrator account is "
            "a good idea.").format(site=site), self)
        intro.setWordWrap(True)
        self.name = QLineEdit(self)
        self.name.setPlaceholderText(_("e.g. wang.li"))
        self.name.setAccessibleName(_("User name"))
        self.full_name = QLineEdit(self)
        self.full_name.setAccessibleName(_("Full name"))
        form = QFormLayout()
        form.addRow(_("&User name"), self.name)
        form.addRow(_("&Full name"), self.full_name)
        self.password = _NewPassword(self, form, _("&Password"))
        self.ok_button().setText(_("Create and sign in"))
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.name.setFocus()

    def check(self) -> str | None:
        if not self.name.text().strip() or not self.full_name.text().strip():
            return _("Give a user name and the full name.")
        return self.password.problem()

    def work(self) -> Actor:
        return self.service.create_first_administrator(self.name.text(),
                                                       self.full_name.text(),
                                                       self.password.value())


class ChangePasswordDialog(_WorkingDialog):
    """The signed-in account changes its own password."""

    def __init__(self, service: AccountService, tasks: TaskManager,
                 parent: QWidget | None = None) -> None:
        super().__init__(tasks, parent)
        self.service = service
        self.setWindowTitle(_("Change your password"))
        self.old = _password_edit(self, _("Current password"))
        form = QFormLayout()
        form.addRow(_("&Current password"), self.old)
        self.new = _NewPassword(self, form, _("&New password"))
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)

    def check(self) -> str | None:
        return self.new.problem()

    def work(self) -> None:
        self.service.change_password(self.old.text(), self.new.value())


class AccountDialog(_WorkingDialog):
    """An administrator adds an account, or sets another account's password or role."""

    def __init__(self, service: AccountService, tasks: TaskManager, *,
                 row: AccountRow | None = None, what: str = "add",
                 parent: QWidget | None = None) -> None:
        super().__init__(tasks, parent)
        self.service = service
        self.row = row
        self.what = what
        form = QFormLayout()
        self.name = QLineEdit(row.name if row else "", self)
        self.name.setAccessibleName(_("User name"))
        self.full_name = QLineEdit(row.full_name if row else "", self)
        self.full_name.setAccessibleName(_("Full name"))
        self.role = QComboBox(self)
        self.role.setAccessibleName(_("Role"))
        for role in Role:
            self.role.addItem(_(ROLE_LABELS[role]), role.value)
        if row is not None:
            self.role.setCurrentIndex(self.role.findData(row.role.value))
        self.password: _NewPassword | None = None
        if what == "add":
            self.setWindowTitle(_("Add an account"))
            form.addRow(_("&User name"), self.name)
            form.addRow(_("&Full name"), self.full_name)
            form.addRow(_("&Role"), self.role)
            self.password = _NewPassword(self, form, _("&Password"))
        elif what == "password":
            assert row is not None
            self.setWindowTitle(_("New password for {name}").format(name=row.name))
            self.password = _NewPassword(self, form, _("&New password"))
        else:
            assert row is not None
            self.setWindowTitle(_("Role of {name}").format(name=row.name))
            form.addRow(_("&Role"), self.role)
            note = QLabel(_("An account that may randomize receives the allocation key when "
                            "you next set its password."), self)
            note.setWordWrap(True)
            form.addRow("", note)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)

    def check(self) -> str | None:
        if self.what == "add" and (not self.name.text().strip()
                                   or not self.full_name.text().strip()):
            return _("Give a user name and the full name.")
        return self.password.problem() if self.password is not None else None

    def work(self) -> object:
        role = str(self.role.currentData())
        if self.what == "add":
            assert self.password is not None
            return self.service.create(self.name.text(), self.full_name.text(), role,
                                       self.password.value())
        assert self.row is not None
        if self.what == "password":
            assert self.password is not None
            self.service.reset_password(self.row.name, self.password.value())
        else:
            self.service.set_role(self.row.name, role)
        return None


class UsersDialog(QDialog):
    """The administrator's list of accounts, with what can be done to each."""

    COLUMNS = ("name", "full name", "role", "state", "allocation key")

    def __init__(self, service: AccountService, tasks: TaskManager,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.tasks = tasks
        self.rows: list[AccountRow] = []
        self.setWindowTitle(_("User accounts"))
        self.resize(760, 420)
        self.table = QTableWidget(0, 5, self)
        self.table.setHorizontalHeaderLabels([_("User name"), _("Full name"), _("Role"),
                                              _("State"), _("Allocation key")])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.add_button = QPushButton(_("&Add…"), self)
        self.password_button = QPushButton(_("Set &password…"), self)
        self.role_button = QPushButton(_("Change &role…"), self)
        self.active_button = QPushButton(_("&Deactivate"), self)
        self.unlock_button = QPushButton(_("&Unlock"), self)
        self.add_button.clicked.connect(lambda: self._edit("add"))
        self.password_button.clicked.connect(lambda: self._edit("password"))
        self.role_button.clicked.connect(lambda: self._edit("role"))
        self.active_button.clicked.connect(self._toggle_active)
        self.unlock_button.clicked.connect(self._unlock)
        self.table.itemSelectionChanged.connect(self._selection)
        self.status = QLabel(self)
        self.status.setStyleSheet(ERROR_STYLE)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        close.rejected.connect(self.reject)
        bar = QHBoxLayout()
        for button in (self.add_button, self.password_button, self.role_button,
                       self.active_button, self.unlock_button):
            bar.addWidget(button)
        bar.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(bar)
        layout.addWidget(self.status)
        layout.addWidget(close)
        self.refresh()

    def refresh(self) -> None:
        self.tasks.run(self.service.accounts, self._fill, lambda e: show_error(self, e))

    def _fill(self, rows: list[AccountRow]) -> None:
        self.rows = rows
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            state = _("active") if row.active else _("deactivated")
            if row.locked_until:
                state += " · " + _("locked until {when}").format(
                    when=row.locked_until[:16].replace("T", " "))
            cells = (row.name, row.full_name, row.role_label, state,
                     _("holds it") if row.holds_allocation_key else "—")
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, row.name)
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self._selection()

    def selected(self) -> AccountRow | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self.rows[rows[0].row()] if rows else None

    def _selection(self) -> None:
        row = self.selected()
        for button in (self.password_button, self.role_button, self.active_button,
                       self.unlock_button):
            button.setEnabled(row is not None)
        if row is not None:
            self.active_button.setText(_("&Deactivate") if row.active else _("Re&activate"))
            self.unlock_button.setEnabled(bool(row.locked_until))

    def _edit(self, what: str) -> None:
        row = None if what == "add" else self.selected()
        dialog = AccountDialog(self.service, self.tasks, row=row, what=what, parent=self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.refresh()

    def _run(self, work: Callable[[], object]) -> None:
        def failed(exc: BaseException) -> None:
            if isinstance(exc, UserError):
                self.status.setText(str(exc))
            else:
                show_error(self, exc)

        self.status.setText("")
        self.tasks.run(work, lambda _r: self.refresh(), failed)

    def _toggle_active(self) -> None:
        row = self.selected()
        if row is None:
            return
        if row.active and QMessageBox.question(
                self, _("Deactivate"), _("Deactivate {name}? The account can no longer sign "
                                         "in.").format(name=row.name)) != \
                QMessageBox.StandardButton.Yes:
            return
        self._run(lambda: self.service.set_active(row.name, not row.active))

    def _unlock(self) -> None:
        row = self.selected()
        if row is not None:
            self._run(lambda: self.service.unlock(row.name))
