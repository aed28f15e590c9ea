"""The background worker: results come back on the GUI thread, and what a task closes over
is released on the GUI thread too (a QWidget destroyed on the worker crashes Qt later)."""

from __future__ import annotations

import gc
import threading
from typing import Any, ClassVar

from pytestqt.qtbot import QtBot

from gisttracker.errors import UserError
from ui.tasks import TaskManager


class Tracked:
    """Stands in for a widget a task's closure holds: remembers the thread it died on."""

    died_on: ClassVar[list[str]] = []

    def __del__(self) -> None:
        Tracked.died_on.append(threading.current_thread().name)


def test_a_tasks_closure_is_released_on_the_gui_thread(qtbot: QtBot) -> None:
    tasks = TaskManager()
    results: list[Any] = []
    Tracked.died_on.clear()
    for _i in range(20):
        held = Tracked()
        tasks.run(lambda held=held: id(held), results.append)
        del held
    qtbot.waitUntil(lambda: len(results) == 20, timeout=5000)
    gc.collect()
    assert len(Tracked.died_on) == 20
    assert set(Tracked.died_on) == {threading.main_thread().name}
    tasks.shutdown()


def test_results_and_errors_arrive_on_the_gui_thread(qtbot: QtBot) -> None:
    tasks = TaskManager()
    seen: list[tuple[str, str]] = []

    def fail() -> None:
        raise UserError("refused")

    tasks.run(lambda: threading.current_thread().name,
              lambda worker: seen.append((worker, threading.current_thread().name)))
    tasks.run(fail, lambda _r: None,
              lambda exc: seen.append((str(exc), threading.current_thread().name)))
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=5000)
    main = threading.main_thread().name
    assert seen[0][0].startswith("gisttracker-db") and seen[0][1] == main
    assert seen[1] == ("refused", main)
    assert not tasks.busy
    tasks.shutdown()


def test_cycles_are_collected_on_the_gui_thread_while_the_worker_runs(qtbot: QtBot) -> None:
    """A collection started on the worker freed the Qt objects of closed windows there; while
    a manager runs, cycles are collected by its timer, on the GUI thread."""
    import gc

    import ui.tasks

    tasks = TaskManager()
    try:
        assert not gc.isenabled()
        Tracked.died_on.clear()

        class Cycle:
            def __init__(self) -> None:
                self.me = self
                self.tracked = Tracked()

        Cycle()  # unreachable at once: only a cycle collection frees it
        busy: list[int] = []
        tasks.run(lambda: sum(len([object() for _i in range(1000)]) for _j in range(200)),
                  busy.append)  # the worker allocates a lot meanwhile
        qtbot.waitUntil(lambda: bool(Tracked.died_on),
                        timeout=ui.tasks.GC_INTERVAL_MS * 12)
        assert Tracked.died_on == [threading.main_thread().name]
    finally:
        tasks.shutdown()
    # With no manager left running, Python collects cycles by itself again.
    assert gc.isenabled() == (ui.tasks._running_managers == 0)


def test_a_result_for_a_widget_closed_meanwhile_is_dropped(qtbot: QtBot) -> None:
    # A patient window closed before its tabs had loaded: the tab (and its tables) are
    # deleted when the result arrives, and must not be touched.
    import shiboken6
    from PySide6.QtWidgets import QTableWidget, QWidget

    class Tab(QWidget):
        def __init__(self) -> None:
            super().__init__()
            self.table = QTableWidget(self)
            self.shown: list[int] = []

        def loaded(self, rows: int) -> None:
            self.table.setRowCount(rows)
            self.shown.append(rows)

    tasks = TaskManager()
    release = threading.Event()
    open_tab, closed_tab = Tab(), Tab()
    qtbot.addWidget(open_tab)
    tasks.run(lambda: release.wait(5) and 3, open_tab.loaded)
    tasks.run(lambda: 4, closed_tab.loaded)
    shiboken6.delete(closed_tab)  # closed while its query is still queued
    release.set()
    qtbot.waitUntil(lambda: not tasks.busy, timeout=5000)
    assert open_tab.shown == [3] and open_tab.table.rowCount() == 3
    tasks.shutdown()
