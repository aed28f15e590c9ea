"""Expected errors versus bugs.

Everything that is the user's or the environment's doing — a refused value, an unknown
study, a protocol file that does not load, a database that cannot be opened, a full disk —
is a :class:`UserError`: its message is written for the person at the keyboard and is shown
as it is (a line on the command line, a message beside the field or in a box in the window).

Anything else that escapes is a bug: it is logged with its traceback and reported as such
("something went wrong, a report was saved at …"), never shown to a nurse as a raw message
in a form. In particular a bare :class:`ValueError` or :class:`TypeError` is a bug: code
that refuses a value on purpose raises :class:`InputError` (or another :class:`UserError`).

The families: :class:`InputError` (a value a rule refuses: the wrong kind of value, out of
range, inconsistent with another), :class:`gisttracker.services.base.ServiceError` (a
request the rules refuse), :class:`gisttracker.protocols.loader.ProtocolError` (a protocol
file cannot be used), :class:`gisttracker.store.db.StoreError` (the database cannot be used:
full disk, locked, read-only…) and :class:`gisttracker.domain.eligibility.FactError` (a
screening fact that cannot be right).
"""

from __future__ import annotations


class UserError(Exception):
    """An expected error. ``str(error)`` is a complete message for the user."""


class InputError(UserError):
    """A value a rule refuses. ``field`` names the argument or form field when it is known
    (a dotted path such as ``data.notes`` for a field of an input record), so that a form can
    show the message beside it."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
