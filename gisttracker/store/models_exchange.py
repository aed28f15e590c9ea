"""Models of schema 7: site packages at the coordinating centre, conflicts, the demo's runs."""

from __future__ import annotations

import peewee

from gisttracker.store.models import BaseModel, Record


class DemoRun(Record):
    """Patients the demo generator made: site code and number range, with the seed used."""

    seed = peewee.TextField(unique=True)
    site_code = peewee.TextField()
    first_seq = peewee.IntegerField()
    last_seq = peewee.IntegerField()
    patients = peewee.IntegerField()
    made_on = peewee.TextField()


class ExchangeSite(Record):
    """A site whose packages this centre accepts: its code and Ed25519 public key (hex).
    ``audit_mark`` is the site's last audit row already imported here."""

    site_code = peewee.TextField(unique=True)
    site_name = peewee.TextField(null=True)
    public_key = peewee.TextField(unique=True)
    trusted_on = peewee.TextField()
    audit_mark = peewee.IntegerField(default=0)


class ExchangePackage(Record):
    """A package sent by this site (``sent``) or imported by this centre (``received``)."""

    direction = peewee.TextField()
    site_code = peewee.TextField()
    seq = peewee.IntegerField()
    base_seq = peewee.IntegerField(null=True)
    audit_from = peewee.IntegerField()
    audit_to = peewee.IntegerField()
    digest = peewee.TextField()
    made_at = peewee.TextField()
    summary = peewee.TextField(null=True)


class ExchangeBase(BaseModel):
    """The values of a record as its site last sent them (JSON), for finding conflicts."""

    record_uid = peewee.TextField(primary_key=True)
    site_code = peewee.TextField()
    table_name = peewee.TextField()
    data = peewee.TextField()


class ExchangeConflict(Record):
    """A field changed both at the site and at the centre. Values are JSON text."""

    id = peewee.AutoField()
    site_code = peewee.TextField()
    package_seq = peewee.IntegerField()
    table_name = peewee.TextField()
    record_uid = peewee.TextField()
    patient_uid = peewee.TextField(null=True)
    field = peewee.TextField()
    base_value = peewee.TextField(null=True)
    site_value = peewee.TextField(null=True)
    centre_value = peewee.TextField(null=True)
    state = peewee.TextField(default="open")
    kept = peewee.TextField(null=True)
    resolved_by = peewee.TextField(null=True)
    resolved_at = peewee.TextField(null=True)
