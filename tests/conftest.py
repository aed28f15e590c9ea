"""Test configuration shared by every test: Qt offscreen, private runtime dir, fixtures.

The environment is set here, before Qt is imported by any test, so nobody has to remember
to set it by hand (without a display Qt would abort the run).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from gisttracker import i18n

os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("LANG", "C.UTF-8")
_runtime = tempfile.mkdtemp(prefix="gisttracker-xdg-")
os.chmod(_runtime, 0o700)
os.environ["XDG_RUNTIME_DIR"] = _runtime
os.environ.pop("GISTTRACKER_DB", None)
# Crash reports and the log of the tests go to a private folder, never the user's own; and
# no error dialog may wait for a click that never comes.
_logs = os.environ["GISTTRACKER_LOG_DIR"] = tempfile.mkdtemp(prefix="gisttracker-logs-")
os.environ["GISTTRACKER_HEADLESS"] = "1"
# English unless a test chooses otherwise, whatever the developer's own locale.
os.environ["LANGUAGE"] = "en"
os.environ.pop("GISTTRACKER_USER", None)
# The audit trail's per-user witness files (gisttracker.services.audit.Witness) go to a
# folder of this run, not the home directory.
_state = os.environ["GISTTRACKER_STATE_DIR"] = tempfile.mkdtemp(prefix="gisttracker-state-")
# A server database's local folder (its site protocols; gisttracker.store.server) too.
_data = os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="gisttracker-data-")
# The cache of validated protocol files (gisttracker.protocols.cache) too.
_cache = os.environ["GISTTRACKER_CACHE_DIR"] = tempfile.mkdtemp(prefix="gisttracker-cache-")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The run's private folders go when it ends (each run made five in the temporary
    folder and left them: hundreds after a day's work). The log folder stays after a failed
    run, for its crash reports."""
    for folder in (_runtime, _state, _data, _cache) + ((_logs,) if exitstatus == 0 else ()):
        shutil.rmtree(folder, ignore_errors=True)

pytest_plugins = ["tests.helpers"]


@pytest.fixture(autouse=True)
def _english_after_each_test() -> Iterator[None]:
    """A test that switches the language (the command line does) leaves English behind."""
    yield
    i18n.install(None)
