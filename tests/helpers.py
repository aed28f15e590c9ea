"""Fixtures shared across the test suite (a fresh site database, a fixed clock), and the
check that fails a test whose code logged a warning or an error it did not expect."""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
from collections.abc import Generator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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


# --- the engine under test -------------------------------------------------------------------
#: ``GISTTRACKER_TEST_DB=postgresql://postgres@127.0.0.1:PORT/postgres`` (a superuser on a
#: throw-away cluster: scripts/test starts one) runs the database tests on that server; unset,
#: on SQLite files. Each test gets a database of its own, copied from a template that holds
#: the migrated schema (CREATE DATABASE … TEMPLATE: about 20 ms here, where building the
#: schema is about 150 ms), and dropped afterwards.
SERVER = os.environ.get("GISTTRACKER_TEST_DB") or None
# One template per test process: two runs at once (a developer's and CI's) never share it.
TEMPLATE = f"gist_test_template_{os.getpid()}"
_counter = itertools.count(1)
_template_ready = False


def server_url(name: str, user: str | None = None) -> str:
    """The URL of database ``name`` on the test server (as ``user``, else the admin's)."""
    assert SERVER is not None
    parts = urlsplit(SERVER)
    netloc = parts.netloc if user is None else f"{user}@{parts.netloc.rsplit('@', 1)[-1]}"
    return urlunsplit((parts.scheme, netloc, "/" + name, parts.query, ""))


def admin_sql(*statements: str, database: str | None = None) -> None:
    """Run ``statements`` as the test server's superuser, outside any transaction."""
    import psycopg

    url = server_url(database) if database else SERVER
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


def new_server_database() -> str:
    """A new, empty-of-data database at the latest schema; returns its name."""
    global _template_ready
    if not _template_ready:
        from gisttracker.store.server import ServerDatabase

        admin_sql(f"CREATE DATABASE {TEMPLATE}")
        from gisttracker.store.migrations import migrate

        db = ServerDatabase(server_url(TEMPLATE))
        db.connect()
        migrate(db)
        db.close()
        _template_ready = True
    name = f"gist_test_{os.getpid()}_{next(_counter)}"
    admin_sql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    return name


def drop_server_database(name: str) -> None:
    admin_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


_site_templates: dict[str, str] = {}


@contextlib.contextmanager
def server_copy(path: Path) -> Iterator[Path]:
    """A copy of the site file ``path`` on the test server, for a test of its own: the file
    is moved there once (``migrate-to``, verified) into a template database, and each copy
    is a new database made from that template (dropped afterwards)."""
    from gisttracker.store.db import open_database
    from gisttracker.store.transfer import transfer
    from gisttracker.store.urls import ServerLocation

    template = _site_templates.get(str(path))
    if template is None:
        template = f"gist_site_template_{os.getpid()}_{next(_counter)}"
        admin_sql(f"CREATE DATABASE {template}")
        source = open_database(path)
        try:
            transfer(source, ServerLocation(server_url(template)))
        finally:
            source.close()
        _site_templates[str(path)] = template
    name = f"gist_test_{os.getpid()}_{next(_counter)}"
    admin_sql(f"CREATE DATABASE {name} TEMPLATE {template}")
    try:
        yield ServerLocation(server_url(name))
    finally:
        drop_server_database(name)


# Per test: the server copies on_engine() made, by the file they copy (dropped afterwards).
_engine_copies: dict[str, tuple[Path, contextlib.ExitStack]] = {}


def on_engine(path: Path) -> Path:
    """The site file ``path`` on the engine under test: the file itself on the SQLite run;
    on the server run a copy of it on the test server (:func:`server_copy`), made on first
    use in a test and the same one for the rest of that test, dropped after it. A test
    that builds its sites as files (``make_site``…) and opens them through this runs on both
    engines; mark it ``engines`` so that the server run keeps it."""
    if SERVER is None:
        return path
    found = _engine_copies.get(str(path))
    if found is None:
        stack = contextlib.ExitStack()
        location = stack.enter_context(server_copy(path))
        found = _engine_copies[str(path)] = (location, stack)
    return found[0]


@contextlib.contextmanager
def new_site(path: Path) -> Iterator[Path]:
    """Where a new site database goes, for a fixture that builds its own (a module's demo
    site): the file ``path``, or on the server run a new database on the test server at the
    latest schema, dropped afterwards. Mark the tests ``engines``."""
    if SERVER is None:
        yield path
        return
    from gisttracker.store.urls import ServerLocation

    name = new_server_database()
    try:
        yield ServerLocation(server_url(name))
    finally:
        from gisttracker.store.db import database

        if database.obj is not None:
            with contextlib.suppress(Exception):
                database.obj.close()
        drop_server_database(name)


def site_copy(path: Path, folder: Path) -> Path:
    """A copy of the site file ``path`` for one test to change, on the engine under test: a
    copy of the file in ``folder`` (SQLite's backup API), or on the server run
    :func:`on_engine` (a new database made from the server template of ``path``). Lets a
    module build its demo sites once."""
    if SERVER is not None:
        return on_engine(path)
    import sqlite3

    target = folder / path.name
    folder.mkdir(parents=True, exist_ok=True)
    source, copy = sqlite3.connect(path), sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        source.close()
        copy.close()
    return target


def raw_rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    """The rows of ``sql`` read on a connection of its own, beside the program's (which it
    neither uses nor rebinds): ``sqlite3`` on a file, ``psycopg`` on a server database. For
    a test that checks what is stored whatever the engine (SQL both dialects read)."""
    from gisttracker.store.urls import ServerLocation

    if isinstance(path, ServerLocation):
        import psycopg

        with psycopg.connect(path.connect_url) as conn:
            return [tuple(row) for row in conn.execute(sql).fetchall()]  # type: ignore[arg-type]
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return [tuple(row) for row in conn.execute(sql).fetchall()]
    finally:
        conn.close()


@pytest.fixture(autouse=True)
def _drop_engine_copies() -> Iterator[None]:
    yield
    if _engine_copies:
        from gisttracker.store.db import database

        if database.obj is not None:
            with contextlib.suppress(Exception):
                database.obj.close()
        for _location, stack in _engine_copies.values():
            with contextlib.suppress(Exception):
                stack.close()
        _engine_copies.clear()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if SERVER is None:
        return
    for name in [*(_site_templates.values()), *([TEMPLATE] if _template_ready else [])]:
        with contextlib.suppress(Exception):
            drop_server_database(name)


@pytest.fixture
def engine() -> str:
    """Which engine the test's databases are on: ``"postgresql"`` on the server run (a
    fixture that copies a site file to the server asks for it), else ``"sqlite"``."""
    return "sqlite" if SERVER is None else "postgresql"


#: The fixtures that give a test its site database on the engine under test.
ENGINE_FIXTURES = frozenset({"db_path", "session", "server_db", "engine"})


def runs_on_both_engines(item: pytest.Item) -> bool:
    """Whether the server run keeps ``item``: it opens its site databases through the
    fixtures (:data:`ENGINE_FIXTURES`) or is marked ``engines``."""
    uses = set(getattr(item, "fixturenames", ()))
    return item.get_closest_marker("engines") is not None or bool(uses & ENGINE_FIXTURES)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On the server run: only the tests that open a site database through the fixtures
    (the rest does not touch the engine and ran in the SQLite run), and those marked
    ``sqlite_only`` skipped with their reason."""
    if SERVER is None:
        return
    keep, drop = [], []
    for item in items:
        (keep if runs_on_both_engines(item) else drop).append(item)
        marker = item.get_closest_marker("sqlite_only")
        if marker is not None:
            item.add_marker(pytest.mark.skip(
                reason="SQLite only: " + str(marker.kwargs.get("reason") or marker.args[0])))
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(autouse=True)
def _site_databases_run_on_both_engines(request: pytest.FixtureRequest) -> Iterator[None]:
    """On the SQLite run: fail a test that opens a site database file of its own but would
    be left out of the server run (issue 16: the whole suite runs on both engines). Give it
    its database through ``db_path``/``new_site``/``on_engine``/``site_copy`` (marked
    ``engines`` where no fixture says so), or mark it ``sqlite_only(reason)`` when it is
    about the file itself (WAL, permissions, damaged or foreign files, raw sqlite3…)."""
    node = request.node
    if (SERVER is not None or runs_on_both_engines(node)
            or node.get_closest_marker("sqlite_only") is not None):
        yield
        return
    from gisttracker.store import db as store_db

    opened: list[str] = []
    original = store_db._connect

    def watched(name: str, path: Path, **kwargs: Any) -> Any:
        opened.append(str(path))
        return original(name, path, **kwargs)

    store_db._connect = watched  # type: ignore[assignment]
    try:
        yield
    finally:
        store_db._connect = original
    if opened:
        pytest.fail(f"{node.nodeid} opened the site database {opened[0]} but does not run on "
                    "the server: give it db_path/new_site/on_engine/site_copy (and the "
                    "engines mark), or mark it sqlite_only(reason)", pytrace=False)


@pytest.fixture
def db_path(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """Where the test's site database lives: a new SQLite file, or on the server run a new
    database on the test server (a :class:`~gisttracker.store.server.ServerLocation`)."""
    if SERVER is None or request.node.get_closest_marker("sqlite_only"):
        yield tmp_path / "site.db"
        return
    from gisttracker.store.urls import ServerLocation

    name = new_server_database()
    try:
        yield ServerLocation(server_url(name))
    finally:
        from gisttracker.store.db import database

        if not isinstance(database.obj, type(None)):
            with contextlib.suppress(Exception):
                database.obj.close()
        drop_server_database(name)


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


@pytest.fixture
def server_db() -> Iterator[str]:
    """The name of a new, empty database on the test server (no schema yet); the test is
    skipped on the SQLite run, which has no server."""
    if SERVER is None:
        pytest.skip("needs the test server (the server run of scripts/test starts one)")
    name = f"gist_empty_{os.getpid()}_{next(_counter)}"
    admin_sql(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        drop_server_database(name)
