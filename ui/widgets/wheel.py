"""The mouse wheel scrolls the page, not the drop-down or number box under the pointer.

Qt gives a wheel event to whatever widget is under the pointer: scrolling down a long form
(the screening page, the Treatment & course tab) silently changed each combo box or spin
box the pointer passed over. :class:`WheelGuard`, installed once on the application, lets
such a widget take the wheel only when it has the keyboard focus (the user chose it) and
otherwise hands the event to the scroll area around it, which scrolls.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QWidget,
)

#: Widgets whose value a stray wheel would change.
GUARDED = (QComboBox, QAbstractSpinBox)


def _guarded(widget: QWidget | None) -> QWidget | None:
    """The guarded widget ``widget`` is or belongs to (a spin box's line edit), or None."""
    while widget is not None:
        if isinstance(widget, GUARDED):
            return widget
        if isinstance(widget, QAbstractScrollArea) or widget.isWindow():
            return None
        widget = widget.parentWidget()
    return None


class WheelGuard(QObject):
    """Application-wide event filter: no wheel for an unfocused combo or spin box."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.Wheel or not isinstance(watched, QWidget):
            return False
        target = _guarded(watched)
        if target is None or target.hasFocus():
            return False
        area = target.parentWidget()
        while area is not None and not isinstance(area, QAbstractScrollArea):
            area = area.parentWidget()
        if area is not None:
            # The page scrolls as if the pointer were over its empty background.
            QApplication.sendEvent(area.viewport(), event)
        return True  # the value under the pointer never changes


_guard: WheelGuard | None = None


def install_wheel_guard() -> None:
    """Install the guard on the running application (once; later calls do nothing)."""
    global _guard
    app = QApplication.instance()
    if app is None or _guard is not None:
        return
    _guard = WheelGuard(app)
    app.installEventFilter(_guard)
