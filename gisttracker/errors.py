"""Expected errors versus bugs.

Everything that is the user's or the environment's doing — a refused value, an unknown
study, a protocol file that does not load, a database that cannot be opened — is a
:class:`UserError`: its message is written for the person at the keyboard and is shown as
it is (a line on the command line, a message beside the field or in a box in the window).

Anything else that escapes is a bug: it is logged with its traceback and reported as such,
never shown to a nurse as a raw message in a form.

The families: :class:`gisttracker.services.base.ServiceError` (a request the rules refuse),
:class:`gisttracker.protocols.loader.ProtocolError` (a protocol file cannot be used),
:class:`gisttracker.store.db.StoreError` (the database cannot be used) and
:class:`gisttracker.domain.eligibility.FactError` (a screening fact that cannot be right).
"""

from __future__ import annotations


class UserError(Exception):
    """An expected error. ``str(error)`` is a complete message for the user."""
