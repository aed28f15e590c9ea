"""Patients: registration, screening against the eligibility criteria, enrollment, the end of
participation, accrual, the screening log and the patient list.

Every write goes through :meth:`Tracker.transaction` and its :class:`Writer` (audited).
Dates are ``datetime.date``; "today" is always a parameter. Laboratory values are stored as
entered (value, unit and the site's reference range in that unit) and converted exactly
(:mod:`gisttracker.grading.units`) to the unit a criterion names when the criteria are
evaluated.

Concealment: the allocation list of a randomized study is never stored and no method here
returns an allocation that has not been made. :meth:`PatientService.enroll` computes the one
allocation it needs, at the moment of randomization, inside the transaction that records it.

"""

from gisttracker.services.base import service
from gisttracker.services.patients.base import PatientServiceBase
from gisttracker.services.patients.bulk import BulkLoad, bulk_load
from gisttracker.services.patients.enrollment import EnrollmentMixin, recompute_group
from gisttracker.services.patients.listing import ListingMixin
from gisttracker.services.patients.participation import ParticipationMixin
from gisttracker.services.patients.registration import RegistrationMixin
from gisttracker.services.patients.reporting import ReportingMixin
from gisttracker.services.patients.rules import (
    evaluate_screening,
    screening_facts,
    validate_lab,
    validate_screening,
)
from gisttracker.services.patients.values import (
    ARM_OPTION_REQUIRED,
    BOOL_COLUMNS,
    DATE_COLUMNS,
    END_STATUSES,
    ENROLLED_STATUSES,
    FLOAT_COLUMNS,
    INT_COLUMNS,
    LAB_ANALYTES,
    MITOTIC_UNITS,
    SCREENING_COLUMNS,
    STATUS_LABELS,
    TEXT_COLUMNS,
    Accrual,
    EnrollmentPreview,
    EnrollmentResult,
    Identity,
    LabEntry,
    LogEntry,
    PatientFilter,
    PatientRow,
    ScreeningData,
    ScreeningLog,
    SortKey,
)


@service
class PatientService(RegistrationMixin, EnrollmentMixin, ParticipationMixin, ReportingMixin,
                     ListingMixin, PatientServiceBase):
    """Patients of one open site: every write audited through the session's tracker.

    One facade over the parts that each hold one job (one module each in this package).
    """


__all__ = [
    "ARM_OPTION_REQUIRED", "BOOL_COLUMNS", "DATE_COLUMNS", "END_STATUSES", "ENROLLED_STATUSES",
    "FLOAT_COLUMNS", "INT_COLUMNS", "LAB_ANALYTES", "MITOTIC_UNITS", "SCREENING_COLUMNS",
    "STATUS_LABELS", "TEXT_COLUMNS", "Accrual", "BulkLoad", "EnrollmentPreview",
    "EnrollmentResult", "Identity", "LabEntry", "LogEntry", "PatientFilter", "PatientRow",
    "PatientService", "ScreeningData", "ScreeningLog", "SortKey", "bulk_load",
    "evaluate_screening", "recompute_group", "screening_facts", "validate_lab",
    "validate_screening",
]
