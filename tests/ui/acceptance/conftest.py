"""The acceptance tests' own rule: while the window runs, no database statement runs on the
GUI thread (issue 10, point 5). Every statement is watched; one from the GUI thread fails
the test with the place it came from."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Iterator
from typing import Any

import pytest

from ui.main_window import MainWindow


@pytest.fixture(autouse=True)
def no_database_on_the_gui_thread(window: MainWindow,
                                  monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    session = window.session
    assert session is not None
    db = session.db
    original = db.execute_sql
    seen: list[str] = []

    def watched(sql: str, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is threading.main_thread():
            seen.append(f"{sql}\n{''.join(traceback.format_stack(limit=12))}")
        return original(sql, *args, **kwargs)

    monkeypatch.setattr(db, "execute_sql", watched)
    yield
    assert not seen, "database work on the GUI thread:\n" + "\n".join(seen[:3])
