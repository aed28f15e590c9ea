"""Models of schema 6: the protocol and form versions data are captured under."""

from __future__ import annotations

import peewee

from gisttracker.store.models import Record


class ProtocolVersion(Record):
    """One protocol file text a study was used under (immutable: triggers refuse changes).

    ``digest`` is the SHA-256 of ``text``; the audit trail records the digest, not the text
    (which is here, once)."""

    study_key = peewee.TextField()
    digest = peewee.TextField()
    file_name = peewee.TextField()
    text = peewee.TextField()
    first_seen_at = peewee.TextField()

    audit_exclude: frozenset[str] = frozenset({"id", "uid", "text"})


class StudyProtocol(Record):
    """The protocol version in force for a study at this site, since when (UTC)."""

    study_key = peewee.TextField(unique=True)
    protocol_version = peewee.ForeignKeyField(ProtocolVersion)
    since = peewee.TextField()


class FormVersion(Record):
    """One form definition a form was captured under (immutable)."""

    kind = peewee.TextField()
    digest = peewee.TextField()
    definition = peewee.TextField()
    first_seen_at = peewee.TextField()

    audit_exclude: frozenset[str] = frozenset({"id", "uid", "definition"})
