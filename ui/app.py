"""Starting the application: QApplication, settings, the main window, the startup check."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from gisttracker import resources
from gisttracker.i18n import _
from gisttracker.logs import setup_logging
from gisttracker.session import NoStudiesError, load_protocols
from gisttracker.store.db import resolve_path
from ui.errors import install_excepthook
from ui.language import start_language
from ui.main_window import MainWindow
from ui.tasks import TaskManager

STARTUP_TIMEOUT_MS = 60_000
ICON = resources.icon_path()


def app_settings() -> QSettings:
    """Per-user preferences (window geometry, recent files) — not site data."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                     "gisttracker", "gisttracker")


def run(db: str | None = None, startup_check: bool = False) -> int:
    """Open the window on the resolved database; with ``startup_check`` time it and exit."""
    started = time.perf_counter()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("GIST Study Tracker")
    app.setOrganizationName("gisttracker")
    app.setWindowIcon(QIcon(str(ICON)))
    setup_logging()
    install_excepthook()
    path: Path = resolve_path(db)
    settings = app_settings()
    # Before the first window text is built: the language applies to everything after it.
    start_language(settings, path)
    try:
        # A few milliseconds: a program that knows no study must not open an empty site.
        load_protocols(path)
    except NoStudiesError as exc:
        print(f"gisttracker: {exc}", file=sys.stderr)
        if not startup_check:
            QMessageBox.critical(None, _("GIST Study Tracker cannot start"), str(exc))
        return 1
    tasks = TaskManager()
    window = MainWindow(settings, tasks)
    outcome: dict[str, int] = {}
    if startup_check:
        window.setProperty("headless", True)

        def ready() -> None:
            print(f"{time.perf_counter() - started:.3f}")
            outcome["code"] = 0
            app.quit()

        def failed(message: str) -> None:
            print(f"gisttracker: {message}", file=sys.stderr)
            outcome["code"] = 1
            app.quit()

        def timeout() -> None:
            print("gisttracker: the first screen did not load within 60 s", file=sys.stderr)
            outcome["code"] = 1
            app.quit()

        window.ready.connect(ready)
        window.failed.connect(failed)
        QTimer.singleShot(STARTUP_TIMEOUT_MS, timeout)
    window.show()
    window.open_database(path)
    code = app.exec()
    tasks.shutdown()
    if window.session is not None:
        window.session.close()
    return outcome.get("code", code)
