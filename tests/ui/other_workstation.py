"""The second workstation of ``test_two_workstations_ui.py``: the program's own main window
in a process of its own (as on another computer), signed in as another account, telling on
stdout, one JSON line each time it changes, what its patient list shows and, once a patient
is enrolled, that patient's schedule in the patient's window.

    python -m tests.ui.other_workstation DATABASE USER PASSWORD STUDY TODAY

It never writes. It ends when its stdin closes (the test is over).
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> int:
    location, user, password, study, today = argv
    from PySide6.QtCore import QSettings, QSocketNotifier, QTimer
    from PySide6.QtWidgets import QApplication

    from gisttracker.store.paths import resolve_path
    from ui.main_window import MainWindow
    from ui.tasks import TaskManager

    app = QApplication([])
    tasks = TaskManager()
    folder = Path(tempfile.mkdtemp(prefix="gisttracker-other-"))
    settings = QSettings(str(folder / "prefs.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings, tasks, today=lambda: date.fromisoformat(today),
                        credentials=(user, password))
    window.setProperty("headless", True)
    last: list[Any] = [None]

    def look() -> None:
        if window.session is None or window.context is None:
            return
        box = window.study_box
        if box.currentData() != study:
            box.setCurrentIndex(box.findData(study))
        model: Any = window.pages["patients"].model  # type: ignore[attr-defined]
        rows = [[str(model.data(model.index(r, c))) for c in range(model.columnCount())]
                for r in range(model.rowCount())]
        state: dict[str, Any] = {"user": window.session.tracker.user, "patients": rows,
                                 "schedule": {}}
        for r in range(model.rowCount()):
            row = model.row_at(r)
            if row is not None and "enrolled" in rows[r]:
                patient = window.context.open_patient(row.uid)
                table = patient.pages["schedule"].table  # type: ignore[attr-defined]
                state["schedule"][rows[r][0]] = {
                    table.item(i, 0).text(): [table.item(i, c).text()
                                              for c in range(table.columnCount())]
                    for i in range(table.rowCount())}
        if state != last[0]:
            last[0] = state
            print(json.dumps(state), flush=True)

    def stop() -> None:
        if window.context is not None:
            window.context.close()
        tasks.shutdown()
        if window.session is not None:
            window.session.close()
        app.quit()

    window.failed.connect(lambda message: (print(json.dumps({"failed": message}),
                                                 flush=True), app.quit()))
    ended = QSocketNotifier(sys.stdin.fileno(), QSocketNotifier.Type.Read)
    ended.activated.connect(lambda _socket=None: stop() if not sys.stdin.readline() else None)
    timer = QTimer()
    timer.timeout.connect(look)
    timer.start(100)
    window.open_database(resolve_path(location))
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
