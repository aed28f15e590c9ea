"""Models of schema 4: forms, item values, adverse events."""

from __future__ import annotations

import peewee

from gisttracker.store.models import Record
from gisttracker.store.models_patients import LabResult, Patient
from gisttracker.store.models_visits import Visit


class Form(Record):
    visit = peewee.ForeignKeyField(Visit, backref="forms", on_delete="CASCADE")
    kind = peewee.TextField()
    state = peewee.TextField(default="not_started")
    not_done_reason = peewee.TextField(null=True)
    completed_at = peewee.TextField(null=True)
    completed_by = peewee.TextField(null=True)
    # Schema 6: the form definition (form_version.id) the answers were last saved under.
    form_version_id = peewee.IntegerField(null=True)


class FormValue(Record):
    """One item of a form: a JSON value, or why it is missing (not answered / not asked)."""

    form = peewee.ForeignKeyField(Form, backref="values", on_delete="CASCADE")
    item = peewee.TextField()
    value = peewee.TextField(null=True)
    missing = peewee.TextField(null=True)


class AdverseEvent(Record):
    patient = peewee.ForeignKeyField(Patient, backref="adverse_events", on_delete="CASCADE")
    visit = peewee.ForeignKeyField(Visit, null=True, on_delete="SET NULL")
    lab_result = peewee.ForeignKeyField(LabResult, null=True, on_delete="SET NULL")
    term = peewee.TextField()
    grade = peewee.IntegerField()
    onset = peewee.DateField()
    resolved_on = peewee.DateField(null=True)
    serious = peewee.BooleanField(default=False)
    drug = peewee.TextField(null=True)
    relation = peewee.TextField(null=True)
    action = peewee.TextField(null=True)
    outcome = peewee.TextField(null=True)
    notes = peewee.TextField(null=True)
