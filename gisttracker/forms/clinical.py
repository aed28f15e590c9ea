"""Simple clinical forms (physical examination, consent, eligibility, history, endoscopy,
mutation), the laboratory and adverse-event forms, and the visit's record of imaging,
treatment, surgery, pathology and survival, whose details live in the patient's own tabs."""

from __future__ import annotations

from collections.abc import Mapping

from gisttracker.forms.registry import FormContext, FormSpec, Item, Score, choices, register
from gisttracker.i18n import N_, _
from gisttracker.protocols.catalogue import ASSESSMENTS, MUTATIONS

_YES_NO = choices(((True, N_("Yes")), (False, N_("No"))))


def _bool(key: str, label: str, *, required: bool = True) -> Item:
    return Item(key, label, "bool", choices=_YES_NO, required=required)


def _exam_check(values: Mapping[str, object], context: FormContext) -> dict[str, str]:
    systolic, diastolic = values.get("systolic_bp"), values.get("diastolic_bp")
    if isinstance(systolic, int) and isinstance(diastolic, int) and diastolic >= systolic:
        return {"diastolic_bp": _("must be below the systolic pressure")}
    return {}


def _bmi(values: Mapping[str, object], context: FormContext) -> tuple[Score, ...]:
    weight, height = values.get("weight_kg"), values.get("height_cm")
    if isinstance(weight, int | float) and isinstance(height, int | float) and height > 0:
        return (Score("bmi", N_("BMI (kg/m²)"), weight / (height / 100) ** 2),)
    return (Score("bmi", N_("BMI (kg/m²)"), None),)


register(FormSpec(
    kind="physical_exam", title=ASSESSMENTS["physical_exam"], cross_check=_exam_check,
    scorer=_bmi,
    items=(
        Item("weight_kg", N_("Weight"), "float", minimum=20, maximum=300, unit="kg"),
        Item("height_cm", N_("Height"), "float", minimum=100, maximum=230, unit="cm",
             required=False),
        Item("ecog", N_("ECOG performance status"), "int", minimum=0, maximum=5,
             hint=N_("0 fully active … 5 dead")),
        Item("systolic_bp", N_("Systolic blood pressure"), "int", minimum=50, maximum=260,
             unit="mmHg", required=False),
        Item("diastolic_bp", N_("Diastolic blood pressure"), "int", minimum=30, maximum=160,
             unit="mmHg", required=False),
        Item("heart_rate", N_("Heart rate"), "int", minimum=20, maximum=250, unit="/min",
             required=False),
        Item("temperature_c", N_("Temperature"), "float", minimum=30, maximum=43, unit="°C",
             required=False),
        Item("findings", N_("Abnormal findings"), "text", required=False),
    ),
))

register(FormSpec(
    kind="consent", title=ASSESSMENTS["consent"],
    note=N_("Consent is also recorded at screening; confirm it here for the visit file."),
    items=(
        _bool("signed", N_("Informed consent signed")),
        Item("signed_on", N_("Date signed"), "date"),
        Item("version", N_("Consent form version"), "text", required=False),
    ),
))

register(FormSpec(
    kind="eligibility", title=ASSESSMENTS["eligibility"],
    note=N_("Eligibility is assessed criterion by criterion at screening; confirm it here."),
    items=(
        _bool("confirmed", N_("Eligibility confirmed by the investigator")),
        Item("confirmed_on", N_("Date"), "date"),
        Item("notes", N_("Notes"), "text", required=False),
    ),
))

register(FormSpec(
    kind="medical_history", title=ASSESSMENTS["medical_history"],
    items=(
        Item("diagnosed_on", N_("Date of GIST diagnosis"), "date", required=False),
        _bool("prior_surgery", N_("Prior abdominal surgery")),
        _bool("prior_tki", N_("Prior tyrosine kinase inhibitor")),
        Item("comorbidities", N_("Comorbidities"), "text", required=False),
        Item("medications", N_("Concomitant medication"), "text", required=False),
        Item("allergies", N_("Allergies"), "text", required=False),
    ),
))

register(FormSpec(
    kind="endoscopy", title=ASSESSMENTS["endoscopy"],
    items=(
        Item("performed_on", N_("Date"), "date"),
        Item("method", N_("Method"), "choice", choices=choices((
            ("endoscopy", N_("Endoscopy")),
            ("eus", N_("Endorectal ultrasound")),
            ("both", N_("Both")),
        ))),
        _bool("lesion_visible", N_("Lesion visible")),
        Item("size_mm", N_("Largest diameter"), "float", minimum=0, maximum=300, unit="mm",
             required=False),
        Item("distance_mm", N_("Distance from the anal verge"), "float", minimum=0,
             maximum=300, unit="mm", required=False),
        Item("findings", N_("Findings"), "text", required=False),
    ),
))

register(FormSpec(
    kind="mutation", title=ASSESSMENTS["mutation"],
    items=(
        Item("result", N_("Result"), "choice", choices=choices((m, m) for m in MUTATIONS)),
        Item("reported_on", N_("Report date"), "date", required=False),
        Item("laboratory", N_("Laboratory"), "text", required=False),
        Item("details", N_("Details (exon, codon)"), "text", required=False),
    ),
))

register(FormSpec(
    kind="labs", title=ASSESSMENTS["labs"], editor="labs",
    note=N_("Values with the site's reference range; graded by CTCAE v5.0."),
))

register(FormSpec(
    kind="adverse_events", title=ASSESSMENTS["adverse_events"], editor="adverse_events",
    items=(_bool("any_new", N_("Any new or worsened adverse event since the last visit")),),
))

# The visit's record of work whose details live in the patient's own tabs: the form says what
# was done at this visit and confirms the details were entered where the endpoints read them.
register(FormSpec(
    kind="imaging", title=ASSESSMENTS["imaging"],
    note=N_("Lesion measurements are entered on the patient's Tumour assessments tab."),
    items=(
        Item("performed_on", N_("Date of imaging"), "date"),
        Item("modality", N_("Modality"), "choice",
             choices=choices((("CT", "CT"), ("MRI", "MRI"), ("PET-CT", "PET-CT")))),
        _bool("measured", N_("Lesions measured on the Tumour assessments tab")),
        Item("notes", N_("Notes"), "text", required=False),
    ),
))

register(FormSpec(
    kind="treatment", title=ASSESSMENTS["treatment"],
    note=N_("Dose changes and interruptions are entered on the Treatment & course tab."),
    items=(
        _bool("on_drug", N_("Taking the study drug since the last visit")),
        Item("dose_mg_per_day", N_("Current daily dose"), "float", minimum=0, maximum=2000,
             unit="mg/day", required=False),
        Item("adherence", N_("Doses missed since the last visit"), "choice",
             choices=choices((("none", N_("none")), ("under_10", N_("fewer than 10 %")),
                              ("over_10", N_("10 % or more"))))),
        _bool("changes_entered", N_("Any dose change or interruption entered on the "
                                    "Treatment & course tab")),
    ),
))

register(FormSpec(
    kind="surgery", title=ASSESSMENTS["surgery"],
    note=N_("The operation (procedure, margin, stoma) is entered on the Treatment & course "
            "tab; entering it there sets the surgery date the schedule counts from."),
    items=(
        Item("performed_on", N_("Date of operation"), "date"),
        _bool("entered", N_("Operation entered on the Treatment & course tab")),
        Item("complications", N_("Early complications"), "text", required=False),
    ),
))

register(FormSpec(
    kind="pathology", title=ASSESSMENTS["pathology"],
    note=N_("Size, mitoses, mutation and response grade are entered on the Treatment & course "
            "tab, where the NIH-2008 risk is computed."),
    items=(
        _bool("report_received", N_("Pathology report received")),
        Item("reported_on", N_("Date of report"), "date", required=False),
        _bool("entered", N_("Report entered on the Treatment & course tab"), required=False),
    ),
))

register(FormSpec(
    kind="survival", title=ASSESSMENTS["survival"],
    note=N_("Progression, recurrence and death are entered on the Treatment & course tab."),
    items=(
        Item("last_contact", N_("Date of last contact"), "date"),
        Item("status", N_("Status"), "choice", choices=choices((
            ("alive_no_disease", N_("alive, no evidence of disease")),
            ("alive_disease", N_("alive with disease")),
            ("dead", N_("dead")), ("unknown", N_("unknown / not reached"))))),
        _bool("events_entered", N_("Any new progression, recurrence or death entered on the "
                                   "Treatment & course tab")),
    ),
))
