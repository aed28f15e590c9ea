"""Models of schema 5: tumour assessments, treatment, surgery, pathology, course events."""

from __future__ import annotations

import peewee

from gisttracker.store.models import Record
from gisttracker.store.models_patients import Patient
from gisttracker.store.models_visits import Visit


class TumourAssessment(Record):
    patient = peewee.ForeignKeyField(Patient, backref="tumour_assessments", on_delete="CASCADE")
    visit = peewee.ForeignKeyField(Visit, null=True, on_delete="SET NULL")
    assessed_on = peewee.DateField()
    modality = peewee.TextField(null=True)
    is_baseline = peewee.BooleanField(default=False)
    non_target = peewee.TextField(null=True)
    new_lesions = peewee.BooleanField(default=False)
    new_nodules = peewee.BooleanField(default=False)
    notes = peewee.TextField(null=True)


class LesionMeasurement(Record):
    assessment = peewee.ForeignKeyField(TumourAssessment, backref="lesions",
                                        on_delete="CASCADE")
    label = peewee.TextField()
    organ = peewee.TextField()
    is_node = peewee.BooleanField(default=False)
    is_target = peewee.BooleanField(default=True)
    diameter_mm = peewee.FloatField(null=True)
    density_hu = peewee.FloatField(null=True)
    too_small = peewee.BooleanField(default=False)


class TreatmentExposure(Record):
    patient = peewee.ForeignKeyField(Patient, backref="treatments", on_delete="CASCADE")
    drug = peewee.TextField()
    dose_mg_per_day = peewee.FloatField()
    phase = peewee.TextField()
    start_on = peewee.DateField()
    stop_on = peewee.DateField(null=True)
    reason = peewee.TextField(null=True)


class TreatmentInterruption(Record):
    exposure = peewee.ForeignKeyField(TreatmentExposure, backref="interruptions",
                                      on_delete="CASCADE")
    start_on = peewee.DateField()
    end_on = peewee.DateField(null=True)
    reason = peewee.TextField(null=True)


class Surgery(Record):
    patient = peewee.ForeignKeyField(Patient, backref="surgeries", on_delete="CASCADE")
    performed_on = peewee.DateField()
    procedure = peewee.TextField()
    margin = peewee.TextField(null=True)
    ruptured = peewee.BooleanField(null=True)
    stoma = peewee.TextField(null=True)
    stoma_reversed_on = peewee.DateField(null=True)
    complications = peewee.TextField(null=True)


class Pathology(Record):
    patient = peewee.ForeignKeyField(Patient, backref="pathology", on_delete="CASCADE")
    surgery = peewee.ForeignKeyField(Surgery, null=True, on_delete="SET NULL")
    reported_on = peewee.DateField(null=True)
    primary_site = peewee.TextField(null=True)
    tumour_size_cm = peewee.FloatField(null=True)
    mitotic_count = peewee.FloatField(null=True)
    mitotic_unit = peewee.TextField(null=True)
    mutation = peewee.TextField(null=True)
    ruptured = peewee.BooleanField(null=True)
    response_grade = peewee.TextField(null=True)


class CourseEvent(Record):
    patient = peewee.ForeignKeyField(Patient, backref="course_events", on_delete="CASCADE")
    kind = peewee.TextField()
    occurred_on = peewee.DateField()
    criterion = peewee.TextField(null=True)
    site = peewee.TextField(null=True)
    cause = peewee.TextField(null=True)
    salvage_procedure = peewee.TextField(null=True)
    salvage_margin = peewee.TextField(null=True)
    notes = peewee.TextField(null=True)
