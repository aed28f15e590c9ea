"""Simple clinical forms (physical examination, consent, eligibility, history, endoscopy,
mutation), the laboratory and adverse-event forms, and placeholders for the kinds another
feature fills in (imaging, treatment, surgery, pathology, survival)."""

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

# Placeholders: replaced by the tumour, treatment, surgery and survival forms.
for _kind in ("imaging", "treatment", "surgery", "pathology", "survival"):
    register(FormSpec(
        kind=_kind, title=ASSESSMENTS[_kind], placeholder=True,
        items=(Item("notes", N_("Notes"), "text", required=False),),
    ))
