"""The baseline of the start-up benchmark: the least a PySide6 program can do to show a
site's patients — a window with a ``QTableView`` over the first 200 patients of the same
SQLite file (and their count), read with :mod:`sqlite3` before the window is shown.

Prints, like ``gisttracker --startup-check``, the seconds from the start of the process
(``/proc/self/stat``) until the table has painted its rows, then exits.

    .venv/bin/python tests/benchmarks/startup_baseline.py SITE.db
"""

import os
import sqlite3
import sys
import time

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QApplication, QMainWindow, QTableView


def since_start() -> float:
    with open("/proc/self/stat") as f:
        ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    return time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")


def main() -> int:
    con = sqlite3.connect(sys.argv[1])
    count = con.execute("SELECT count(*) FROM patient").fetchone()[0]
    rows = con.execute(
        "SELECT study_id, study_key, arm_code, status, enrolled_on, randomization_number "
        "FROM patient ORDER BY study_id LIMIT 200").fetchall()
    app = QApplication(sys.argv[:1])
    model = QStandardItemModel(0, 6)
    model.setHorizontalHeaderLabels(["Patient", "Study", "Arm", "Status", "Enrolled",
                                     "Randomization"])
    for row in rows:
        model.appendRow([QStandardItem(str(v) if v is not None else "—") for v in row])
    window = QMainWindow()
    window.setWindowTitle(f"{count} patients")
    view = QTableView(window)
    view.setModel(model)
    window.setCentralWidget(view)
    window.resize(1200, 800)

    class FirstPaint(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint and watched is view.viewport():
                app.removeEventFilter(self)
                QTimer.singleShot(0, done)
            return False

    def done() -> None:
        print(f"{since_start():.3f}")
        app.quit()

    watcher = FirstPaint(app)
    app.installEventFilter(watcher)
    window.show()
    app.exec()
    return 0


if __name__ == "__main__":
    sys.exit(main())
