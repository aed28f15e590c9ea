"""What the window tests share: answering a modal dialog the way a person would."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QWidget

#: Answers scheduled and not given yet; cancelled when a test ends, so that an answer a test
#: did not need never acts on a dialog of the next test.
_pending: list[dict[str, bool]] = []


def cancel_pending_answers() -> None:
    for flag in _pending:
        flag["cancelled"] = True
    _pending.clear()


def when_dialog(action: Callable[[QWidget], None], *, tries: int = 200) -> None:
    """Run ``action(dialog)`` on the next modal dialog once it is open (a modal ``exec()``
    blocks the test, so the answer is scheduled before the click that opens it). A modal
    dialog already open when this is called is not the one awaited."""
    before = QApplication.activeModalWidget()
    flag = {"cancelled": False}
    _pending.append(flag)

    def poll(left: int) -> None:
        if flag["cancelled"]:
            return
        dialog = QApplication.activeModalWidget()
        if dialog is not None and dialog is not before and dialog.isVisible():
            flag["cancelled"] = True
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


def click_row(qtbot: object, view: object, row: int, column: int = 0) -> None:
    """Click the cell ``(row, column)`` of ``view`` with the mouse (selecting its row)."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QAbstractItemView

    assert isinstance(view, QAbstractItemView)
    index = view.model().index(row, column)
    view.scrollTo(index)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,  # type: ignore[attr-defined]
                     pos=view.visualRect(index).center())


def click_ok(qtbot: object, dialog: QWidget) -> None:
    """Click the OK button of ``dialog`` (a QDialogButtonBox's, as a person does)."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QDialogButtonBox

    box = dialog.findChild(QDialogButtonBox)
    assert box is not None, dialog
    button = box.button(QDialogButtonBox.StandardButton.Ok)
    assert button is not None and button.isEnabled()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)  # type: ignore[attr-defined]


def type_into_next_dialog(qtbot: object, text: str) -> None:
    """Answer the next modal prompt (a reason asked with QInputDialog…): type ``text`` into
    its line and press OK."""
    from PySide6.QtWidgets import QLineEdit

    def answer(dialog: QWidget) -> None:
        line = dialog.findChild(QLineEdit)
        assert line is not None, dialog
        line.setFocus()
        qtbot.keyClicks(line, text)  # type: ignore[attr-defined]
        click_ok(qtbot, dialog)

    when_dialog(answer)


def retype(qtbot: object, line: QWidget, text: str) -> None:
    """Select what a line holds and type ``text`` over it."""
    from PySide6.QtCore import Qt

    line.setFocus()
    qtbot.keyClick(line, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)  # type: ignore[attr-defined]
    qtbot.keyClick(line, Qt.Key.Key_Delete)  # type: ignore[attr-defined]
    qtbot.keyClicks(line, text)  # type: ignore[attr-defined]


def mnemonic_clashes(window: QWidget) -> dict[str, list[str]]:
    """Alt+letter keys that more than one visible widget of ``window`` claims (a button,
    a check box, a label with a buddy, a group box, a menu-bar title). Qt does not press a
    clashing one: Alt+S moves the focus between them instead of saving."""
    from PySide6.QtWidgets import QAbstractButton, QGroupBox, QLabel, QMenuBar

    def letter(text: str) -> str | None:
        i = 0
        while i < len(text) - 1:
            if text[i] == "&":
                if text[i + 1] != "&":
                    return text[i + 1].lower()
                i += 1
            i += 1
        return None

    claims: dict[str, list[str]] = {}

    def claim(text: str) -> None:
        key = letter(text)
        if key:
            claims.setdefault(key, []).append(text)

    for widget in window.findChildren(QWidget):
        if not widget.isVisibleTo(window) or widget.window() is not window:
            continue
        buddied = isinstance(widget, QLabel) and widget.buddy() is not None
        if isinstance(widget, QAbstractButton | QLabel) and (buddied or not isinstance(
                widget, QLabel)):
            claim(widget.text())
        elif isinstance(widget, QGroupBox):
            claim(widget.title())
        elif isinstance(widget, QMenuBar):
            for action in widget.actions():
                claim(action.text())
    return {k: v for k, v in claims.items() if len(v) > 1}
