"""The vocabulary protocol files may use: screening fields, assessments, procedures.

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

STRATA = ("site", "progressive_organ", "prior_line")
STRATUM_LABELS: dict[str, str] = {
    "site": N_("site"), "progressive_organ": N_("organ with progression"),
    "prior_line": N_("line of prior therapy"),
}
