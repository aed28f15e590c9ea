"""peewee models of the foundation tables, bound to :data:`gisttracker.store.db.database`.

Record identity: every record has a local integer ``id`` (fast joins) and a ``uid``, a random
UUID that never changes and is unique across sites. Merging the files of several offline
sites later matches records by ``uid``; ``id`` values are local to one file.

Only the service layer (:mod:`gisttracker.services`) writes through these models.
"""

from __future__ import annotations

import uuid

import peewee

from gisttracker.store.db import database


def new_uid() -> str:
    """A fresh record identity (UUID4, 32 hex digits)."""
    return uuid.uuid4().hex


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False


class Record(BaseModel):
    """A row the application owns and audits: it carries a site-independent ``uid`` and a
    ``version`` (1 when inserted, one more with every audited change), so a save based on
    what a form loaded earlier can tell whether someone changed the record meanwhile."""

    uid = peewee.CharField(unique=True, default=new_uid)
    version = peewee.IntegerField(default=1)

    # Fields never shown in the audit trail as changes (identity and bookkeeping).
    audit_exclude: frozenset[str] = frozenset({"id", "uid", "version"})
    # Fields whose values the audit trail records only as a SHA-256 digest (password
    # hashes, wrapped keys): a change is on record, the secret is not copied.
    audit_secret: frozenset[str] = frozenset()


class SchemaMigration(BaseModel):
    version = peewee.IntegerField(primary_key=True)
    name = peewee.TextField()
    applied_at = peewee.TextField()


class Setting(Record):
    key = peewee.CharField(unique=True)
    value = peewee.TextField()


class AuditLog(BaseModel):
    """The audit trail as people read it (the ``audit_log`` view, schema 9): one entry with
    who, when, table, record, patient and reason. Read-only; only
    :class:`gisttracker.services.base.Writer` appends, to the tables below.

    ``action`` ``insert``: ``field`` is NULL and ``new_value`` a JSON object of every value
    the record was created with (by column). ``update``: one changed ``field`` with its
    ``old_value`` and ``new_value`` (JSON). ``delete``: ``old_value`` holds all last values.
    ``version`` is the record's version after the entry; ``txn`` its transaction.
    """

    at = peewee.TextField()
    user = peewee.TextField()
    action = peewee.TextField()
    table_name = peewee.TextField()
    record_uid = peewee.TextField()
    field = peewee.TextField(null=True)
    old_value = peewee.TextField(null=True)
    new_value = peewee.TextField(null=True)
    reason = peewee.TextField(null=True)
    patient_uid = peewee.TextField(null=True)
    version = peewee.IntegerField()
    txn = peewee.IntegerField()

    class Meta:
        table_name = "audit_log"


class AuditTxn(BaseModel):
    """Who, when and why: once per transaction, with its last entry and the full chain
    hash after it (append-only; see :mod:`gisttracker.store.chain`)."""

    at = peewee.TextField()
    user = peewee.TextField()
    reason = peewee.TextField(null=True)
    last_entry = peewee.IntegerField()
    hash = peewee.BlobField()


class AuditRecord(BaseModel):
    """Each audited record once: table, uid (as :func:`gisttracker.store.chain.uid_key`
    stores it), and its patient's AuditRecord (append-only)."""

    table_name = peewee.TextField()
    record_key = peewee.BlobField(unique=True)
    patient = peewee.IntegerField(null=True)


class AuditShape(BaseModel):
    """The column names of insert / delete value arrays, once per table and column set."""

    table_name = peewee.TextField()
    columns = peewee.TextField()


class AuditEntry(BaseModel):
    """One insert (``i``), changed field (``u``) or delete (``d``); append-only, chained
    (``tag``: the first bytes of the chain value after it)."""

    txn = peewee.IntegerField()
    record = peewee.IntegerField()
    action = peewee.TextField()
    field = peewee.TextField(null=True)
    shape = peewee.IntegerField(null=True)
    old_value = peewee.TextField(null=True)
    new_value = peewee.TextField(null=True)
    reason = peewee.TextField(null=True)
    version = peewee.IntegerField()
    tag = peewee.BlobField()
