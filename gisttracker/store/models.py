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
    """A row the application owns and audits: it carries a site-independent ``uid``."""

    uid = peewee.CharField(unique=True, default=new_uid)

    # Fields never shown in the audit trail as changes (identity and bookkeeping).
    audit_exclude: frozenset[str] = frozenset({"id", "uid"})


class SchemaMigration(BaseModel):
    version = peewee.IntegerField(primary_key=True)
    name = peewee.TextField()
    applied_at = peewee.TextField()


class Setting(Record):
    key = peewee.CharField(unique=True)
    value = peewee.TextField()


class AuditLog(BaseModel):
    """One changed field: append-only (triggers in the schema refuse UPDATE and DELETE)."""

    at = peewee.TextField()
    user = peewee.TextField()
    action = peewee.TextField()
    table_name = peewee.TextField()
    record_uid = peewee.TextField()
    field = peewee.TextField()
    old_value = peewee.TextField(null=True)
    new_value = peewee.TextField(null=True)
    reason = peewee.TextField(null=True)
    patient_uid = peewee.TextField(null=True)
