"""Claims: a check that decides a write, made by one writer at a time on any engine.

A rule such as "a record number is registered once" or "the site keeps an active
administrator" reads other rows, then writes. Made before the transaction, or inside it
without a lock, two workstations (or two programs on one SQLite file) both pass it and
both write (issue 16, point 2). A check of that kind runs *inside* the transaction, right
after :func:`claim`:

* **SQLite.** The transaction holds the file's write lock from ``BEGIN IMMEDIATE``: no
  other writer runs until the commit, so a check inside it sees every committed write and
  nothing can change before the commit. :func:`claim` does nothing.
* **A PostgreSQL server.** Writers overlap until the chain lock at their commit
  (:meth:`gisttracker.services.base.Writer._settle`). :func:`claim` takes a
  transaction-scoped advisory lock named by the rule and its subject (``pg_advisory_xact_
  lock(int, int)``: a key space apart from the chain's single-key lock); a second writer
  claiming the same waits until the first commits or rolls back. The check is the next
  statement, so under READ COMMITTED it sees what the first committed.

Why a lock per subject rather than :meth:`Writer.serialize` (the chain lock): writers
claiming different subjects (two registrations with different record numbers) still
overlap, and a writer holding a claim never waits for the chain lock before a row lock,
which the chain lock held early could do (a deadlock PostgreSQL would break by refusing one
of them). Both rules — the claim and the check after it — must hold in *every* transaction
that can break the rule; each use below says which ones.
"""

from __future__ import annotations

from gisttracker.services.base import Writer
from gisttracker.store.server import is_server_db

# The first key of pg_advisory_xact_lock(int4, int4) for each rule (the second is the
# subject's hash). "GT" in ASCII, then the rule's number.
_RULES = {
    "administrators": 0x47540001,  # the site keeps an active administrator
    "record_number": 0x47540002,  # a medical record number is registered once
    "unscheduled_visits": 0x47540003,  # a patient's next unscheduled visit number
    "account_name": 0x47540004,  # an account name is taken once
    "allocation_key": 0x47540005,  # the site's allocation key is made once
    "tumour_assessments": 0x47540006,  # a patient's one baseline, follow-ups after it
    "site_packages": 0x47540007,  # a centre registers a site, imports its packages: in turn
    "signature": 0x47540008,  # a scope's target is signed once
    "protocol": 0x47540009,  # a study's protocol version put in force once
}


def claim(w: Writer, rule: str, subject: str = "") -> None:
    """From here to the commit no other transaction claims ``rule`` for ``subject``: call
    it inside the transaction, before the read that decides the write (see the module's
    docstring). On SQLite nothing to do; on a server it may wait for another writer's
    commit. Hash collisions of two subjects only make one wait for the other."""
    if not is_server_db(w.db):
        return
    w.db.execute_sql("SELECT pg_advisory_xact_lock(?, hashtext(?))",
                     (_RULES[rule], subject))


def lock_row(w: Writer, table: str, row_id: int) -> None:
    """Hold the row ``row_id`` of ``table`` against change until the commit: for a check of
    the rows that refer to it (a visit's forms before the visit is removed) or of its state
    before writing below it. On a server ``SELECT … FOR UPDATE``: a transaction that adds a
    row referring to it waits for this one (the foreign key's check locks it too), one that
    added such a row or changed it before is waited for, so the check after this sees it.
    On SQLite the transaction's write lock does that already: nothing to do."""
    if is_server_db(w.db):
        w.db.execute_sql(f'SELECT 1 FROM "{table}" WHERE id = ? FOR UPDATE', (row_id,))
