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

    _finished = Signal(int)  # a task's key, emitted on the worker thread when it is over

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gisttracker-db")
        # Queued even when a task is already done at submit: delivery always comes from the
        # event loop, after run() has recorded the task.
        self._finished.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self._pending = 0
        self._keys = itertools.count()
        # The callables of running tasks, held here (and nowhere the worker thread owns)
        # until their result is delivered. They close over widgets; if the worker thread
        # dropped the last reference, Python would destroy a QWidget on the worker thread,
        # and Qt would crash later (a timer firing on a deleted object).
        self._alive: dict[int, tuple[Callable[[], Any], Callable[[Any], None],
                                     Callable[[BaseException], None] | None]] = {}
        # What each finished task returned or raised, handed over by the worker: the worker
        # keeps no reference to it (nor to the callable) once it says the task is over, so
        # the last reference — and a traceback's frames, which hold the closure — always
        # dies on the GUI thread, however the two threads are scheduled.
        self._outcomes: dict[int, tuple[bool, Any]] = {}
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
        self._closed = False

    def run(self, fn: Callable[[], Any], on_done: Callable[[Any], None],
            on_error: Callable[[BaseException], None] | None = None) -> Future[None]:
        """Run ``fn()`` in the background; call ``on_done(result)`` on the GUI thread.

        The returned future only tells when the work is over; the result goes to
        ``on_done`` (or the exception to ``on_error``, else to :func:`ui.errors.show_error`).
        After :meth:`shutdown` nothing runs: the future comes back cancelled (a page that
        reacts to a last change while the window closes must not fail).
        """
        if self._closed:
            dropped: Future[None] = Future()
            dropped.cancel()
            return dropped
        self._pending += 1
        key = next(self._keys)
        self._alive[key] = (fn, on_done, on_error)
        future = self._pool.submit(self._call, key)
        future.add_done_callback(lambda _future, key=key: self._finished.emit(key))
        return future

    def _call(self, key: int) -> None:
        """On the worker thread: run the task and hand its outcome over."""
        fn = self._alive[key][0]
        outcome: tuple[bool, Any]
        try:
            outcome = (True, fn())
        except BaseException as exc:  # delivered to on_error or show_error, not lost
            outcome = (False, exc)
        del fn
        self._outcomes[key] = outcome
        del outcome

    @property
    def busy(self) -> bool:
        return self._pending > 0

    def _deliver(self, key: int) -> None:
        self._pending -= 1
        _fn, on_done, on_error = self._alive.pop(key)
        outcome = self._outcomes.pop(key, None)
        if outcome is None:
            return  # cancelled at shutdown: nobody is waiting for it any more
        ok, value = outcome
        if _receiver_deleted(on_done if ok or on_error is None else on_error):
            # The widget it was for was closed and deleted meanwhile (a patient window shut
            # before its tabs had loaded): nobody is there to show the result.
            return
        if ok:
            on_done(value)
        elif on_error is not None:
            on_error(value)
        else:
            # Nobody handles it here: an expected error is shown, a bug is reported.
            from ui.errors import show_error

            show_error(None, value, context=getattr(on_done, "__qualname__", str(on_done)))

    def _collect(self) -> None:
        """The young generations every second, everything every ten (GUI thread)."""
        self._ticks += 1
        gc.collect(2 if self._ticks % 10 == 0 else 1)

    @property
    def closed(self) -> bool:
        """True once :meth:`shutdown` ran: :meth:`run` would refuse new work."""
        return self._state["released"]

    def shutdown(self) -> None:
        self._closed = True
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


def _receiver_deleted(callback: Callable[..., Any]) -> bool:
    """Whether ``callback`` is a method of a Qt object whose C++ side has been deleted
    (calling it would touch destroyed widgets)."""
    owner = getattr(callback, "__self__", None)
    if not isinstance(owner, QObject):
        return False
    import shiboken6

    return not shiboken6.isValid(owner)
