"""The mouse wheel scrolls the page, not the drop-down or number box under the pointer.

Qt gives a wheel event to whatever widget is under the pointer: scrolling down a long form
(the screening page, the Treatment & course tab, a form editor) silently changed each combo
box or spin box the pointer passed over. On those pages such a widget now takes the wheel
only when it has the keyboard focus (the user chose it); otherwise the event goes to the
scroll area around it, which scrolls.

The guard is an event filter on each of those widgets (:func:`guard_wheels` walks a page once
it is built). Not one filter on the whole application, nor a Python style: those run Python
for objects Qt is still building or already destroying, and crashed the window now and then.
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


class WheelGuard(QObject):
    """Event filter of guarded widgets: no wheel unless the widget has the focus."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.Wheel or not isinstance(watched, QWidget):
            return False
        if watched.hasFocus():
            return False
        area = watched.parentWidget()
        while area is not None and not isinstance(area, QAbstractScrollArea):
            area = area.parentWidget()
        if area is not None:
            # The page scrolls as if the pointer were over its empty background.
            QApplication.sendEvent(area.viewport(), event)
        return True  # the value under the pointer never changes


def guard_wheel(box: QWidget) -> QWidget:
    """Let ``box`` (a combo or spin box) take the wheel only when it has the focus."""
    guard = WheelGuard(box)
    box.installEventFilter(guard)
    return box


def guard_wheels(root: QWidget) -> None:
    """Guard every combo and spin box inside ``root`` (a page, a dialog) built so far."""
    guard = WheelGuard(root)
    for kind in GUARDED:
        for box in root.findChildren(kind):
            box.installEventFilter(guard)
