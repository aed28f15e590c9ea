"""A small dialog of labelled fields with a message beside each, and a reason for the change.

Used wherever a few values are asked for at once (an interruption, a dose change, the end
of participation, a correction): OK is refused — with the message beside the field — until
every field can be read, and a required reason is never skipped. The dialog only reads; the
caller saves on the background worker and, when the service refuses, shows the service's
messages beside the same fields (:meth:`RecordDialog.show_errors`) with the dialog still open.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from gisttracker.errors import InputError
from gisttracker.i18n import _
from ui.widgets.date_field import DateField, DateInputError

ERROR_STYLE = "QLabel { color: #b00020; }"


class FieldError(InputError):
    """A field that cannot be read; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field=field)
        self.field: str = field


class RecordDialog(QDialog):
    """Labelled fields, a message beside each, an optional reason, OK and Cancel.

    ``read`` turns the fields into the value the caller wants (raising
    :class:`FieldError` or :class:`DateInputError` for a field that cannot be read); OK
    closes the dialog only when it succeeds, and :attr:`result_value` holds the value.
    ``submit``, when given, is called with the value instead of closing: it saves (on the
    worker) and calls :meth:`done_ok` or :meth:`show_errors`.
    """

    def __init__(self, title: str, parent: QWidget | None = None, *, prompt: str = "",
                 reason: str = "none", reason_label: str | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(460)
        self.form = QFormLayout(self)
        if prompt:
            text = QLabel(prompt, self)
            text.setWordWrap(True)
            self.form.addRow(text)
        self.fields: dict[str, QWidget] = {}
        self.messages: dict[str, QLabel] = {}
        self.read: Callable[[RecordDialog], Any] = lambda _d: None
        self.submit: Callable[[Any], None] | None = None
        self.result_value: Any = None
        self.reason_required = reason == "required"
        self.reason: QLineEdit | None = None
        self._reason_mode = reason
        self._reason_label = reason_label
        self.general = QLabel(self)
        self.general.setStyleSheet(ERROR_STYLE)
        self.general.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.buttons.accepted.connect(self._ok)
        self.buttons.rejected.connect(self.reject)
        self._finished = False

    def add(self, key: str, label: str, widget: QWidget, *, wide: bool = False) -> QWidget:
        """A labelled field; its message appears beside it (below it for a ``wide`` field,
        such as a list, which then has the whole width of the dialog)."""
        message = QLabel(self)
        message.setStyleSheet(ERROR_STYLE)
        message.setWordWrap(True)
        row: QHBoxLayout | QVBoxLayout
        if wide:
            row = QVBoxLayout()
            row.addWidget(widget, 1)
            row.addWidget(message)
        else:
            row = QHBoxLayout()
            row.addWidget(widget, 3)
            row.addWidget(message, 2)
        caption = QLabel(label, self)
        caption.setBuddy(widget)
        self.form.addRow(caption, row)
        self.fields[key] = widget
        self.messages[key] = message
        if isinstance(widget, DateField):
            widget.problem_changed.connect(message.setText)
        return widget

    def finish(self) -> None:
        """Add the reason (if asked for), the message line and the buttons, in that order."""
        if self._finished:
            return
        self._finished = True
        if self._reason_mode != "none":
            self.reason = QLineEdit(self)
            self.reason.setPlaceholderText(_("required") if self.reason_required
                                           else _("optional"))
            self.add("reason", self._reason_label or _("&Reason for the change"), self.reason)
        self.form.addRow(self.general)
        self.form.addRow(self.buttons)

    def reason_text(self) -> str:
        return self.reason.text().strip() if self.reason is not None else ""

    # ----- reading --------------------------------------------------------------------------
    def text(self, key: str, *, required: bool = False, what: str = "") -> str:
        widget = self.fields[key]
        if isinstance(widget, QPlainTextEdit):
            value = widget.toPlainText().strip()
        else:
            assert isinstance(widget, QLineEdit)
            value = widget.text().strip()
        if required and not value:
            raise FieldError(key, what or _("required"))
        return value

    def number(self, key: str, *, required: bool = False) -> float | None:
        text = self.text(key).replace(",", ".")
        if not text:
            if required:
                raise FieldError(key, _("enter a number"))
            return None
        try:
            return float(text)
        except ValueError:
            raise FieldError(key, _("{text!r} is not a number").format(text=text)) from None

    def date(self, key: str) -> Any:
        widget = self.fields[key]
        assert isinstance(widget, DateField)
        try:
            return widget.value()
        except DateInputError:
            raise FieldError(key, widget.problem() or "") from None

    def choice(self, key: str) -> Any:
        widget = self.fields[key]
        assert isinstance(widget, QComboBox)
        return widget.currentData()

    # ----- OK -------------------------------------------------------------------------------
    def show_errors(self, errors: dict[str, str]) -> None:
        """Messages beside the fields they name; the rest on the message line."""
        for key, label in self.messages.items():
            label.setText(errors.get(key, ""))
        rest = [m for k, m in errors.items() if k not in self.messages and m]
        self.general.setText("\n".join(rest))
        first = next((self.fields[k] for k in self.fields if errors.get(k)), None)
        if first is not None:
            first.setFocus()
        self.buttons.setEnabled(True)

    def _ok(self) -> None:
        self.finish()
        try:
            value = self.read(self)
        except FieldError as exc:
            self.show_errors({exc.field: str(exc)})
            return
        if self.reason_required and not self.reason_text():
            self.show_errors({"reason": _("Please give a reason.")})
            return
        self.result_value = value
        if self.submit is not None:
            self.buttons.setEnabled(False)  # until the worker answers
            self.general.setText(_("Saving…"))
            self.submit(value)
            return
        self.accept()

    def done_ok(self) -> None:
        """The save went through: close."""
        self.buttons.setEnabled(True)
        self.general.clear()
        self.accept()

    def _focus_first(self) -> None:
        for widget in self.fields.values():
            if widget.isEnabled() and widget.focusPolicy() != Qt.FocusPolicy.NoFocus:
                widget.setFocus()
                return

    def exec(self) -> int:
        self.finish()
        focus = QTimer(self)
        focus.setSingleShot(True)
        focus.timeout.connect(self._focus_first)
        focus.start(0)
        return super().exec()

    def open(self) -> None:
        self.finish()
        super().open()
        self._focus_first()

    def show(self) -> None:
        self.finish()
        super().show()
        self._focus_first()
