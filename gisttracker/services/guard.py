"""Guarded entry points: what every public method of a service facade goes through.

Kept apart from :mod:`gisttracker.services.base` (the transaction and the audit, which need
the ORM) so that a light facade — the patient list, the window's first screen — is guarded
the same way without importing peewee before the window shows. The store is imported only
when a database error has to be put into words.
"""

from __future__ import annotations

import functools
import sqlite3
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from gisttracker.validation import checked, public_methods

S = TypeVar("S", bound=type)
F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["is_database_error", "service"]


def is_database_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a database failure (SQLite's own, or peewee's wrapping of one).
    Without peewee imported, no peewee error can have been raised."""
    peewee = sys.modules.get("peewee")
    return isinstance(exc, sqlite3.DatabaseError) or (
        peewee is not None and isinstance(exc, peewee.DatabaseError))


def service(cls: S) -> S:
    """Make every public method of the service facade ``cls`` a guarded entry point.

    Each call's arguments are checked against the method's annotations
    (:func:`gisttracker.validation.checked`: wrong types, NaN, huge numbers, broken or
    control characters, far dates give an :class:`~gisttracker.errors.InputError` naming
    the parameter), and a database failure the environment caused (full disk, lock, read-only
    file, failing disk) becomes its :class:`~gisttracker.store.db.StoreError`. Methods added
    later to any part of the facade are covered without further ado.
    """
    for name in public_methods(cls):
        fn = getattr(cls, name)
        if not getattr(fn, "__service_entry__", False):
            setattr(cls, name, _entry(fn))
    return cls


def _database_path(facade: Any) -> object:
    """The database file a facade works on (through its tracker or its session's)."""
    tracker = getattr(facade, "tracker", None)
    if tracker is None:
        tracker = getattr(getattr(facade, "session", None), "tracker", None)
    return getattr(getattr(tracker, "db", None), "database", None)


def _entry(fn: F) -> F:
    inner = checked(fn)

    @functools.wraps(fn)
    def entry(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return inner(self, *args, **kwargs)
        except Exception as exc:
            if not is_database_error(exc):
                raise
            from gisttracker.store.db import environment_error

            path = _database_path(self)
            known = environment_error(exc, path if isinstance(path, str) else None)
            if known is None:
                raise
            raise known from exc

    setattr(entry, "__service_entry__", True)  # noqa: B010 - marks the wrapper as ours
    return entry  # type: ignore[return-value]
