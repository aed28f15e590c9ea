"""Models of schema 3: anchor dates and planned visits."""

from __future__ import annotations

import peewee

from gisttracker.store.models import Record
from gisttracker.store.models_patients import Patient


class AnchorDate(Record):
    patient = peewee.ForeignKeyField(Patient, backref="anchors", on_delete="CASCADE")
    anchor_key = peewee.TextField()
    date = peewee.DateField()


class Visit(Record):
    """A planned (or unscheduled) visit. ``state`` is what a person decided; upcoming, due
    and overdue are derived from the window and today."""

    patient = peewee.ForeignKeyField(Patient, backref="visits", on_delete="CASCADE")
    visit_key = peewee.TextField(null=True)
    name = peewee.TextField()
    anchor_key = peewee.TextField(null=True)
    seq = peewee.IntegerField(default=0)
    planned_on = peewee.DateField(null=True)
    window_start = peewee.DateField(null=True)
    window_end = peewee.DateField(null=True)
    state = peewee.TextField(default="planned")
    done_on = peewee.DateField(null=True)
    reason = peewee.TextField(null=True)
    unscheduled = peewee.BooleanField(default=False)
    # Schema 6: when the date of the visit (``done_on``) was entered, UTC; ``done_on`` is
    # the day the visit took place, never the day of data entry.
    done_recorded_at = peewee.TextField(null=True)
