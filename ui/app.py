"""Starting the application: QApplication, settings, the main window, the startup check.

Start-up is what a nurse waits for every morning: the window builds only its first screen
(the patient list, whose module imports only the list's queries), and opens the database
on the background thread. ``--startup-check`` times the whole of it honestly: from the
start of the process (the kernel's record of it, so the interpreter's own start and every
import count) until the first screen has painted the data of the database (the patient
list's first rows), then exits.

(Opening the database on a second thread while Qt loads was tried and measured: the two
compete for the interpreter lock and the whole took 6 % longer.)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from gisttracker import resources
from gisttracker.store.paths import resolve_path

if TYPE_CHECKING:
    from PySide6.QtCore import QSettings

    from gisttracker.session import Session

STARTUP_TIMEOUT_MS = 60_000
#: How long after the first screen shows its data start-up's garbage is collected.
SETTLE_AFTER_MS = 2_000
ICON = resources.icon_path()
# Where start-up is counted from when the kernel cannot say (not Linux): this module is
# imported by the console entry point before Qt and the core.
_IMPORTED_AT = time.monotonic()


def seconds_since_process_start() -> float:
    """Seconds since this process started: on Linux from ``/proc/self/stat`` (its start
    time in clock ticks since boot, so at most one tick — 10 ms — too long), elsewhere from
    when this module was imported (which leaves out the interpreter's own start)."""
    try:
        stat = Path("/proc/self/stat").read_text()
        # Fields after the command name (which may hold spaces) start at field 3; the
        # start time is field 22.
        ticks = int(stat.rsplit(")", 1)[1].split()[19])
        return time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic() - _IMPORTED_AT


def skip_feature_scan() -> None:
    """Spare every module imported after PySide6 a read of its whole source.

    PySide6 hooks every import to support ``from __feature__ import snake_case`` per module:
    for each new module it reads the module's source (``inspect.getsource``) to see whether
    it names PySide6, and remembers that (``0``) or "ignore this module" (``-1``). The
    program never selects a feature (a test checks that no module imports ``__feature__``),
    so the two answers mean the same, and the reads cost 10–20 ms of every start (about a
    hundred modules, peewee's 8,000 lines among them). Done only where PySide6 has that
    private helper; otherwise nothing changes.
    """
    feature = sys.modules.get("shibokensupport.feature")
    if feature is not None and callable(getattr(feature, "_mod_uses_pyside", None)):
        feature._mod_uses_pyside = _uses_no_feature


def _uses_no_feature(module: object) -> bool:
    return False


def app_settings() -> QSettings:
    """Per-user preferences (window geometry, recent files) — not site data."""
    from PySide6.QtCore import QSettings

    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                     "gisttracker", "gisttracker")


def _credentials(args: argparse.Namespace | None) -> tuple[str, str] | None:
    """``--user`` (or $GISTTRACKER_USER) with the password from ``--password-fd`` or the
    terminal: signs in without the dialog (the startup check of a site with accounts)."""
    from gisttracker.cli.auth import read_password, user_name
    from gisttracker.i18n import _

    if args is None or not getattr(args, "startup_check", False):
        return None
    name = user_name(args)
    if not name:
        return None
    return name, read_password(args, _("Password for {name}: ").format(name=name))


def run(db: str | None = None, startup_check: bool = False,
        args: argparse.Namespace | None = None) -> int:
    """Open the window on the resolved database; with ``startup_check`` time it and exit."""
    path = resolve_path(db)
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication, QWidget

    skip_feature_scan()
    from gisttracker.logs import finish_logging, start_logging
    from gisttracker.session import NoStudiesError, load_protocols, open_session
    from gisttracker.startup import settle
    from ui.errors import install_excepthook
    from ui.language import start_language

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("GIST Study Tracker")
    app.setOrganizationName("gisttracker")
    app.setWindowIcon(QIcon(str(ICON)))
    start_logging()  # (written to its file once the first screen shows)
    install_excepthook()
    settings = app_settings()
    # Before the first window text is built: the language applies to everything after it.
    start_language(settings, path, getattr(args, "language", None))
    try:
        # A program that knows no study must not open an empty site.
        protocols = load_protocols(path)
    except NoStudiesError as exc:
        print(f"gisttracker: {exc}", file=sys.stderr)
        if not startup_check:
            from PySide6.QtWidgets import QMessageBox

            from gisttracker.i18n import _

            QMessageBox.critical(None, _("GIST Study Tracker cannot start"), str(exc))
        return 1
    from ui.main_window import MainWindow
    from ui.tasks import TaskManager

    # The first opening of this file uses the protocols just read (not read twice: 30 ms);
    # any later one (File → Open) reads them afresh.
    preloaded = {path: protocols}

    def opener(chosen: Path) -> Session:
        # No timed look for damaged pages before the first screen: the window checks the
        # whole file in the background right after it (ui/exchange.py).
        return open_session(chosen, protocols=preloaded.pop(chosen, None), page_check=0)

    tasks = TaskManager()
    window = MainWindow(settings, tasks, opener=opener, credentials=_credentials(args))
    # Once the first screen shows and the nurse is reading it, not while she waits: the log
    # file is opened, and start-up's garbage collected (gisttracker/startup.py).

    def after_start() -> None:
        finish_logging()
        settle()

    window.ready.connect(lambda: QTimer.singleShot(SETTLE_AFTER_MS, after_start))
    outcome: dict[str, int] = {}
    if startup_check:
        window.setProperty("headless", True)

        class FirstPaint(QObject):
            """Waits, once the data is there, for the first screen to paint it."""

            def eventFilter(self, watched: QObject, event: QEvent) -> bool:
                page = window.current_page()
                if (event.type() == QEvent.Type.Paint and isinstance(watched, QWidget)
                        and (watched is page or page.isAncestorOf(watched))):
                    app.removeEventFilter(self)
                    QTimer.singleShot(0, painted)  # after this paint event has been drawn
                return False

        watcher = FirstPaint(app)

        def ready() -> None:
            app.installEventFilter(watcher)
            window.current_page().update()

        def painted() -> None:
            print(f"{seconds_since_process_start():.3f}")
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
    finish_logging()
    return outcome.get("code", code)
