"""The idle lock: after the site's ``idle_lock_minutes`` without keyboard or mouse input the
window is covered and asks for the signed-in account's password again.

Nothing is closed or saved by locking: forms keep what was typed in them, and the same
person carries on after unlocking. Someone else cannot take over the session — only the
signed-in account's password unlocks it (a wrong one counts towards the lockout); they can
quit the program instead, which loses the unsaved input, as closing would.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gisttracker.errors import UserError
from gisttracker.i18n import _
from gisttracker.services.accounts import AccountService
from gisttracker.services.policy import Actor
from ui.errors import show_error
from ui.tasks import TaskManager

# What counts as the user being there.
ACTIVITY = frozenset({QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress,
                      QEvent.Type.MouseMove, QEvent.Type.Wheel, QEvent.Type.TouchBegin})


class LockScreen(QDialog):
    """Covers the window until the signed-in account's password is typed."""

    unlocked = Signal()
    quit_requested = Signal()

    def __init__(self, service: AccountService, tasks: TaskManager, actor: Actor,
                 minutes: int | None, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Dialog | Qt.WindowType.FramelessWindowHint)
        self.service = service
        self.tasks = tasks
        self.setModal(True)
        self.setWindowModality(Qt.WindowModality.ApplicationModal)
        self.setObjectName("lock_screen")
        self.setStyleSheet("#lock_screen { background: #24303f; } "
                           "QLabel { color: white; } QLabel#lock_message { color: #ffb4b4; }")
        title = QLabel(_("Locked"), self)
        title_font = QFont(self.font())
        title_font.setBold(True)
        if title_font.pointSizeF() > 0:
            title_font.setPointSizeF(title_font.pointSizeF() * 2)
        title.setFont(title_font)
        person = f"{actor.full_name or actor.name} ({actor.name})"
        if minutes is None:
            text = _("{person} locked the window. Type the password to carry on; what was "
                     "typed in the forms is kept.").format(person=person)
        else:
            text = _("Nobody used the window for {minutes} minutes, so it locked. {person}: "
                     "type your password to carry on; what you had typed is kept.").format(
                minutes=minutes, person=person)
        who = QLabel(text, self)
        who.setWordWrap(True)
        # Room for three lines: a wrapped label inside nested layouts is otherwise given
        # the height of one.
        who.setMinimumHeight(who.fontMetrics().lineSpacing() * 3 + 4)
        self.password = QLineEdit(self)
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setAccessibleName(_("Password"))
        self.password.setMinimumWidth(280)
        self.password.returnPressed.connect(self.submit)
        self.unlock_button = QPushButton(_("&Unlock"), self)
        self.unlock_button.setDefault(True)
        self.unlock_button.clicked.connect(self.submit)
        self.quit_button = QPushButton(_("&Quit the program"), self)
        self.quit_button.clicked.connect(self.quit_requested.emit)
        self.message = QLabel(self)
        self.message.setObjectName("lock_message")
        self.message.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.password)
        row.addWidget(self.unlock_button)
        box = QVBoxLayout()
        box.addWidget(title)
        box.addWidget(who)
        box.addLayout(row)
        box.addWidget(self.message)
        box.addWidget(self.quit_button, 0, Qt.AlignmentFlag.AlignLeft)
        inner = QWidget(self)
        inner.setLayout(box)
        inner.setFixedWidth(560)  # a fixed width lets the wrapped text take its height
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        outer.addWidget(inner, 0, Qt.AlignmentFlag.AlignHCenter)
        outer.addStretch(2)

    def submit(self) -> None:
        password = self.password.text()
        if not password:
            return
        self.message.setText(_("Checking…"))
        self.password.setEnabled(False)
        self.unlock_button.setEnabled(False)
        self.tasks.run(lambda: self.service.verify_password(password), self._done,
                       self._failed)

    def _done(self, _actor: object) -> None:
        self.password.clear()
        self.message.setText("")
        self.accept()
        self.unlocked.emit()

    def _failed(self, exc: BaseException) -> None:
        self.password.setEnabled(True)
        self.unlock_button.setEnabled(True)
        self.password.clear()
        self.password.setFocus()
        if isinstance(exc, UserError):
            self.message.setText(str(exc))
        else:
            self.message.setText("")
            show_error(self, exc, context="unlocking the window")

    def reject(self) -> None:
        """Escape does not unlock."""


class IdleLock(QObject):
    """Watches the application's input and shows a :class:`LockScreen` over ``window``
    after ``minutes`` idle (``interval_ms`` overrides the interval, for tests)."""

    locked = Signal()
    unlocked = Signal()

    def __init__(self, window: QWidget, service: AccountService, tasks: TaskManager,
                 actor: Actor, minutes: int, interval_ms: int | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.service = service
        self.tasks = tasks
        self.actor = actor
        self.minutes = minutes
        self.screen: LockScreen | None = None
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(interval_ms if interval_ms is not None else minutes * 60_000)
        self.timer.timeout.connect(self.lock)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)
        self.timer.start()

    @property
    def is_locked(self) -> bool:
        return self.screen is not None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if self.screen is None and event.type() in ACTIVITY:
            self.timer.start()
        return False

    def lock(self, *, idle: bool = True) -> None:
        """Cover the window now (the timer, or "Lock now" with ``idle`` False)."""
        if self.screen is not None:
            return
        self.timer.stop()
        screen = LockScreen(self.service, self.tasks, self.actor,
                            self.minutes if idle else None, self.window)
        screen.setGeometry(self.window.frameGeometry())
        screen.unlocked.connect(self._unlocked)
        screen.quit_requested.connect(self._quit)
        self.screen = screen
        screen.open()
        screen.password.setFocus()
        self.locked.emit()

    def _unlocked(self) -> None:
        if self.screen is not None:
            self.screen.deleteLater()
        self.screen = None
        self.timer.start()
        self.unlocked.emit()

    def _quit(self) -> None:
        app = QApplication.instance()
        if app is not None:
            app.quit()

    def stop(self) -> None:
        """No more locking (the session closes)."""
        self.timer.stop()
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        if self.screen is not None:
            self.screen.done(0)
            self.screen.deleteLater()
            self.screen = None
