"""The server mode (issue 16): a site database on a PostgreSQL server, through psycopg 3.

``--db postgresql://user@host:port/dbname`` (or ``GISTTRACKER_DB``, or File > Open server…)
opens the same application on a server several workstations share. The models, the service
layer and its audit trail are the same; what differs between the engines is kept here:

* **One SQL dialect in the code.** The code's raw SQL is written once, in the subset both
  engines read (SQLite's ``?`` placeholders). :meth:`ServerDatabase.execute_sql` turns a
  statement in that style into psycopg's (``%s``; a literal ``%`` doubled) and SQLite's
  case-insensitive ``LIKE`` into ``ILIKE``; statements peewee builds itself are already in
  psycopg's style and pass unchanged.
* **The same stored values.** Python dates, times and booleans are sent as SQLite stores
  them (ISO text, 0/1), and ``numeric`` results (``sum`` of integers) come back as ``int``
  or ``float``, so the audit trail's JSON, its hash chain and every comparison of dates as
  text mean the same on both engines (the schema: :mod:`gisttracker.store.postgres_schema`).
* **Writers overlap; the chain takes turns.** The audit trail is one hash chain: each
  transaction continues from the last one's hash and ids. SQLite's ``BEGIN IMMEDIATE``
  takes the file's write lock for the whole transaction; here a write transaction starts
  with a plain ``BEGIN`` and takes one transaction-scoped advisory lock
  (:data:`WRITE_LOCK`) only to append its audit entries and commit
  (:meth:`gisttracker.services.base.Writer._settle`), or earlier where one writer at a time
  must decide something (``Writer.serialize``: a randomization position). Two workstations
  never fork the chain; reads never wait for it. ``begin(lock_type=…)`` still takes the lock
  at BEGIN for callers that hold the whole database still (``migrate-to``).
* **Credentials.** A password is never kept: not in the URL the program shows or logs
  (:func:`display_url`), not in settings. It comes from the prompt of the window (kept in
  memory for the session), from ``PGPASSWORD`` or from ``~/.pgpass`` / ``PGPASSFILE``, which
  libpq reads itself. ``sslmode`` (``require``, ``verify-full``…) in the URL is passed to
  libpq as it is.
"""

from __future__ import annotations

import contextlib
import logging
import re
import select
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import peewee

from gisttracker.i18n import _
from gisttracker.store.urls import (
    ServerLocation,
    split_url,
)

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key of the write lock: "GIST" in ASCII, as SQLite's application_id.
WRITE_LOCK = 0x47495354


def is_server_db(db: object) -> bool:
    """Whether the open database ``db`` is on a server (:class:`ServerDatabase`)."""
    return isinstance(db, ServerDatabase)


# --- SQLite-style statements on psycopg ----------------------------------------------------
_INDEXED_BY = re.compile(r"\s+INDEXED BY \w+|\s+NOT INDEXED\b", re.IGNORECASE)
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\?|%|\bLIKE\b", re.IGNORECASE)


def _translate(sql: str) -> str:
    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        if token.upper() == "LIKE":
            return "ILIKE"  # SQLite's LIKE ignores the case of ASCII letters
        # A quoted literal or identifier: its "?" stays; psycopg reads "%" even there.
        return token.replace("%", "%%")

    # SQLite's index hints: the server's planner chooses for itself.
    return _INDEXED_BY.sub("", _TOKENS.sub(replace, sql))


_translated: dict[str, str] = {}


def translate(sql: str) -> str:
    """``sql`` written for SQLite (``?`` placeholders) as psycopg wants it; cached."""
    found = _translated.get(sql)
    if found is None:
        found = _translate(sql)
        if len(_translated) < 4096:
            _translated[sql] = found
    return found


def _sql(query: Any) -> Any:
    if isinstance(query, str) and ("?" in query or ("%" in query and "%s" not in query)):
        return translate(query)
    return query


_CURSOR: Any = None


# Statements with up to this many parameters keep psycopg's conversion of their text (see
# _cursor_class).
CACHED_STATEMENT_PARAMS = 200


def _cursor_class() -> Any:
    """psycopg's cursor, taking the code's SQLite-style statements (also through
    ``executemany`` and cursors the code asks for directly)."""
    global _CURSOR
    if _CURSOR is None:
        import psycopg
        from psycopg import _queries

        # psycopg converts a statement's text (its %s placeholders) once and keeps the
        # result — but only for statements of up to 50 parameters. A server's commit sends
        # its rows and audit rows as one statement of about 55 (Writer.finish): converted
        # anew each time, that was about a fifth of a registration's client CPU. The same
        # few statement texts repeat, so they are kept too (psycopg's cache is bounded: 128
        # texts of at most 4 kB). Without the setting (another psycopg) it is only slower.
        if getattr(_queries, "MAX_CACHED_STATEMENT_PARAMS", CACHED_STATEMENT_PARAMS) < \
                CACHED_STATEMENT_PARAMS:
            _queries.MAX_CACHED_STATEMENT_PARAMS = CACHED_STATEMENT_PARAMS

        class Cursor(psycopg.Cursor[Any]):
            def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
                return super().execute(_sql(query), params, **kwargs)

            def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> None:
                super().executemany(_sql(query), params_seq, **kwargs)

        _CURSOR = Cursor
    return _CURSOR


_CONNECTION: Any = None


def _connection_class() -> Any:
    """psycopg's connection, closed quietly when the thread that opened it is gone (peewee
    keeps one connection per thread: a worker thread's is dropped with the thread)."""
    global _CONNECTION
    if _CONNECTION is None:
        import psycopg

        class Connection(psycopg.Connection[Any]):
            def __del__(self, *args: Any) -> None:
                if not self.closed:
                    with contextlib.suppress(Exception):
                        self.close()

        _CONNECTION = Connection
    return _CONNECTION


def _register_adapters(conn: Any) -> None:
    """Dump and load values as the SQLite file holds them (see the module docstring)."""
    from psycopg.adapt import Dumper, Loader
    from psycopg.pq import Format
    from psycopg.types.numeric import IntDumper

    class TextLike(Dumper):
        format = Format.TEXT
        oid = 0  # unknown: the server takes the column's type, as for a str

        def dump(self, obj: Any) -> bytes:
            if isinstance(obj, datetime):
                return obj.isoformat(" ").encode()  # sqlite3's adapter
            return str(obj.isoformat()).encode()

    class BoolAsInt(IntDumper):
        def dump(self, obj: Any) -> bytes:
            return b"1" if obj else b"0"

    class Number(Loader):
        # SQLite gives sum() of integers as an integer and avg() as a float.
        def load(self, data: Any) -> Any:
            value = Decimal(bytes(data).decode())
            return int(value) if value == value.to_integral_value() else float(value)

    for kind in (date, datetime, time):
        conn.adapters.register_dumper(kind, TextLike)
    conn.adapters.register_dumper(bool, BoolAsInt)
    conn.adapters.register_loader("numeric", Number)


class ServerDatabase(peewee.PostgresqlDatabase):
    """peewee's PostgreSQL database on psycopg 3, speaking the code's SQLite-style SQL."""

    def __init__(self, url: str, *, password: str | None = None, **kwargs: Any) -> None:
        from gisttracker.startup import attach_server_driver

        attach_server_driver()  # peewee was imported without it (gisttracker/startup.py)
        shown, in_url = split_url(url)
        params: dict[str, Any] = {"connect_timeout": 10,
                                  "application_name": "gisttracker"}
        secret = password if password is not None else in_url
        if secret is not None:
            params["password"] = secret
        super().__init__(shown, prefer_psycopg3=True, **params, **kwargs)
        self.url = shown

    def _connect(self) -> Any:
        import psycopg  # noqa: F401  (ImportError here: the driver is missing)

        conn = _connection_class().connect(self.database, **self.connect_params)
        conn.autocommit = True  # peewee sends BEGIN itself
        # A write waits for another workstation's write lock as long as SQLite's busy
        # timeout, then says so (DatabaseLockedError), instead of hanging.
        from gisttracker.store.db import BUSY_TIMEOUT_MS

        # No JIT compilation: it pays only for queries running seconds, and a misestimated
        # count of the worklist (100,000 patients) spent 150 ms compiling a 60 ms query.
        conn.execute(f"SET lock_timeout = {int(BUSY_TIMEOUT_MS)}; SET jit = off")
        _register_adapters(conn)
        conn.cursor_factory = _cursor_class()
        return conn

    def is_closed(self) -> bool:
        """Also True for a connection the server dropped (restarted, the network cut),
        outside a transaction: peewee then opens a new one for the next statement, so a
        window open over a restart of the server goes on working. Inside a transaction the
        statement fails, and the transaction with it (nothing half-saved), said as the
        server being unreachable (:func:`gisttracker.store.db.environment_error`)."""
        state = getattr(self, "_state")  # noqa: B009  (peewee's, per thread)
        conn = state.conn
        if not state.closed and conn is not None and not state.transactions:
            # An idle connection with something to read: the server said something unasked,
            # such as that it is shutting down. Read it (libpq then marks a dropped
            # connection as closed); one poll of the socket, no round trip.
            # (libpq reads the server's last message first, and the closed socket after.)
            for _read in range(3):
                if conn.closed or not select.select([conn.fileno()], [], [], 0)[0]:
                    break
                with contextlib.suppress(Exception):
                    conn.pgconn.consume_input()
            if conn.closed:
                state.reset()
        return bool(state.closed)

    def begin(self, isolation_level: Any = None, lock_type: str | None = None,
              first: str | None = None) -> None:
        """BEGIN; with ``lock_type`` (SQLite's ``IMMEDIATE``), also the write lock. With
        ``first``, that query is sent in the same round trip (its one row:
        :meth:`first_row`)."""
        if first is not None and not isolation_level and not lock_type:
            conn = self.connection()  # type: ignore[no-untyped-call]
            with conn.pipeline():
                conn.cursor().execute("BEGIN")
                cursor = conn.cursor()
                cursor.execute(first)
            conn.first_row = cursor.fetchone()
            return
        super().begin(isolation_level)
        if lock_type:
            try:
                self.execute_sql(  # type: ignore[no-untyped-call]
                    "SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            except BaseException:
                # The transaction never started for the caller (its __exit__ will not run):
                # end it here, or the connection stays in an aborted transaction.
                self.rollback()
                raise

    def first_row(self) -> Any:
        """The row of the query sent with the open transaction's BEGIN (``first``)."""
        return self.connection().first_row  # type: ignore[no-untyped-call]

    def committed_early(self) -> None:
        """The open transaction was committed already (the Writer sends COMMIT in the same
        round trip as the audit trail's rows): the COMMIT peewee sends next is skipped."""
        self.connection().committed_early = True  # type: ignore[no-untyped-call]

    def commit(self) -> None:
        if not self.is_closed():
            conn = self.connection()  # type: ignore[no-untyped-call]
            if getattr(conn, "committed_early", False):
                conn.committed_early = False
                return
        super().commit()

    def rollback(self) -> None:
        if not self.is_closed():
            self.connection().committed_early = False  # type: ignore[no-untyped-call]
        super().rollback()

    def __str__(self) -> str:
        return self.url


def read_setting(location: ServerLocation, key: str) -> str | None:
    """One site setting read over a short connection of its own, before the database is
    opened (the window's language); None when it cannot be read."""
    import psycopg

    try:
        with psycopg.connect(location.connect_url, connect_timeout=5) as conn:
            row = conn.execute("SELECT value FROM setting WHERE key = %s", (key,)).fetchone()
    except psycopg.Error:
        return None
    return None if row is None or row[0] is None else str(row[0])




def open_server(location: ServerLocation, *, password: str | None = None) -> ServerDatabase:
    """Connect to the server database at ``location``, bring its schema up to date (an empty
    database gets the whole schema) and bind the models to it.

    Raises :class:`~gisttracker.store.db.StoreError` with a plain message when the server
    cannot be reached or refuses the user; a database written by a newer release is refused
    before anything is written (:class:`~gisttracker.store.db.NewerSchemaError`).
    """
    from gisttracker.store.db import StoreError, database
    from gisttracker.store.migrations import migrate

    db = ServerDatabase(location.connect_url, password=password)
    try:
        db.connect()
    except (peewee.DatabaseError, peewee.InterfaceError) as exc:
        # Refused, unreachable, or a parameter libpq does not know (?sslmode=bogus, ?foo=):
        # libpq's own words say which; the password never appears in them, but make sure.
        error = str(exc).strip()
        for secret in (password, split_url(location.connect_url)[1]):
            if secret:
                error = error.replace(secret, "***")
        raise StoreError(_("cannot connect to {url}: {error}").format(
            url=location.url, error=error)) from exc
    found: int | None = None
    try:
        from gisttracker.store.migrations import schema_version

        found = schema_version(db)
        version = migrate(db)
    except peewee.DatabaseError as exc:
        user = str(db.connection().info.user)  # type: ignore[no-untyped-call]
        db.close()
        if _sqlstate(exc) == "42501" and found is not None:
            raise _not_the_owner(location, user, found) from exc
        from gisttracker.store.db import environment_error

        known = environment_error(exc, location)
        if known is None:
            raise
        raise known from exc
    except BaseException:
        db.close()
        raise
    if version != found:
        log.info("server database %s migrated from schema %s to %s", location.url, found,
                 version)
    log.info("server database %s opened (schema %s)", location.url, version)
    database.initialize(db)
    return db


# Tables the application never changes once written: the audit trail, the randomization and
# its seed, the protocol and form versions (triggers refuse UPDATE/DELETE/TRUNCATE for
# everyone; the application role is not even granted them).
APPEND_ONLY = ("audit_entry", "audit_txn", "audit_record", "audit_shape", "randomization",
               "randomization_seed", "protocol_version", "form_version")
# Only the owner writes these (migrations).
OWNER_ONLY = ("schema_migration",)


def _quoted(names: list[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def grant_statements(db: peewee.Database, role: str) -> list[str]:
    """The least privileges of the application role ``role`` on the open database, run by
    its owner after each upgrade (``gisttracker server grant ROLE``): read every table;
    insert into all but the migration history; update and delete only where the program
    changes rows — never in the audit trail or the randomization; no TRUNCATE, no DDL
    (PostgreSQL 15 gives PUBLIC no CREATE on the public schema; the owner owns every table,
    so the role cannot drop or disable a trigger)."""
    from gisttracker.store.introspect import table_names

    who = '"' + role.replace('"', '""') + '"'
    tables = table_names(db)
    changing = [t for t in tables if t not in APPEND_ONLY and t not in OWNER_ONLY]
    inserting = [t for t in tables if t not in OWNER_ONLY]
    dbname = '"' + str(db.execute_sql("SELECT current_database()").fetchone()[0]) + '"'
    return [
        f"GRANT CONNECT ON DATABASE {dbname} TO {who}",
        # Temporary tables (private to a session, gone at its end): the coordinating
        # centre's import puts a package's tables there to merge them.
        f"GRANT TEMPORARY ON DATABASE {dbname} TO {who}",
        f"GRANT USAGE ON SCHEMA public TO {who}",
        f"REVOKE CREATE ON SCHEMA public FROM PUBLIC, {who}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {who}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {who}",
        f"GRANT INSERT ON {_quoted(inserting)} TO {who}",
        f"GRANT UPDATE, DELETE ON {_quoted(changing)} TO {who}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {who}",
    ]


def grant(db: peewee.Database, role: str) -> list[str]:
    """Run :func:`grant_statements` (as the database's owner); returns them."""
    statements = grant_statements(db, role)
    with db.atomic():
        for statement in statements:
            db.execute_sql(statement)
    return statements


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of the server error behind ``exc`` (peewee wraps psycopg's)."""
    for link in (exc, *exc.args[:1], exc.__cause__, exc.__context__):
        state = getattr(link, "sqlstate", None)
        if isinstance(state, str):
            return state
    return None


def _not_the_owner(location: ServerLocation, user: str, found: int) -> Exception:
    """The message for a role that may not create or upgrade the schema (the application's
    least-privilege role, README): only the database's owner does, once per release."""
    from gisttracker.store.db import StoreError
    from gisttracker.store.migrations import LATEST

    if found == 0:
        return StoreError(_(
            "The database {url} is empty, and the role {user} may not create the program's "
            "tables in it. Its owner opens it once first (see the server section of the "
            "README: 'gisttracker server grant'); nothing was changed.").format(
                url=location.url, user=user))
    return StoreError(_(
        "The database {url} is at schema {found} and this version of the program needs "
        "{latest}; the role {user} may not upgrade it. Ask its administrator to open it once "
        "as its owner and to run 'gisttracker server grant' again; nothing was changed."
    ).format(url=location.url, found=found, latest=LATEST, user=user))
