"""What the schema says about itself: audited models by table, columns and their affinity,
foreign keys in both directions, and how SQLite compares stored values.

The writer uses it to follow a delete to the rows that reference the deleted one (so a
cascade is audited too) and to find the patient, visit and form a row belongs to (for
signature locks); the audit verifier uses it to compare tables with the audit trail. The
SQLite specifics (``PRAGMA table_info``, ``PRAGMA foreign_key_list``, type affinity) live
here only; a PostgreSQL store would answer the same questions from its catalogue.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

import peewee

from gisttracker.store.models import Record
from gisttracker.store.server import is_server_db

# Columns the database fills itself (by a trigger): derived, like an index, not audited.
DERIVED_COLUMNS: dict[str, frozenset[str]] = {"visit": frozenset({"study_key"})}


@cache
def audited_models() -> dict[str, type[Record]]:
    """Every :class:`Record` model by table name (importing each ``store/models*`` module)."""
    import gisttracker.store as store

    for info in pkgutil.iter_modules(store.__path__):
        if info.name.startswith("models"):
            importlib.import_module(f"gisttracker.store.{info.name}")
    found: dict[str, type[Record]] = {}
    pending = list(Record.__subclasses__())
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        found[model._meta.table_name] = model
    return found


@dataclass(frozen=True)
class ForeignKey:
    table: str  # the referencing table
    column: str
    parent: str  # the referenced table
    on_delete: str  # CASCADE, SET NULL, NO ACTION…


class Schema:
    """Cached facts about one open database's schema (it does not change while open)."""

    def __init__(self, db: peewee.Database) -> None:
        self.db = db
        self._columns: dict[str, list[tuple[str, str]]] = {}
        self._fks: dict[str, list[ForeignKey]] = {}
        self._refs: dict[str, list[ForeignKey]] | None = None

    def columns(self, table: str) -> list[tuple[str, str]]:
        """(name, affinity) of each column, in table order."""
        found = self._columns.get(table)
        if found is None:
            if is_server_db(self.db):
                rows = self.db.execute_sql(
                    "SELECT column_name, udt_name FROM information_schema.columns WHERE "
                    "table_schema = current_schema() AND table_name = ? "
                    "ORDER BY ordinal_position", (table,)).fetchall()
                found = [(r[0], affinity(_PG_TYPES.get(r[1], r[1]))) for r in rows]
            else:
                rows = self.db.execute_sql(f'PRAGMA table_info("{table}")').fetchall()
                found = [(r[1], affinity(r[2])) for r in rows]
            self._columns[table] = found
        return found

    def foreign_keys(self, table: str) -> list[ForeignKey]:
        found = self._fks.get(table)
        if found is None:
            if is_server_db(self.db):
                found = [ForeignKey(table, r[0], r[1], _PG_ACTIONS[str(r[2])])
                         for r in self.db.execute_sql(_PG_FKS, (table,)).fetchall()]
            else:
                rows = self.db.execute_sql(f'PRAGMA foreign_key_list("{table}")').fetchall()
                found = [ForeignKey(table, r[3], r[2], str(r[6]).upper()) for r in rows]
            self._fks[table] = found
        return found

    def referencing(self, table: str) -> list[ForeignKey]:
        """The foreign keys of other tables (and this one) that point at ``table``."""
        if self._refs is None:
            refs: dict[str, list[ForeignKey]] = {}
            names = table_names(self.db)
            for name in names:
                for fk in self.foreign_keys(name):
                    refs.setdefault(fk.parent, []).append(fk)
            self._refs = refs
        return self._refs.get(table, [])


# PostgreSQL's column types (udt_name) as the SQLite declaration they stand for.
_PG_TYPES = {"int8": "BIGINT", "int4": "INTEGER", "text": "TEXT", "citext": "TEXT",
             "float8": "DOUBLE", "bytea": "BLOB"}
_PG_ACTIONS = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL",
               "d": "SET DEFAULT"}
_PG_FKS = ("SELECT a.attname, p.relname, c.confdeltype FROM pg_constraint c "
           "JOIN pg_class t ON t.oid = c.conrelid JOIN pg_class p ON p.oid = c.confrelid "
           "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
           "WHERE c.contype = 'f' AND t.relname = ? "
           "AND t.relnamespace = current_schema()::regnamespace ORDER BY c.conname")


def table_names(db: peewee.Database) -> list[str]:
    """The tables of the open database (SQLite's own ``sqlite_*`` tables left out)."""
    if is_server_db(db):
        return [r[0] for r in db.execute_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "ORDER BY tablename").fetchall()]
    return [r[0] for r in db.execute_sql(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' "
        "ORDER BY name").fetchall()]


def affinity(declared: str) -> str:
    """SQLite's type affinity of a declared column type (section 3.1 of its datatype page)."""
    text = (declared or "").upper()
    if "INT" in text:
        return "INTEGER"
    if any(word in text for word in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in text or not text:
        return "BLOB"
    if any(word in text for word in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def sql_value(value: Any) -> Any:
    """``value`` as it goes into a statement: dates as ISO text, Decimals as text, the rest
    unchanged (the same text SQLite's adapters would produce, without relying on them)."""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def stored(value: Any, column_affinity: str) -> Any:
    """What SQLite keeps for ``value`` in a column of ``column_affinity``: numbers and
    numeric text become numbers in numeric columns, numbers become text in text columns,
    booleans are integers. Two values are the same data exactly when their stored forms
    are equal."""
    value = sql_value(value)
    if isinstance(value, bool):
        value = int(value)
    if column_affinity in ("INTEGER", "REAL", "NUMERIC"):
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                return value
            value = number
        if isinstance(value, int | float):
            return float(value)
        return value
    if column_affinity == "TEXT" and isinstance(value, int | float):
        if isinstance(value, float):
            return repr(value) if value != int(value) or abs(value) >= 1e15 else f"{value:.1f}"
        return str(value)
    return value
