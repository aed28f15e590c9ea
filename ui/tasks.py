"""Background work for the window: one worker thread, results back on the GUI thread.

Database queries and PDF rendering run here so the window never freezes. The callable must
not touch widgets; its result (or exception) is delivered to ``on_done`` / ``on_error`` on
the GUI thread through a queued Qt signal.
"""

from __future__ import annotations

import gc
import itertools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal

#: How often the garbage of reference cycles is collected, on the GUI thread (ms).
GC_INTERVAL_MS = 1000
_running_managers = 0


class TaskManager(QObject):
    """Runs callables on a single background thread (SQLite likes one writer).

    While a manager runs, Python's automatic cycle collection is off and the manager collects
    on the GUI thread instead: left automatic, a collection can start on the worker (whichever
    thread allocates) and free the Qt objects of a closed window there — a QWidget destroyed
    off the GUI thread crashes Qt later.
    """

    _finished = Signal(object, object)  # (task key, future), emitted on the worker thread

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gisttracker-db")
        # Queued even when a task is already done at submit: delivery always comes from the
        # event loop, after run() has recorded the task.
        self._finished.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self._pending = 0
        # The callables of running tasks, held here (and nowhere the worker thread owns)
        # until their result is delivered. They close over widgets; if the worker thread
        # dropped the last reference, Python would destroy a QWidget on the worker thread,
        # and Qt would crash later (a timer firing on a deleted object).
        self._alive: dict[int, tuple[Callable[[], Any], Callable[[Any], None],
                                     Callable[[BaseException], None] | None]] = {}
        self._keys = itertools.count()
        global _running_managers
        _running_managers += 1
        gc.disable()
        self._ticks = 0
        self._gc_timer = QTimer(self)
        self._gc_timer.setInterval(GC_INTERVAL_MS)
        self._gc_timer.timeout.connect(self._collect)
        self._gc_timer.start()
        # Released once, by shutdown() or when Qt destroys the manager with its parent.
        self._state = {"released": False}
        self.destroyed.connect(lambda *_a, state=self._state: _release(state))

    def run(self, fn: Callable[[], Any], on_done: Callable[[Any], None],
            on_error: Callable[[BaseException], None] | None = None) -> Future[Any]:
        """Run ``fn()`` in the background; call ``on_done(result)`` on the GUI thread."""
        self._pending += 1
        key = next(self._keys)
        self._alive[key] = (fn, on_done, on_error)
        # The pool's work item holds only the key: were it to hold ``fn``, the worker could
        # drop the last reference to it after the result was delivered.
        future = self._pool.submit(self._call, key)
        future.add_done_callback(lambda f, k=key: self._finished.emit(k, f))
        return future

    def _call(self, key: int) -> Any:
        return self._alive[key][0]()

    @property
    def busy(self) -> bool:
        return self._pending > 0

    def _deliver(self, key: int, future: Future[Any]) -> None:
        self._pending -= 1
        _fn, on_done, on_error = self._alive.pop(key)
        if future.cancelled():
            return  # dropped at shutdown: nobody is waiting for it any more
        error = future.exception()
        try:
            if error is None:
                on_done(future.result())
            elif on_error is not None:
                on_error(error)
            else:
                # Nobody handles it here: an expected error is shown, a bug is reported.
                from ui.errors import show_error

                show_error(None, error, context=getattr(on_done, "__qualname__",
                                                         str(on_done)))
        finally:
            if error is not None:
                # The traceback's frames hold what the task closed over (widgets among it);
                # the worker may hold the future longer than this: drop them here, on the
                # GUI thread, once the error has been shown and reported.
                error.__traceback__ = None

    def _collect(self) -> None:
        """The young generations every second, everything every ten (GUI thread)."""
        self._ticks += 1
        gc.collect(2 if self._ticks % 10 == 0 else 1)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._gc_timer.stop()
        _release(self._state)


def _release(state: dict[str, bool]) -> None:
    """One manager fewer; with none left, Python collects cycles by itself again."""
    global _running_managers
    if state["released"]:
        return
    state["released"] = True
    _running_managers -= 1
    if _running_managers == 0:
        gc.enable()
