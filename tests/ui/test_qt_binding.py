"""The Qt binding must not leak or drop references on ordinary calls.

PySide6 6.12.0 under Python 3.11 dropped one reference to ``None`` on every call of a
void-returning Qt method (``setEnabled``, ``QAction.trigger`` …): after some thousands of
clicks the interpreter aborts with "deallocating None". pyproject.toml caps the version;
this test fails if an upgrade brings the fault back.
"""

from __future__ import annotations

import sys

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QPushButton
from pytestqt.qtbot import QtBot


def test_void_qt_calls_keep_the_reference_count_of_none(qtbot: QtBot) -> None:
    button = QPushButton("OK")
    qtbot.addWidget(button)
    action = QAction("Open", button)
    action.triggered.connect(lambda _checked=False: None)
    before = sys.getrefcount(None)
    for _ in range(300):
        button.setEnabled(True)
        action.trigger()
    # Other code may take or drop a few references meanwhile; 600 lost ones is the fault.
    assert abs(sys.getrefcount(None) - before) < 50
