"""What the main window, its pages and every open patient window of one site share: the
session, the background worker, the clock, the one change signal and the patient windows.

The one change signal
---------------------
:attr:`WindowContext.changed` carries a :class:`~gisttracker.services.base.Changes` on the GUI
thread after every commit: commits of this window (``Tracker.subscribe``, on whichever thread
committed), commits by another process on the same file (a cheap ``PRAGMA data_version``
check on the worker every two seconds; on a server database the audit trail's last transaction,
:class:`gisttracker.services.watch.ChangeWatch`; SQLite changes that number on a connection whenever
another connection commits), and the start of a new day (statuses such as "overdue" depend
on the date). Every page and every patient window refreshes what it shows from it; nothing
else tells a screen to reload.

One window per patient
----------------------
:meth:`WindowContext.open_patient` raises the patient's window when it is open, else opens
one; windows are forgotten when Qt destroys them, so they open and close any number of times.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import QObject, Qt, QTimer, Signal

from gisttracker.services.base import Changes
from gisttracker.session import Session
from gisttracker.store.urls import is_server
from ui.tasks import TaskManager

if TYPE_CHECKING:
    from gisttracker.services.watch import ChangeWatch
    from ui.patient_view import PatientWindow

log = logging.getLogger(__name__)

#: How often another process's commits and a new day are looked for (ms).
WATCH_INTERVAL_MS = 2000


class WindowContext(QObject):
    """The shared state of one open site in the window."""

    changed = Signal(object)  # Changes, on the GUI thread
    _committed = Signal(object)  # Changes, emitted on the committing thread

    def __init__(self, session: Session, tasks: TaskManager, *,
                 today: Callable[[], date] = date.today, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.tasks = tasks
        self.today = today
        self.windows: dict[str, PatientWindow] = {}
        self._committed.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        session.tracker.subscribe(self._on_commit)
        self._subscribed = True
        self._version: int | None = None
        self._tables: frozenset[str] = frozenset()
        self._checking = False
        self._failing = False  # the last look failed (logged once per outage, not every 3 s)
        self._day = today()
        # Other workstations' commits on a server database (gisttracker.services.watch),
        # made here on the GUI thread's first look; None on a file (data_version there).
        self._server_watch: ChangeWatch | None = None
        if is_server(session.path):
            from gisttracker.services.watch import ChangeWatch

            self._server_watch = ChangeWatch(session.tracker, read=False)
        self._timer = QTimer(self)
        self._timer.setInterval(WATCH_INTERVAL_MS)
        self._timer.timeout.connect(self.check_now)

    # ----- the change signal ----------------------------------------------------------------
    def _on_commit(self, changes: Changes) -> None:
        # Called by the tracker on the thread that committed (the worker, as a rule).
        if shiboken6.isValid(self):
            self._committed.emit(changes)
        else:  # the page that owned this context is gone
            self.session.tracker.unsubscribe(self._on_commit)

    def _deliver(self, changes: Changes) -> None:
        self.changed.emit(changes)

    def everything(self) -> Changes:
        """A change of every table (another process wrote, or a new day began)."""
        return Changes(tables=set(self._tables) or _KNOWN_TABLES.copy())

    def start_watching(self, interval_ms: int = WATCH_INTERVAL_MS) -> None:
        """Look for another process's commits and for a new day every ``interval_ms``."""
        self._timer.setInterval(interval_ms)
        self._timer.start()
        self.check_now()

    def check_now(self) -> None:
        """Compare the file's data version (on the worker) and the day with the last seen."""
        if self.tasks.closed:  # the window is closing (or closed): nothing more to watch
            self._timer.stop()
            return
        day = self.today()
        if day != self._day:
            self._day = day
            self.changed.emit(self.everything())
        if self._checking:
            return
        self._checking = True
        db = self.session.db
        known = bool(self._tables)
        if self._server_watch is not None:
            # A server has no data_version: the watch reads the audit trail's last
            # transaction and announces what others committed to the tracker's listeners,
            # which reach this context's change signal like a commit of this window.
            self.tasks.run(self._server_watch.poll, self._server_polled, self._version_failed)
            return

        def read() -> tuple[int, frozenset[str]]:
            version = int(db.execute_sql("PRAGMA data_version").fetchone()[0])
            return version, (frozenset() if known else frozenset(db.get_tables()))

        self.tasks.run(read, self._version_read, self._version_failed)

    def _server_polled(self, _changes: object) -> None:
        self._checking = False
        self._answered()
        if self._version is None:
            self._version = 0  # looked once (the watch itself keeps where the trail stood)

    def _version_read(self, result: tuple[int, frozenset[str]]) -> None:
        self._checking = False
        self._answered()
        version, tables = result
        if tables:
            self._tables = tables
        if self._version is not None and version != self._version:
            self.changed.emit(self.everything())
        self._version = version

    def _version_failed(self, exc: BaseException) -> None:
        # A busy or vanished file, a server stopped: try again at the next tick; never a
        # message every 3 s, nor a warning in the log for each look (once per outage).
        self._checking = False
        if not self._failing:
            log.warning("could not read the data version: %s", exc)
        self._failing = True

    def _answered(self) -> None:
        if self._failing:
            log.info("the data version can be read again")
            self._failing = False

    # ----- patient windows ------------------------------------------------------------------
    def open_patient(self, uid: str) -> PatientWindow:
        """The patient's window, raised if open, else opened."""
        window = self.windows.get(uid)
        if window is not None and shiboken6.isValid(window):
            if window.isMinimized():
                window.showNormal()
            window.show()
            window.raise_()
            window.activateWindow()
            return window
        from ui.patient_view import PatientWindow

        window = PatientWindow(self, uid)
        self.windows[uid] = window
        window.destroyed.connect(lambda _obj=None, u=uid: self._forget(u))
        window.show()
        return window

    def _forget(self, uid: str) -> None:
        window = self.windows.get(uid)
        if window is None or not shiboken6.isValid(window):
            self.windows.pop(uid, None)

    def open_windows(self) -> list[PatientWindow]:
        return [w for w in self.windows.values() if shiboken6.isValid(w)]

    def close(self) -> None:
        """Stop watching, stop listening, close the patient windows (the site is closing)."""
        self._timer.stop()
        if self._subscribed:
            self.session.tracker.unsubscribe(self._on_commit)
            self._subscribed = False
        for window in self.open_windows():
            window.force_close()
        self.windows.clear()


def on_gui_thread() -> bool:
    """True on the thread that runs the window (the main thread)."""
    return threading.current_thread() is threading.main_thread()


#: Every table of the schema, for a change of "everything" before the file was asked.
_KNOWN_TABLES = {
    "patient", "patient_identity", "screening", "screening_judgement", "lab_result",
    "randomization", "randomization_seed", "anchor_date", "visit", "form", "form_value",
    "adverse_event", "tumour_assessment", "lesion_measurement", "treatment_exposure",
    "treatment_interruption", "surgery", "pathology", "course_event", "setting",
}
