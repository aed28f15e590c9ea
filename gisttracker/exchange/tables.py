"""The tables that hold a study's records, read from the database schema itself.

A *record table* has a ``uid`` column (the identity that survives merging sites' files).
Exchange carries the values of its columns, except the local integer ``id``; a column that
refers to another record table (``patient_id``, ``visit_id``…) is carried as the referenced
record's uid, since integer ids mean nothing in another file.

Reading the schema rather than listing tables by hand means a table another feature adds
(with a uid and foreign keys) is exchanged without touching this module; only tables that
must never leave the site are named here (:data:`NOT_EXCHANGED`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gisttracker.store.db import read_only_uri

# Site-local tables: settings (site code, paper…), the randomization seed (allocation
# concealment: it never leaves the site), accounts and their keys, the demo's and the
# exchange's own bookkeeping.
NOT_EXCHANGED = frozenset({
    "setting", "randomization_seed", "demo_run", "exchange_site", "exchange_package",
    "exchange_conflict", "account", "key_wrap",
    # The protocol version in force *at this site*: each file has its own.
    "study_protocol",
})
# Shared reference records: the same protocol file text or form definition is the same thing
# at every site, but each file gives it its own uid when it first meets it. They are matched
# by this natural key (never by uid), and never changed (triggers refuse it).
NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "protocol_version": ("study_key", "digest"),
    "form_version": ("kind", "digest"),
}


def natural_key(table: str, alias: str) -> str:
    """SQL for the natural key of a row of ``table`` (``NCT04933669|<sha-256>``)."""
    return " || '|' || ".join(f"{alias}.{_q(c)}" for c in NATURAL_KEYS[table])
# Tables of personal identifiers: exchanged only when identifiers are asked for.
IDENTIFYING = frozenset({"patient_identity"})


@dataclass(frozen=True)
class TableInfo:
    """One record table: its columns (without ``id``) and which of them refer to which
    record table (column → table)."""

    name: str
    columns: tuple[str, ...]
    refs: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)  # declared SQL type per column

    def reference_fields(self) -> dict[str, str]:
        """Audit-trail field names that hold a reference (``patient`` and ``patient_id``
        both name ``patient_id``) → referenced table."""
        out = {}
        for column, table in self.refs.items():
            out[column] = table
            if column.endswith("_id"):
                out[column[:-3]] = table
        return out


def _tables(conn: sqlite3.Connection, schema: str) -> list[str]:
    return [r[0] for r in conn.execute(
        f"SELECT name FROM {schema}.sqlite_master WHERE type = 'table' "
        "AND name NOT LIKE 'sqlite_%' ORDER BY name")]


def record_tables(conn: sqlite3.Connection, *, schema: str = "main",
                  identifiers: bool = True) -> list[TableInfo]:
    """The record tables of ``schema``, parents before children (a table comes after every
    table it refers to). ``identifiers=False`` leaves out :data:`IDENTIFYING` tables."""
    infos: dict[str, TableInfo] = {}
    names = _tables(conn, schema)
    for name in names:
        if name in NOT_EXCHANGED or (not identifiers and name in IDENTIFYING):
            continue
        described = conn.execute(f'PRAGMA {schema}.table_info("{name}")').fetchall()
        columns = [r[1] for r in described]
        if "uid" not in columns:
            continue
        refs = {r[3]: r[2] for r in conn.execute(
            f'PRAGMA {schema}.foreign_key_list("{name}")').fetchall()}
        infos[name] = TableInfo(name, tuple(c for c in columns if c != "id"),
                                {c: t for c, t in refs.items()},
                                {r[1]: str(r[2]).upper() for r in described if r[1] != "id"})
    # Only references between record tables are translated to uids.
    for name, info in list(infos.items()):
        infos[name] = TableInfo(name, info.columns,
                                {c: t for c, t in info.refs.items() if t in infos},
                                info.types)
    ordered: list[TableInfo] = []
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in done:
            return
        if name in path:
            raise RuntimeError(f"record tables refer to each other in a cycle: {path}")
        for parent in sorted(set(infos[name].refs.values())):
            if parent != name:
                visit(parent, (*path, name))
        done.add(name)
        ordered.append(infos[name])

    for name in sorted(infos):
        visit(name, ())
    return ordered


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _patient_path(info: TableInfo, infos: dict[str, TableInfo]) -> list[tuple[str, str]]:
    """(column, table) steps from ``info`` to ``patient`` through references."""
    if info.name == "patient":
        return []
    if info.refs.get("patient_id") == "patient":
        return [("patient_id", "patient")]
    for column, parent in sorted(info.refs.items()):
        if parent in infos and parent != info.name:
            rest = _patient_path(infos[parent], infos)
            if rest or parent == "patient":
                return [(column, parent), *rest]
    raise LookupError(info.name)


def patient_join(info: TableInfo, infos: dict[str, TableInfo]) -> tuple[str, str]:
    """The FROM clause reaching the patient (alias ``p``) and the table's alias."""
    try:
        steps = _patient_path(info, infos)
    except LookupError:
        return f"{_q(info.name)} t", ""
    if not steps:
        return f"{_q(info.name)} t", "t"
    sql = f"{_q(info.name)} t"
    alias = "t"
    for n, (column, parent) in enumerate(steps):
        nxt = "p" if parent == "patient" else f"j{n}"
        sql += f" JOIN {_q(parent)} {nxt} ON {nxt}.id = {alias}.{_q(column)}"
        alias = nxt
    return sql, "p"


class _SnapshotConnection(sqlite3.Connection):
    """A connection to a snapshot file of a server database, which goes with it."""

    release: Callable[[], None] | None = None

    def close(self) -> None:
        super().close()
        release, self.release = self.release, None
        if release is not None:
            release()


def read_snapshot(path: Path) -> sqlite3.Connection:
    """A read-only connection to the database ``path`` inside one read transaction: every
    query sees the same moment, however busy other writers are.

    For a server database: a connection to a snapshot of it (one ``REPEATABLE READ``
    transaction copied into a private SQLite file, :func:`gisttracker.store.transfer.as_file`),
    so every export reads the same SQL on both engines and gives the same files; closing the
    connection removes the snapshot."""
    from gisttracker.store.urls import ServerLocation

    if isinstance(path, ServerLocation):
        from contextlib import ExitStack

        from gisttracker.store.transfer import as_file

        stack = ExitStack()
        try:
            copy = stack.enter_context(as_file(path))
            snap = sqlite3.connect(read_only_uri(copy), uri=True, isolation_level=None,
                                   check_same_thread=False, factory=_SnapshotConnection)
        except BaseException:
            stack.close()
            raise
        snap.release = stack.close
        snap.execute("BEGIN")
        return snap
    uri = read_only_uri(path)
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        conn.execute("SELECT 1 FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        conn = sqlite3.connect(uri + "&immutable=1", uri=True, isolation_level=None,
                               check_same_thread=False)
    conn.execute("BEGIN")
    return conn


# Reference fields of the audit trail, per connection: a TEMP table (never the database) that
# lets one join say which audit rows hold a reference and to which table.
REFS_TABLE = "temp.exchange_refs"
_REFS_CREATE = ("CREATE TEMP TABLE IF NOT EXISTS exchange_refs (table_name TEXT NOT NULL, "
                "field TEXT NOT NULL, parent TEXT NOT NULL, PRIMARY KEY (table_name, field)) "
                "WITHOUT ROWID")
_REFS_FILL = "INSERT OR REPLACE INTO temp.exchange_refs VALUES (?, ?, ?)"


def reference_fields(conn: sqlite3.Connection, tables: list[TableInfo]) -> list[str]:
    """Fill this connection's TEMP table of audit reference fields; returns the referenced
    tables. Join it as ``LEFT JOIN temp.exchange_refs r ON r.table_name = a.table_name AND
    r.field = a.field``: ``r.parent`` is then the table a row's value refers to, or NULL."""
    conn.execute(_REFS_CREATE)
    rows = [(t.name, f, p) for t in tables for f, p in t.reference_fields().items()]
    conn.executemany(_REFS_FILL, rows)
    return sorted({p for _t, _f, p in rows})


def translated(value: str, parents: list[str], lookup: Callable[[str, str], str]) -> str:
    """SQL for an audit value: ``lookup(parent, value)`` (an SQL expression) where the row's
    field refers to ``parent`` (``r.parent``, see :func:`reference_fields`), else the value."""
    if not parents:
        return value
    whens = " ".join(f"WHEN '{p}' THEN {lookup(p, value)}" for p in parents)
    return f"CASE WHEN r.parent IS NULL THEN {value} ELSE CASE r.parent {whens} END END"
