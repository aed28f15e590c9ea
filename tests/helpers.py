"""Fixtures shared across the test suite (a fresh site database, a fixed clock)."""

from __future__ import annotations

from collections.abc import Iterator
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
