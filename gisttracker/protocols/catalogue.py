"""The vocabulary protocol files may use: screening fields, assessments, procedures, course
events, treatment phases, stratification sources and endpoint kinds.

A protocol file that names anything not listed here is refused by the loader, so a typo
is an error at start-up rather than a criterion that silently never evaluates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gisttracker.i18n import N_

FieldKind = Literal["number", "integer", "bool", "enum", "lab"]


@dataclass(frozen=True)
class ScreeningField:
    """A fact about a patient that an eligibility rule can test."""

    key: str
    label: str
    kind: FieldKind
    unit: str | None = None
    values: tuple[str, ...] = ()


PRIMARY_SITES = (
    "stomach", "duodenum", "small_intestine", "colon", "rectum", "oesophagus", "other",
)
MUTATIONS = (
    "KIT_9", "KIT_11", "KIT_13", "KIT_17",
    "PDGFRA_12", "PDGFRA_14", "PDGFRA_18", "PDGFRA_18_D842V",
    "WILD_TYPE", "NOT_TESTED",
)
NIH_RISKS = ("very low", "low", "intermediate", "high")
LAB_FIELDS = ("anc", "platelets", "haemoglobin", "alt", "ast", "bilirubin", "creatinine")

SCREENING_FIELDS: dict[str, ScreeningField] = {
    f.key: f
    for f in (
        ScreeningField("age", N_("Age at screening"), "integer", "years"),
        ScreeningField("sex", N_("Sex"), "enum", values=("male", "female")),
        ScreeningField("ecog", N_("ECOG performance status"), "integer"),
        ScreeningField("asa", N_("ASA class"), "integer"),
        ScreeningField("primary_site", N_("Primary tumour site"), "enum", values=PRIMARY_SITES),
        ScreeningField("tumour_size_cm", N_("Maximum tumour diameter"), "number", "cm"),
        ScreeningField("mitoses_per_50hpf", N_("Mitotic count"), "number", "/50 HPF"),
        ScreeningField("ruptured", N_("Tumour rupture"), "bool"),
        ScreeningField("nih_risk", N_("NIH-2008 risk"), "enum", values=NIH_RISKS),
        ScreeningField("mutation", N_("Mutation"), "enum", values=MUTATIONS),
        ScreeningField("cd117_positive", N_("CD117 positive"), "bool"),
        ScreeningField("dog1_positive", N_("DOG-1 positive"), "bool"),
        ScreeningField("histology_confirmed", N_("Histologically confirmed GIST"), "bool"),
        ScreeningField("distant_metastases", N_("Distant metastases"), "bool"),
        ScreeningField("liver_metastases", N_("Liver metastases"), "bool"),
        ScreeningField("progressive_lesions", N_("Progressive lesions"), "integer"),
        ScreeningField("progressive_organs", N_("Organs with progressive lesions"), "integer"),
        ScreeningField("prior_imatinib", N_("Treated with imatinib before"), "bool"),
        ScreeningField("prior_tki", N_("Treated with any tyrosine kinase inhibitor"), "bool"),
        ScreeningField("other_malignancy_5y", N_("Other malignancy within 5 years"), "bool"),
        ScreeningField("pregnant_or_lactating", N_("Pregnant or lactating"), "bool"),
        ScreeningField("hiv_positive", N_("HIV antibody positive"), "bool"),
        ScreeningField("consent_signed", N_("Informed consent signed"), "bool"),
        ScreeningField("anc", N_("Absolute neutrophil count"), "lab", "10^9/L"),
        ScreeningField("platelets", N_("Platelets"), "lab", "10^9/L"),
        ScreeningField("haemoglobin", N_("Haemoglobin"), "lab", "g/L"),
        ScreeningField("alt", N_("ALT"), "lab", "U/L"),
        ScreeningField("ast", N_("AST"), "lab", "U/L"),
        ScreeningField("bilirubin", N_("Total bilirubin"), "lab", "µmol/L"),
        ScreeningField("creatinine", N_("Creatinine"), "lab", "µmol/L"),
    )
}

# What can be assessed at a visit: each key is a form kind the application knows.
ASSESSMENTS: dict[str, str] = {
    "consent": N_("Informed consent"),
    "eligibility": N_("Eligibility check"),
    "medical_history": N_("Medical history"),
    "physical_exam": N_("Physical examination and ECOG"),
    "labs": N_("Laboratory values"),
    "imaging": N_("CT/MRI tumour assessment"),
    "endoscopy": N_("Endoscopy / endorectal ultrasound"),
    "qlq_c30": N_("EORTC QLQ-C30"),
    "qlq_cr29": N_("EORTC QLQ-CR29"),
    "lars": N_("LARS score"),
    "adverse_events": N_("Adverse events"),
    "treatment": N_("Treatment and dose changes"),
    "surgery": N_("Surgery"),
    "pathology": N_("Pathology"),
    "mutation": N_("Mutation analysis"),
    "survival": N_("Survival and disease status"),
}

# Procedures a surgery record names (codes of the ``surgery.procedure`` column).
PROCEDURES = ("local_excision_transanal", "local_excision_tamis", "tme", "apr",
              "gastrectomy", "small_bowel_resection", "hepatic_resection", "rfa",
              "tace", "other")
# Course events (codes of the ``course_event.kind`` column).
EVENT_KINDS = ("progression", "local_recurrence", "distant_recurrence", "regrowth",
               "death", "last_known_alive", "lost_to_follow_up")
# The events that can end a time-to-event endpoint (the others are contacts or censoring).
ENDPOINT_EVENTS = ("progression", "local_recurrence", "distant_recurrence", "regrowth",
                   "death")
# Phases of a treatment exposure (codes of the ``treatment_exposure.phase`` column).
TREATMENT_PHASES = ("preoperative", "postoperative", "palliative", "other")

# Where an anchor date can follow the recorded course from (``set_by.record``).
ANCHOR_RECORDS = ("first_dose", "last_dose", "first_surgery")

# Patient attributes a stratum can name (stratum name -> column of the patient table). Any
# screening field of kind enum, bool or integer can be a stratum too (its name is the field).
PATIENT_STRATA: dict[str, str] = {"site": "site_code", "sex": "sex"}
STRATUM_FIELD_KINDS = ("enum", "bool", "integer")


def stratum_source(name: str) -> tuple[Literal["patient", "screening"], str] | None:
    """Where the value of stratification factor ``name`` comes from: ``("patient", column)``
    for a patient attribute, ``("screening", field)`` for a screening field; None when the
    name is neither (the loader refuses such a protocol)."""
    if name in PATIENT_STRATA:
        return "patient", PATIENT_STRATA[name]
    spec = SCREENING_FIELDS.get(name)
    if spec is not None and spec.kind in STRATUM_FIELD_KINDS:
        return "screening", name
    return None


def stratum_names() -> tuple[str, ...]:
    """Every name a stratum may take (for messages)."""
    return (*PATIENT_STRATA, *(k for k, f in SCREENING_FIELDS.items()
                               if f.kind in STRATUM_FIELD_KINDS))


# Endpoint types and what each measures.
ENDPOINT_TYPES = ("time_to_event", "proportion", "repeated_measure", "descriptive")
# How a time-to-event endpoint without its event is censored.
CENSORING = ("last_contact", "last_tumour_assessment")
# What a proportion or a descriptive endpoint counts (type -> measures).
MEASURES: dict[str, tuple[str, ...]] = {
    "proportion": ("objective_response", "r0_resection", "organ_preservation",
                   "pathological_response"),
    "descriptive": ("tumour_diameter", "pathological_response_grade", "treatment_duration"),
}
RESPONSE_CRITERIA = ("recist", "choi")
# How a stratum is named on screen (N_-marked; translated when shown).
STRATUM_LABELS: dict[str, str] = {
    "site": N_("site"), "sex": N_("sex"),
    **{key: spec.label for key, spec in SCREENING_FIELDS.items()
       if spec.kind in STRATUM_FIELD_KINDS},
}


@dataclass(frozen=True)
class CovariateFact:
    """A recorded fact a covariate of a model can take its value from.

    ``kind``: ``number`` (a measurement in ``unit``), ``text`` (one of ``values``) or
    ``bool``. ``source`` says where the value is read (for the data dictionary).
    """

    key: str
    label: str  # N_-marked
    kind: Literal["number", "text", "bool"]
    source: str  # N_-marked
    unit: str | None = None
    values: tuple[str, ...] = ()


_PATHOLOGY_ELSE_SCREENING = N_("the first pathology report that gives it, else the last "
                               "screening")
#: Facts a ``[[covariates]]`` entry may name (``fact = "primary_site"``).
COVARIATE_FACTS: dict[str, CovariateFact] = {
    f.key: f
    for f in (
        CovariateFact("age", N_("Age at enrollment"), "number",
                      N_("date of birth and enrollment date"), "years"),
        CovariateFact("sex", N_("Sex"), "text", N_("the patient's record"),
                      values=("female", "male")),
        CovariateFact("ecog", N_("ECOG performance status"), "number", N_("the last screening")),
        CovariateFact("asa", N_("ASA class"), "number", N_("the last screening")),
        CovariateFact("primary_site", N_("Primary tumour site"), "text",
                      _PATHOLOGY_ELSE_SCREENING, values=PRIMARY_SITES),
        CovariateFact("mutation", N_("Mutation"), "text", _PATHOLOGY_ELSE_SCREENING,
                      values=MUTATIONS),
        CovariateFact("tumour_size_cm", N_("Maximum tumour diameter"), "number",
                      N_("the last screening (before treatment)"), "cm"),
        CovariateFact("mitoses_per_50hpf", N_("Mitotic count"), "number",
                      N_("the last screening"), "/50 HPF"),
        CovariateFact("ruptured", N_("Tumour rupture"), "bool", _PATHOLOGY_ELSE_SCREENING),
    )
}
