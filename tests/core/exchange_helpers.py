"""Sites, a centre and record-by-record comparisons for the exchange tests."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from gisttracker.demo import generate
from gisttracker.exchange.package import _select_columns
from gisttracker.exchange.tables import NATURAL_KEYS, TableInfo, record_tables
from gisttracker.services.settings import SettingsService
from gisttracker.session import Session, open_session

TODAY = date(2026, 3, 14)
NOW = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)

Dump = dict[str, dict[str, tuple[Any, ...]]]


def open_site(path: Path, code: str, *, user: str = "nurse") -> Session:
    session = open_session(path, user=user, clock=lambda: NOW)
    settings = SettingsService(session.tracker)
    if settings.get("site_code") != code:
        settings.set("site_code", code)
        settings.set("site_name", f"Hospital {code}")
    return session


def make_site(path: Path, code: str, *, patients: int, seed: int) -> Path:
    session = open_site(path, code)
    try:
        generate(session, patients=patients, seed=seed, today=TODAY)
    finally:
        session.close()
    return path


@contextlib.contextmanager
def read(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection reading the site database ``path``: the file, or for a server database
    a snapshot of it in a file (:func:`gisttracker.store.transfer.as_file`)."""
    from gisttracker.store.transfer import as_file

    with as_file(path) as file:
        conn = sqlite3.connect(file)
        try:
            yield conn
        finally:
            conn.close()


def dump(path: Path, *, identifiers: bool = False, site: str | None = None) -> Dump:
    """Every record of every exchanged table, by uid, references as uids — a reference to a
    protocol or form version as its natural key (each file gives a version its own uid).
    ``path`` may be a server database (read from a snapshot)."""
    with read(path) as conn:
        return _dump(conn, identifiers, site)


def _dump(conn: sqlite3.Connection, identifiers: bool, site: str | None) -> Dump:
    out: Dump = {}
    for info in record_tables(conn, identifiers=identifiers):
        if info.name in NATURAL_KEYS:
            continue
        # A record's version counts the changes in this file's own audit trail.
        info = TableInfo(info.name, tuple(c for c in info.columns if c != "version"),
                         info.refs, info.types)
        rows = conn.execute(
            f'SELECT {_select_columns(info, "s", "main", natural=True)} '
            f'FROM "{info.name}" s').fetchall()
        table = {}
        uid_at = info.columns.index("uid")
        for row in rows:
            table[row[uid_at]] = tuple(row)
        out[info.name] = table
    if site is not None:
        keep = {uid for uid, row in out["patient"].items()
                if row[info_index(conn, "patient", "site_code")] == site}
        out = _only_patients(conn, out, keep)
    return out


def info_index(conn: sqlite3.Connection, table: str, column: str) -> int:
    info = {t.name: t for t in record_tables(conn)}[table]
    return info.columns.index(column)


def _only_patients(conn: sqlite3.Connection, data: Dump, patients: set[str]) -> Dump:
    """The records that belong to ``patients`` (followed through the audit trail)."""
    owned = {r[0] for r in conn.execute(
        "SELECT DISTINCT record_uid FROM audit_log WHERE patient_uid IN (SELECT value FROM "
        "json_each(?))", (json.dumps(sorted(patients)),))}
    return {t: {u: r for u, r in rows.items() if u in owned or u in patients}
            for t, rows in data.items()}


def counts(path: Path) -> dict[str, int]:
    with read(path) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}


def replay_problems(path: Path) -> list[str]:
    """What the audit trail does not explain: its chain broken, or a field whose last
    audited value is not what the table holds (the trail must replay to the data; see
    :func:`gisttracker.services.audit.verify`)."""
    from gisttracker.services.audit import verify
    from gisttracker.store.db import connect
    from gisttracker.store.transfer import as_file

    with as_file(path) as file:
        db = connect(file)
        try:
            return [f.message for f in verify(db).findings]
        finally:
            db.close()
