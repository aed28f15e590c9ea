"""What the people using the tracker call each stored table and column.

One source for the data dictionary (:mod:`gisttracker.exchange.catalogue`) and for the
messages of the services (a refused save names "Lesion (tumour measurement)" and "Diameter",
not ``lesion_measurement`` and ``diameter_mm``). Labels are marked with ``N_`` and
translated when shown; units are the stored value's unit (``diameter_mm`` in millimetres,
``dose_mg_per_day`` in milligrams a day), written as clinicians write them in either
language. Pure data: no imports of the store, the services or the exchange.
"""

from __future__ import annotations

from gisttracker.i18n import N_, _

# Labels of columns that are not obvious from their name.
LABELS: dict[str, str] = {
    "uid": N_("Record identity"),
    "study_id": N_("Study identifier"),
    "study_key": N_("Study"),
    "site_code": N_("Site code"),
    "seq": N_("Number within the site"),
    "arm_code": N_("Arm or group"),
    "arm_option": N_("Treatment chosen within the arm"),
    "enrolled_on": N_("Date of enrollment"),
    "enrolled_by": N_("Enrolled by"),
    "randomization_number": N_("Randomization number"),
    "ended_on": N_("Date participation ended"),
    "end_reason": N_("Why participation ended"),
    "treatment_procedures": N_("Liver-directed procedures received"),
    "created_on": N_("Date registered"),
    "record_number": N_("Medical record number"),
    "date_of_birth": N_("Date of birth"),
    "screened_on": N_("Date of screening"),
    "screened_by": N_("Screened by"),
    "mitotic_unit": N_("Mitotic count unit"),
    "metastasis_sites": N_("Sites of metastases"),
    "consent_date": N_("Date informed consent signed"),
    "outcome": N_("Screening outcome"),
    "reasons": N_("Reasons (JSON list)"),
    "closed": N_("Screening closed"),
    "criterion_id": N_("Criterion"),
    "met": N_("Criterion met"),
    "analyte": N_("Analyte"),
    "lln": N_("Lower limit of normal"),
    "uln": N_("Upper limit of normal"),
    "sampled_on": N_("Date sampled"),
    "anchor_key": N_("Anchor"),
    "visit_key": N_("Visit"),
    "planned_on": N_("Target date"),
    "window_start": N_("Window opens"),
    "window_end": N_("Window closes"),
    "state": N_("Status"),
    "done_on": N_("Date done"),
    "unscheduled": N_("Unscheduled visit"),
    "kind": N_("Kind"),
    "not_done_reason": N_("Why not done"),
    "completed_at": N_("Completed at"),
    "completed_by": N_("Completed by"),
    "item": N_("Item"),
    "missing": N_("Why there is no value"),
    "term": N_("Adverse event (CTCAE term)"),
    "grade": N_("CTCAE grade"),
    "onset": N_("Date of onset"),
    "resolved_on": N_("Date resolved"),
    "serious": N_("Serious adverse event"),
    "relation": N_("Relation to the drug"),
    "action": N_("Action taken with the drug"),
    "assessed_on": N_("Date of the assessment"),
    "is_baseline": N_("Baseline assessment"),
    "non_target": N_("Non-target lesions"),
    "new_lesions": N_("New lesions"),
    "new_nodules": N_("New intratumoural nodules (Choi)"),
    "is_node": N_("Lymph node"),
    "is_target": N_("Target lesion"),
    "diameter_mm": N_("Diameter"),
    "density_hu": N_("Density"),
    "too_small": N_("Too small to measure"),
    "dose_mg_per_day": N_("Dose"),
    "phase": N_("Treatment phase"),
    "start_on": N_("Start date"),
    "stop_on": N_("Stop date"),
    "end_on": N_("End date"),
    "performed_on": N_("Date of surgery"),
    "procedure": N_("Procedure"),
    "margin": N_("Resection margin"),
    "stoma": N_("Stoma"),
    "stoma_reversed_on": N_("Date the stoma was reversed"),
    "reported_on": N_("Date reported"),
    "response_grade": N_("Pathological response grade"),
    "occurred_on": N_("Date"),
    "criterion": N_("Criterion (RECIST, Choi, clinical)"),
    "cause": N_("Cause"),
    "salvage_procedure": N_("Salvage procedure"),
    "salvage_margin": N_("Salvage margin"),
    "randomized_at": N_("Randomized at"),
    "randomized_by": N_("Randomized by"),
    "stratum": N_("Stratum"),
    "position": N_("Position in the stratum's list"),
    "number": N_("Randomization number"),
    "judged_by": N_("Judged by"),
    "judged_at": N_("Judged at"),
    "version": N_("Record version"),
    "site": N_("Site of the event"),
    "notes": N_("Notes"),
    "drug": N_("Drug"),
    "date": N_("Date"),
    "value": N_("Value"),
    "unit": N_("Unit"),
    "label": N_("Label"),
    "organ": N_("Organ"),
    "mitotic_count": N_("Mitotic count"),
    "status": N_("Status"),
    "complications": N_("Complications"),
    "reason": N_("Reason"),
    "modality": N_("Imaging modality"),
    "name": N_("Name"),
    "initials": N_("Initials"),
}

UNITS: dict[str, str] = {
    "tumour_size_cm": "cm", "diameter_mm": "mm", "density_hu": "HU",
    "dose_mg_per_day": "mg/day",
}


# What a record of each table is, as a heading of a message ("Lesion (tumour measurement):
# this record was changed…"); a table not listed is shown by its stored name.
TABLE_LABELS: dict[str, str] = {
    "patient": N_("Patient"),
    "patient_identity": N_("Patient identity"),
    "screening": N_("Screening"),
    "screening_judgement": N_("Screening criterion judged by the investigator"),
    "lab_result": N_("Laboratory result"),
    "anchor_date": N_("Anchor date of the visit schedule"),
    "visit": N_("Visit"),
    "form": N_("Visit form"),
    "form_value": N_("Answer on a visit form"),
    "adverse_event": N_("Adverse event"),
    "tumour_assessment": N_("Tumour assessment"),
    "lesion_measurement": N_("Lesion (tumour measurement)"),
    "treatment_exposure": N_("Imatinib treatment period"),
    "treatment_interruption": N_("Treatment interruption"),
    "surgery": N_("Surgery"),
    "pathology": N_("Pathology report"),
    "course_event": N_("Event in the course of the disease"),
    "randomization": N_("Randomization"),
    "data_query": N_("Data query"),
    "signature": N_("Electronic signature"),
    "source_verification": N_("Source data verification"),
    "account": N_("User account"),
}


def table_label(table: str) -> str:
    """The translated name of a record of ``table`` (its stored name when it has none)."""
    label = TABLE_LABELS.get(table)
    return _(label) if label else table


def field_label(name: str) -> str | None:
    """The translated label of column ``name``, or None when no catalogue names it."""
    if name in LABELS:
        return _(LABELS[name])
    # Late: the protocol package costs a start-up that the services' base need not pay.
    from gisttracker.protocols.catalogue import SCREENING_FIELDS

    screening = SCREENING_FIELDS.get(name)
    return _(screening.label) if screening is not None else None


def field_unit(name: str) -> str | None:
    """The unit of column ``name``'s values (None: no unit, or not known)."""
    from gisttracker.protocols.catalogue import SCREENING_FIELDS

    screening = SCREENING_FIELDS.get(name)
    return UNITS.get(name) or (screening.unit if screening is not None else None)
