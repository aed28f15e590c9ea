"""Models of schema 9: accounts and their wrapped keys, signatures, source verification,
data queries, security events, and the audit chain's checkpoint."""

from __future__ import annotations

import peewee

from gisttracker.store.models import BaseModel, Record


class Account(Record):
    """A person who signs in. ``name`` is unique whatever its case; ``password_hash`` is an
    Argon2id hash (argon2-cffi's encoded form, parameters included)."""

    id = peewee.AutoField()

    name = peewee.TextField(unique=True)
    full_name = peewee.TextField()
    role = peewee.TextField()
    password_hash = peewee.TextField()
    active = peewee.BooleanField(default=True)
    failed_sign_ins = peewee.IntegerField(default=0)
    locked_until = peewee.TextField(null=True)  # UTC ISO time
    password_changed_at = peewee.TextField(null=True)
    created_at = peewee.TextField()

    audit_secret = frozenset({"password_hash"})


class KeyWrap(Record):
    """A data key wrapped for one account (``account`` set, ``kdf`` the Argon2id parameters
    and salt) or stored open for a site without accounts (``account`` NULL)."""

    id = peewee.AutoField()

    account = peewee.ForeignKeyField(Account, null=True, backref="keys", on_delete="CASCADE")
    purpose = peewee.TextField()
    kdf = peewee.TextField(null=True)
    wrapped = peewee.TextField()
    created_at = peewee.TextField()

    audit_secret = frozenset({"wrapped"})


class Signature(Record):
    """An electronic signature; while it exists the data in its scope is locked."""

    id = peewee.AutoField()

    scope = peewee.TextField()  # casebook | visit | form
    target_uid = peewee.TextField()
    patient_ref = peewee.TextField()  # the patient's uid
    account_uid = peewee.TextField()
    signer = peewee.TextField()
    signer_name = peewee.TextField()
    meaning = peewee.TextField()
    signed_at = peewee.TextField()  # UTC ISO time
    audit_head = peewee.IntegerField(null=True)
    audit_hash = peewee.TextField(null=True)


class SourceVerification(Record):
    """A monitor's source data verification of a visit, a form or a casebook."""

    id = peewee.AutoField()

    scope = peewee.TextField()
    target_uid = peewee.TextField()
    patient_ref = peewee.TextField()  # the patient's uid
    verified_by = peewee.TextField()
    verified_at = peewee.TextField()
    audit_head = peewee.IntegerField(null=True)


class DataQuery(Record):
    """A question about one value: open → answered → closed (or back to open)."""

    id = peewee.AutoField()

    number = peewee.IntegerField(unique=True)
    patient_ref = peewee.TextField()  # the patient's uid
    study_key = peewee.TextField()
    table_name = peewee.TextField()
    record_uid = peewee.TextField()
    field = peewee.TextField(null=True)
    value_seen = peewee.TextField(null=True)  # JSON
    question = peewee.TextField()
    state = peewee.TextField(default="open")
    raised_by = peewee.TextField()
    raised_at = peewee.TextField()
    answer = peewee.TextField(null=True)
    answered_by = peewee.TextField(null=True)
    answered_at = peewee.TextField(null=True)
    closed_by = peewee.TextField(null=True)
    closed_at = peewee.TextField(null=True)
    close_note = peewee.TextField(null=True)


class SecurityEvent(Record):
    """Something that changes no data but must be on record (an allocation list revealed)."""

    id = peewee.AutoField()

    kind = peewee.TextField()
    detail = peewee.TextField(null=True)
    at = peewee.TextField()
    account = peewee.TextField()


class AuditCheckpoint(BaseModel):
    """Where the last check of the audit chain stopped: a cache for the check at open."""

    id = peewee.IntegerField(primary_key=True)
    entry_id = peewee.IntegerField()
    hash = peewee.BlobField()
    checked_at = peewee.TextField()
