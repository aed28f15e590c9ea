"""Models of schema 2: patients, personal identifiers, screening, randomization."""

from __future__ import annotations

import peewee

from gisttracker.store.models import Record


class Patient(Record):
    id = peewee.AutoField()
    study_key = peewee.TextField()
    study_id = peewee.TextField(unique=True)
    site_code = peewee.TextField()
    seq = peewee.IntegerField()
    sex = peewee.TextField(null=True)
    status = peewee.TextField(default="screened")
    arm_code = peewee.TextField(null=True)
    arm_option = peewee.TextField(null=True)
    enrolled_on = peewee.DateField(null=True)
    enrolled_by = peewee.TextField(null=True)
    randomization_number = peewee.TextField(null=True)
    ended_on = peewee.DateField(null=True)
    end_reason = peewee.TextField(null=True)
    # NCT06038552: liver-directed procedures received (JSON list); they decide the group.
    treatment_procedures = peewee.TextField(null=True)
    created_on = peewee.DateField()
    # Schema 6: the protocol version (protocol_version.id) the patient was enrolled under.
    protocol_version_id = peewee.IntegerField(null=True)


class PatientIdentity(Record):
    """Personal identifiers, apart from clinical data; never in reports unless asked."""

    patient = peewee.ForeignKeyField(Patient, backref="identity", unique=True,
                                     on_delete="CASCADE")
    record_number = peewee.TextField(null=True)
    name = peewee.TextField(null=True)
    initials = peewee.TextField(null=True)
    date_of_birth = peewee.DateField(null=True)


class Screening(Record):
    id = peewee.AutoField()
    patient = peewee.ForeignKeyField(Patient, backref="screenings", on_delete="CASCADE")
    screened_on = peewee.DateField()
    screened_by = peewee.TextField()
    ecog = peewee.IntegerField(null=True)
    asa = peewee.IntegerField(null=True)
    primary_site = peewee.TextField(null=True)
    tumour_size_cm = peewee.FloatField(null=True)
    mitotic_count = peewee.FloatField(null=True)
    mitotic_unit = peewee.TextField(null=True)
    ruptured = peewee.BooleanField(null=True)
    mutation = peewee.TextField(null=True)
    cd117_positive = peewee.BooleanField(null=True)
    dog1_positive = peewee.BooleanField(null=True)
    histology_confirmed = peewee.BooleanField(null=True)
    distant_metastases = peewee.BooleanField(null=True)
    liver_metastases = peewee.BooleanField(null=True)
    metastasis_sites = peewee.TextField(null=True)
    progressive_lesions = peewee.IntegerField(null=True)
    progressive_organs = peewee.IntegerField(null=True)
    prior_imatinib = peewee.BooleanField(null=True)
    prior_tki = peewee.BooleanField(null=True)
    other_malignancy_5y = peewee.BooleanField(null=True)
    pregnant_or_lactating = peewee.BooleanField(null=True)
    hiv_positive = peewee.BooleanField(null=True)
    consent_date = peewee.DateField(null=True)
    outcome = peewee.TextField(default="incomplete")
    reasons = peewee.TextField(null=True)  # JSON list of {"criterion", "reason"}
    closed = peewee.BooleanField(default=False)


class ScreeningJudgement(Record):
    screening = peewee.ForeignKeyField(Screening, backref="judgements", on_delete="CASCADE")
    criterion_id = peewee.TextField()
    met = peewee.BooleanField()
    judged_by = peewee.TextField()
    judged_at = peewee.TextField()


class LabResult(Record):
    """A laboratory value with the unit and reference range it was reported with."""

    patient = peewee.ForeignKeyField(Patient, backref="labs", on_delete="CASCADE")
    screening = peewee.ForeignKeyField(Screening, null=True, backref="labs", on_delete="CASCADE")
    visit_id = peewee.IntegerField(null=True)  # schema 3: the visit it belongs to
    analyte = peewee.TextField()
    value = peewee.FloatField()
    unit = peewee.TextField()
    lln = peewee.FloatField(null=True)
    uln = peewee.FloatField(null=True)
    sampled_on = peewee.DateField(null=True)


class RandomizationSeed(Record):
    """A randomized study's secret seed, sealed (schema 9): ``sealed`` is the seed encrypted
    with the site's allocation key (see :mod:`gisttracker.services.concealment`);
    ``commitment`` a SHA-256 digest that shows later which seed was used. Immutable."""

    study_key = peewee.TextField(unique=True)
    sealed = peewee.TextField()
    commitment = peewee.TextField()
    created_at = peewee.TextField()
    created_by = peewee.TextField()


class Randomization(Record):
    """Immutable once written (database triggers refuse UPDATE and DELETE)."""

    patient = peewee.ForeignKeyField(Patient, backref="randomization", unique=True)
    study_key = peewee.TextField()
    stratum = peewee.TextField()
    position = peewee.IntegerField()
    number = peewee.TextField(unique=True)
    arm_code = peewee.TextField()
    randomized_at = peewee.TextField()
    randomized_by = peewee.TextField()
