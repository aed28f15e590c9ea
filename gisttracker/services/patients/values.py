"""What the patient services take and return: statuses, screening columns, and the
value types of screening, enrollment, the patient list and the screening log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

from gisttracker.i18n import N_

# The patient list lives in its own light module (the window's first screen); its names
# are still found here.
from gisttracker.services.patient_list import _SORT_COLUMNS as _SORT_COLUMNS
from gisttracker.services.patient_list import STATUS_LABELS as STATUS_LABELS
from gisttracker.services.patient_list import PatientFilter as PatientFilter
from gisttracker.services.patient_list import PatientRow as PatientRow
from gisttracker.services.patient_list import SortKey as SortKey

END_STATUSES: Final = ("withdrawn", "lost_to_follow_up", "died", "completed")
ENROLLED_STATUSES: Final = ("enrolled", *END_STATUSES)

# Screening columns (``Screening`` model) the form fills, with the kind of value each holds.
BOOL_COLUMNS: Final = (
    "ruptured", "cd117_positive", "dog1_positive", "histology_confirmed",
    "distant_metastases", "liver_metastases", "prior_imatinib", "prior_tki",
    "other_malignancy_5y", "pregnant_or_lactating", "hiv_positive",
)
INT_COLUMNS: Final = ("ecog", "asa", "progressive_lesions", "progressive_organs")
FLOAT_COLUMNS: Final = ("tumour_size_cm", "mitotic_count")
TEXT_COLUMNS: Final = ("primary_site", "mutation", "mitotic_unit", "metastasis_sites")
DATE_COLUMNS: Final = ("consent_date",)
SCREENING_COLUMNS: Final = (*INT_COLUMNS, *FLOAT_COLUMNS, *TEXT_COLUMNS, *BOOL_COLUMNS,
                            *DATE_COLUMNS)
MITOTIC_UNITS: Final = ("50hpf", "5mm2")

# Screening lab keys (catalogue) → analyte keys of gisttracker.grading.units.
LAB_ANALYTES: Final[Mapping[str, str]] = {
    "anc": "neutrophils", "platelets": "platelets", "haemoglobin": "hemoglobin",
    "alt": "alt", "ast": "ast", "bilirubin": "bilirubin", "creatinine": "creatinine",
}
ARM_OPTION_REQUIRED: Final = N_("patient's choice of treatment within the arm")


@dataclass(frozen=True)
class LabEntry:
    """A laboratory value as typed: ``value`` in ``unit``, reference limits in that unit."""

    value: float
    unit: str
    lln: float | None = None
    uln: float | None = None
    sampled_on: date | None = None


@dataclass
class ScreeningData:
    """What the screening form holds: Screening columns, labs by catalogue key, ticks.

    ``values`` maps :data:`SCREENING_COLUMNS` names to values (None = not entered);
    ``labs`` maps lab keys (``anc``, ``alt``…) to :class:`LabEntry`; ``judgements`` maps a
    criterion id to the investigator's tick (None = not judged).
    """

    values: dict[str, Any] = field(default_factory=dict)
    labs: dict[str, LabEntry] = field(default_factory=dict)
    judgements: dict[str, bool | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Identity:
    record_number: str | None = None
    name: str | None = None
    initials: str | None = None
    date_of_birth: date | None = None


@dataclass(frozen=True)
class EnrollmentPreview:
    """What enrolling will do, said before it is done (the enrollment dialog shows it)."""

    patient: str
    study_key: str
    method: str
    message: str
    stratum: str | None = None
    arm_code: str | None = None


@dataclass(frozen=True)
class EnrollmentResult:
    patient: str
    study_key: str
    arm_code: str
    arm_name: str
    arm_option: str | None
    enrolled_on: date
    enrolled_by: str
    randomization_number: str | None = None
    stratum: str | None = None
    randomized_at: str | None = None


@dataclass(frozen=True)
class LogEntry:
    patient: str
    screening: int
    screened_on: date
    outcome: str
    status: str
    reasons: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ScreeningLog:
    """The screening log of a study and the numbers a CONSORT diagram starts from."""

    study_key: str
    entries: tuple[LogEntry, ...]
    screened: int
    eligible: int
    screen_failed: int
    enrolled: int
    failures_by_criterion: dict[str, int]


@dataclass(frozen=True)
class Accrual:
    study_key: str
    target: int | None
    enrolled: int
    by_arm: dict[str, int]
    by_month: list[tuple[str, int]]



def _text(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


