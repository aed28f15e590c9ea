"""What the window tests share: answering a modal dialog the way a person would."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QWidget


def when_dialog(action: Callable[[QWidget], None], *, tries: int = 200) -> None:
    """Run ``action(dialog)`` on the next modal dialog once it is open (a modal ``exec()``
    blocks the test, so the answer is scheduled before the click that opens it)."""

    def poll(left: int) -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is not None and dialog.isVisible():
            action(dialog)
        elif left > 0:
            QTimer.singleShot(25, lambda: poll(left - 1))

    QTimer.singleShot(0, lambda: poll(tries))


def double_click(qtbot: object, view: object, index: object) -> None:
    """Double-click the cell at ``index`` of ``view`` as a mouse does: a click (press and
    release), then the double click (Qt's item views react to the pair, not to the second
    event alone)."""
    from PySide6.QtCore import QModelIndex, Qt
    from PySide6.QtWidgets import QAbstractItemView

    assert isinstance(view, QAbstractItemView) and isinstance(index, QModelIndex)
    point = view.visualRect(index).center()
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)  # type: ignore[attr-defined]
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)  # type: ignore[attr-defined]
