"""Fuzzing the service layer: wrong types and unusual text give a message, never a bug.

Every public method of every service facade (patients, the patient list, course, forms,
visits, tumour, settings) is called with arguments that are plausible (real patients and
visits of a demo site) except, often, one that is not: the wrong Python type, None, NaN,
infinities, huge numbers, far dates, lone surrogates, NUL and other control characters, a
200,000-character string. Issue 14 measured 205 tracebacks in 2,000 such calls; the bar is
none. A refused call must also leave every table as it was.

``GISTTRACKER_FUZZ_EXAMPLES`` raises the number of calls (default 300).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from gisttracker.demo import generate
from gisttracker.errors import UserError
from gisttracker.session import Session, open_session
from gisttracker.validation import public_methods
from tests.core.fuzz_services import (
    FACADES,
    TODAY,
    Call,
    Pools,
    build,
    calls,
    describe,
    fingerprint,
)
from tests.helpers import new_site

EXAMPLES = int(os.environ.get("GISTTRACKER_FUZZ_EXAMPLES", "300"))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Session, Pools]]:
    """A 30-patient demo site on the engine under test (one database for every example: the
    refused calls leave it as it was, which is what is checked), opened once."""
    folder = tmp_path_factory.mktemp("fuzz")
    with new_site(folder / "site.db") as path:
        session = open_session(path, user="nurse",
                               clock=lambda: datetime(2026, 3, 14, 9, 30, tzinfo=UTC))
        generate(session, patients=30, seed=3, today=TODAY)
        cwd = Path.cwd()
        os.chdir(folder)  # a relative file name in a call lands here, not in the checkout
        try:
            yield session, Pools(session, folder)
        finally:
            os.chdir(cwd)
            session.close()


def test_every_public_service_method_is_a_guarded_entry_point() -> None:
    for cls in FACADES:
        for name in public_methods(cls):
            method = getattr(cls, name)
            assert getattr(method, "__service_entry__", False), f"{cls.__name__}.{name}"


@pytest.mark.engines
def test_fuzzed_calls_raise_only_user_errors_and_change_nothing_when_refused(
        site: tuple[Session, Pools]) -> None:
    session, pools = site
    refused: list[str] = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.filter_too_much])
    @given(calls(pools))
    def call(entry: Call) -> None:
        cls, name, kwargs = entry
        before = fingerprint(session)
        try:
            getattr(build(cls, session), name)(**kwargs)
        except UserError as exc:
            refused.append(type(exc).__name__)
            assert str(exc).strip(), f"an empty message from {describe(cls, name, kwargs)}"
            assert fingerprint(session) == before, (
                f"refused but changed data: {describe(cls, name, kwargs)}")
        except Exception as exc:  # a bug: say which call, and what escaped
            raise AssertionError(f"{type(exc).__name__}: {exc}\n  from "
                                 f"{describe(cls, name, kwargs)}") from exc

    call()
    # The calls reached past the argument checks and were often refused: the test exercised
    # both the validation at the boundary and the rules behind it.
    assert refused.count("InputError") > EXAMPLES // 10
    assert len(refused) < EXAMPLES
