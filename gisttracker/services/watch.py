"""Seeing other workstations' changes (issue 16): an engine-neutral change watch.

Several workstations write one server database, and on SQLite another program (the
command line, a second window) may write the file. Every write is a transaction of the
audit trail, so the trail's last transaction id (``audit_txn``, one indexed lookup) says
whether anything was committed since the last look, on either engine; the entries since
then say which tables and records changed. :meth:`ChangeWatch.poll` turns them into the
same :class:`~gisttracker.services.base.Changes` a local commit announces (marked
``elsewhere``), so every screen refreshes from its one change signal whoever wrote.

The window polls every few seconds on its worker thread (``ui.main_window``); the
transactions this process committed itself are recognised and not announced twice.
"""

from __future__ import annotations

import threading

from gisttracker.services.base import Changes, Tracker
from gisttracker.store.chain import key_uid


class ChangeWatch:
    """Announces to ``tracker``'s listeners what others committed since the last poll."""

    def __init__(self, tracker: Tracker, *, read: bool = True) -> None:
        """``read=False``: made on a thread that must not query (the window's GUI thread);
        the first :meth:`poll` then only takes note of where the trail stands."""
        self.tracker = tracker
        self._lock = threading.Lock()
        self._own: set[int] = set()
        self._seen: int | None = self._head() if read else None
        tracker.subscribe(self._committed_here)

    def _head(self) -> int:
        row = self.tracker.db.execute_sql("SELECT max(id) FROM audit_txn").fetchone()
        return int(row[0] or 0) if row else 0

    def _committed_here(self, changes: Changes) -> None:
        if not changes.elsewhere:
            with self._lock:
                self._own |= changes.txns

    def poll(self) -> Changes | None:
        """What others committed since the last poll (announced to the listeners), or None.
        Cheap when nothing changed: one look at the last transaction id."""
        head = self._head()
        with self._lock:
            seen, own = self._seen, set(self._own)
            if seen is None:  # the first look: from here on
                self._seen = head
                return None
            if head <= seen:
                return None
            self._seen = head
            self._own = {t for t in self._own if t > head}
        others = [t for t in range(seen + 1, head + 1) if t not in own]
        if not others:
            return None
        changes = Changes(elsewhere=True, txns=set(others))
        for start in range(0, len(others), 500):
            chunk = others[start:start + 500]
            marks = ", ".join("?" for _t in chunk)
            for table, key in self.tracker.db.execute_sql(
                    "SELECT DISTINCT r.table_name, r.record_key FROM audit_entry e "
                    f"JOIN audit_record r ON r.id = e.record WHERE e.txn IN ({marks})",
                    chunk).fetchall():
                changes.tables.add(str(table))
                changes.records.add(key_uid(bytes(key)))
        if not changes.tables:
            return None
        for listener in list(self.tracker._listeners):
            listener(changes)
        return changes
