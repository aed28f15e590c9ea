"""Fixtures shared across the test suite (a fresh site database, a fixed clock), and the
check that fails a test whose code logged a warning or an error it did not expect."""

from __future__ import annotations

import logging
import re
from collections.abc import Generator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gisttracker.session import Session, open_session

FIXED_NOW = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id at its lowest cost inside tests: hundreds of hashes would otherwise take
    minutes. The cost stays in each hash, so nothing else changes; the production
    parameters are checked in tests/core/test_accounts.py."""
    from argon2 import PasswordHasher

    from gisttracker.services import accounts, concealment

    monkeypatch.setattr(accounts, "HASHER",
                        PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    monkeypatch.setattr(concealment, "KDF", concealment.KdfParams(1, 8, 1))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "site.db"


@pytest.fixture
def session(db_path: Path) -> Iterator[Session]:
    """A new, migrated site database with the five studies, as user ``nurse``."""
    s = open_session(db_path, user="nurse", clock=lambda: FIXED_NOW)
    yield s
    s.close()


# --- unexpected warnings fail the test --------------------------------------------------------

#: Loggers whose warnings and errors a test must expect: the core and the window.
WATCHED_LOGGERS = ("gisttracker", "ui")


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "expect_log(*patterns): the test expects warnings or errors in the log "
        "whose message (or exception type) matches one of the regular expressions; any other "
        "warning or error logged while it runs fails it")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Fail a test that logs a WARNING or worse under ``gisttracker``/``ui`` unless it
    declares it with ``@pytest.mark.expect_log(pattern, …)``. A warning in the log is what a
    site would send us; a test that produces one unnoticed hides a problem."""
    handler = _Records()
    loggers = [logging.getLogger(name) for name in WATCHED_LOGGERS]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        result = yield
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    patterns = [re.compile(p) for m in item.iter_markers("expect_log") for p in m.args]
    unexpected = [r for r in handler.records if not any(
        p.search(_describe(r)) for p in patterns)]
    if unexpected:
        pytest.fail("unexpected log records (mark the test with expect_log if they are "
                    "intended):\n" + "\n".join(
                        f"  {r.levelname} {r.name}: {_describe(r)}" for r in unexpected),
                    pytrace=False)
    return result


def _describe(record: logging.LogRecord) -> str:
    text = record.getMessage()
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        text += f" [{type(exc).__name__}: {exc}]"
    return text
