"""Signing, unlocking and source verification in the window.

:class:`SignatureDialog` asks the investigator for the password again and shows what the
signature means; :class:`UnlockDialog` asks for the reason. :class:`ReviewPanel` is the
strip a visit, a form or a casebook shows: who signed it and when (the lock), who verified
it against the source, and the buttons the signed-in role may use — one line to add to any
page that shows such data.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from gisttracker.errors import UserError
from gisttracker.i18n import _
from gisttracker.services.policy import Permission
from gisttracker.services.scopes import SCOPE_LABELS
from gisttracker.services.signatures import (
    DEFAULT_MEANING,
    MEANINGS,
    SignatureInfo,
    SignatureService,
)
from gisttracker.services.verification import VerificationInfo, VerificationService
from gisttracker.session import Session
from ui.errors import show_error
from ui.tasks import TaskManager

ERROR_STYLE = "color: #b00020;"


class SignatureDialog(QDialog):
    """Sign a casebook, visit or form: the meaning, who signs, and the password again."""

    def __init__(self, session: Session, tasks: TaskManager, scope: str, target: str,
                 label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.tasks = tasks
        self.scope = scope
        self.target = target
        self.signed: SignatureInfo | None = None
        actor = session.tracker.actor
        self.setWindowTitle(_("Sign {what}").format(what=label))
        self.setMinimumWidth(480)
        meaning = QLabel(_("By signing I confirm that I have {meaning} the data of {what} "
                           "as recorded now. Signed data is locked until an investigator "
                           "unlocks it with a reason.").format(
            meaning=_(MEANINGS[DEFAULT_MEANING]), what=label), self)
        meaning.setWordWrap(True)
        who = QLabel(f"{actor.full_name} ({actor.name})" if actor else "—", self)
        self.password = QLineEdit(self)
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setAccessibleName(_("Password"))
        form = QFormLayout()
        form.addRow(_("Signed by"), who)
        form.addRow(_("&Password"), self.password)
        self.message = QLabel(self)
        self.message.setWordWrap(True)
        self.message.setStyleSheet(ERROR_STYLE)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.sign_button = self.buttons.addButton(_("&Sign"),
                                                  QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(meaning)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.password.setFocus()

    def submit(self) -> None:
        password = self.password.text()
        if not password:
            self.message.setText(_("Type your password to sign."))
            return
        self.setEnabled(False)
        self.message.setText(_("Checking…"))
        service = SignatureService(self.session)
        self.tasks.run(lambda: service.sign(self.scope, self.target, password), self._done,
                       self._failed)

    def _done(self, info: SignatureInfo) -> None:
        self.setEnabled(True)
        self.signed = info
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self.setEnabled(True)
        self.password.clear()
        if isinstance(exc, UserError):
            self.message.setText(str(exc))
        else:
            self.message.setText("")
            show_error(self, exc, context="signing")


class UnlockDialog(QDialog):
    """Why signed data must change: the reason is kept in the audit trail."""

    def __init__(self, session: Session, tasks: TaskManager, scope: str, target: str,
                 label: str, signature: SignatureInfo,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.tasks = tasks
        self.scope = scope
        self.target = target
        self.setWindowTitle(_("Unlock {what}").format(what=label))
        self.setMinimumWidth(480)
        text = QLabel(_("{signature}. Unlocking removes this signature so the data can "
                        "change; it must be signed again afterwards.").format(
            signature=signature.describe()), self)
        text.setWordWrap(True)
        self.reason = QPlainTextEdit(self)
        self.reason.setAccessibleName(_("Reason"))
        self.reason.setPlaceholderText(_("Why must the signed data change?"))
        self.reason.setMaximumHeight(90)
        self.message = QLabel(self)
        self.message.setStyleSheet(ERROR_STYLE)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.unlock_button = self.buttons.addButton(_("&Unlock"),
                                                    QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(QLabel(_("&Reason"), self))
        layout.addWidget(self.reason)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)

    def submit(self) -> None:
        reason = self.reason.toPlainText().strip()
        if not reason:
            self.message.setText(_("Say why the signed data must change."))
            return
        self.setEnabled(False)
        service = SignatureService(self.session)
        self.tasks.run(lambda: service.unlock(self.scope, self.target, reason),
                       lambda _r: self.accept(), self._failed)

    def _failed(self, exc: BaseException) -> None:
        self.setEnabled(True)
        if isinstance(exc, UserError):
            self.message.setText(str(exc))
        else:
            show_error(self, exc, context="unlocking")


@dataclass(frozen=True)
class ReviewState:
    own: SignatureInfo | None  # this target's own signature
    lock: SignatureInfo | None  # what locks it (its own, or its visit's / casebook's)
    verified: VerificationInfo | None


class ReviewPanel(QWidget):
    """Signature, lock and source verification of one casebook, visit or form, with the
    buttons the signed-in role may use. ``changed`` fires after signing, unlocking or
    verifying (the page reloads what it shows)."""

    changed = Signal()
    shown = Signal(object)  # the ReviewState just shown

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session: Session | None = None
        self.tasks: TaskManager | None = None
        self.scope = ""
        self.caption = ""
        self.target = ""
        self.label = ""
        self.state: ReviewState | None = None
        self.signature_label = QLabel(self)
        self.signature_label.setWordWrap(True)
        self.verified_label = QLabel(self)
        self.verified_label.setWordWrap(True)
        self.sign_button = QPushButton(_("Si&gn…"), self)
        self.unlock_button = QPushButton(_("Unl&ock…"), self)
        self.verify_button = QPushButton(_("Mark source-&verified"), self)
        self.sign_button.clicked.connect(self.sign)
        self.unlock_button.clicked.connect(self.unlock)
        self.verify_button.clicked.connect(self.verify)
        texts = QVBoxLayout()
        texts.setContentsMargins(0, 0, 0, 0)
        texts.addWidget(self.signature_label)
        texts.addWidget(self.verified_label)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addLayout(texts, 1)
        for button in (self.sign_button, self.unlock_button, self.verify_button):
            row.addWidget(button)
        self.setVisible(False)

    def show_target(self, session: Session | None, tasks: TaskManager | None, scope: str,
                    target: str | None, label: str, caption: str = "") -> None:
        """Show the state of ``scope`` ``target`` (a patient uid or study id for a
        casebook, a visit or form uid), read on the worker. ``caption`` names it in front
        of the state where the page around does not (the patient window's casebook)."""
        self.caption = caption
        self.session, self.tasks = session, tasks
        self.scope, self.target, self.label = scope, target or "", label
        if session is None or tasks is None or not target:
            self.setVisible(False)
            return
        sigs, sdv = SignatureService(session), VerificationService(session)

        def read() -> ReviewState:
            resolved = sigs.target(scope, self.target)
            return ReviewState(sigs.signature(scope, resolved.uid),
                               sigs.lock(scope, resolved.uid),
                               sdv.status(scope, resolved.uid))

        tasks.run(read, self._show, lambda e: show_error(self, e))

    def _show(self, state: ReviewState) -> None:
        if not isValid(self) or not isValid(self.signature_label):
            return  # the window was closed while the state was being read
        self.state = state
        tracker = self.session.tracker if self.session else None
        lock = state.lock
        if lock is None:
            self.signature_label.setText(_("Not signed."))
            self.signature_label.setStyleSheet("color: #555;")
        else:
            text = lock.describe()
            if state.own is None:
                text = _("Locked by the signature of its {scope}: {signature}").format(
                    scope=_(SCOPE_LABELS[lock.scope]), signature=text)
            self.signature_label.setText(text)
            self.signature_label.setStyleSheet("color: #0b5e2a; font-weight: 600;")
        verified = state.verified
        self.verified_label.setText(verified.describe() if verified else
                                    _("Not source-verified."))
        if self.caption:
            self.signature_label.setText(_("{what}: {state}").format(
                what=self.caption, state=self.signature_label.text()))
        self.verified_label.setStyleSheet(
            "color: #8a5a00;" if verified and verified.changed_since else
            ("color: #0b4f8a;" if verified else "color: #555;"))
        can = (lambda p: tracker.can(p)) if tracker else (lambda _p: False)
        self.sign_button.setVisible(can(Permission.SIGN))
        self.sign_button.setEnabled(lock is None)
        self.unlock_button.setVisible(can(Permission.UNLOCK) and state.own is not None)
        self.verify_button.setVisible(can(Permission.VERIFY))
        self.verify_button.setText(_("Verify &again") if verified else
                                   _("Mark source-&verified"))
        self.setVisible(True)
        self.shown.emit(state)

    def sign(self) -> None:
        if self.session is None or self.tasks is None:
            return
        dialog = SignatureDialog(self.session, self.tasks, self.scope, self.target,
                                 self.label, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self._reload()

    def unlock(self) -> None:
        if self.session is None or self.tasks is None or self.state is None \
                or self.state.own is None:
            return
        dialog = UnlockDialog(self.session, self.tasks, self.scope, self.target, self.label,
                              self.state.own, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self._reload()

    def verify(self) -> None:
        if self.session is None or self.tasks is None:
            return
        service = VerificationService(self.session)
        self.tasks.run(lambda: service.verify(self.scope, self.target),
                       lambda _r: self._reload(), lambda e: show_error(self, e))

    def _reload(self) -> None:
        self.show_target(self.session, self.tasks, self.scope, self.target, self.label,
                         self.caption)
        self.changed.emit()
