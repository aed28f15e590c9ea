"""Scrolling a long page with the mouse wheel never changes the drop-down or number box the
pointer passes over (issue 10): only a focused one takes the wheel."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from pytestqt.qtbot import QtBot

from ui.widgets.wheel import guard_wheels


def _wheel(widget: QWidget, steps: int = -1) -> None:
    """One notch of the wheel (down for -1) with the pointer over ``widget``."""
    local = QPointF(widget.rect().center())
    glob = QPointF(widget.mapToGlobal(QPoint(int(local.x()), int(local.y()))))
    event = QWheelEvent(local, glob, QPoint(), QPoint(0, 120 * steps),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_the_wheel_scrolls_the_page_past_unfocused_boxes(qtbot: QtBot) -> None:
    area = QScrollArea()
    qtbot.addWidget(area)
    body = QWidget()
    column = QVBoxLayout(body)
    combo = QComboBox(body)
    combo.addItems(["—", "stomach", "rectum", "colon"])
    spin = QSpinBox(body)
    spin.setRange(0, 5)
    column.addWidget(combo)
    column.addWidget(spin)
    column.addSpacing(3000)  # a long page
    area.setWidget(body)
    guard_wheels(area)  # as each long page does once it is built
    area.resize(300, 200)
    area.show()
    qtbot.waitExposed(area)
    bar = area.verticalScrollBar()
    assert bar.value() == 0
    _wheel(combo)
    _wheel(spin)
    assert combo.currentIndex() == 0 and spin.value() == 0  # nothing changed
    assert bar.value() > 0  # the page scrolled instead
    # A box the user chose (focused) takes the wheel, as before.
    bar.setValue(0)
    combo.setFocus()
    qtbot.waitUntil(combo.hasFocus)
    _wheel(combo)
    assert combo.currentIndex() == 1


def test_the_long_pages_guard_their_boxes(qtbot: QtBot) -> None:
    from PySide6.QtCore import QEvent

    from ui.course_tab import CourseTab
    from ui.screening import ScreeningTab

    for page in (ScreeningTab(), CourseTab()):
        qtbot.addWidget(page)
        boxes = page.findChildren(QComboBox)
        assert boxes
        for box in boxes:
            area = box.parentWidget()
            while area is not None and not isinstance(area, QScrollArea):
                area = area.parentWidget()
            if area is None:
                continue
            before = box.currentIndex()
            _wheel(box)
            assert box.currentIndex() == before, box
        assert QEvent.Type.Wheel is not None
