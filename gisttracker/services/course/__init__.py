"""Treatment, surgery, pathology and the clinical course of a patient, and the endpoints
computed from them.

Everything an endpoint counts from is entered here and validated where it is entered:

* treatment exposures (drug, daily dose in mg, phase, first and last dose day inclusive)
  with interruptions (first and last day off drug inclusive, reason) and dose changes (the
  running exposure stops the day before, a new one starts on the day, with the reason);
  the preoperative and postoperative durations come from :mod:`gisttracker.domain.treatment`;
* surgeries (date, procedure code of :data:`gisttracker.domain.course.PROCEDURES`, margin,
  rupture, stoma and its reversal, complications);
* pathology (size in cm, mitotic count per 50 HPF or per 5 mm², mutation, pathological
  response grade) with the NIH-2008 risk whenever size, mitoses, site and rupture are known;
* course events (progression, recurrences, regrowth, death, last known alive, lost to
  follow-up), with the date rules of :func:`gisttracker.domain.course.validate_event_date`.

Anchor dates follow the data where the protocol says so (``set_by`` on an anchor: the first
or last dose of a drug in a phase, the first surgery, or the first of some procedures),
through :class:`VisitService.set_anchor` so the visits replan and every move is audited; a
group derived from the data follows the corrected dates or the procedures recorded
(:func:`gisttracker.services.patients.recompute_group`). A death or loss to follow-up ends
participation through :meth:`PatientService.end_participation`.

Endpoints (:meth:`CourseService.endpoints`) are computed from the protocol's declarations
(type, events, competing events, censoring, measure, horizon; see
:mod:`gisttracker.services.course.endpoints`); treatment flags are the protocol's timing
rules and treatment rules.
"""

from gisttracker.services.base import service
from gisttracker.services.course.endpoints import EndpointsMixin
from gisttracker.services.course.values import (
    DEFAULT_DRUGS,
    EVENT_LABELS,
    MITOTIC_UNITS,
    PHASE_LABELS,
    PROCEDURE_LABELS,
    STOMAS,
    CourseInputError,
    EndpointResult,
    EventInput,
    EventRow,
    ExposureInput,
    ExposureRow,
    InterruptionRow,
    PathologyInput,
    PathologyRow,
    SurgeryInput,
    SurgeryRow,
    TreatmentSummary,
    event_label,
    procedure_label,
    risk_of,
)


@service
class CourseService(EndpointsMixin):
    """Treatment, surgery, pathology and course events of one open site (audited).

    One facade over the parts that each hold one job (one module each in this package).
    """


__all__ = [
    "DEFAULT_DRUGS",
    "EVENT_LABELS",
    "MITOTIC_UNITS",
    "PHASE_LABELS",
    "PROCEDURE_LABELS",
    "STOMAS",
    "CourseInputError",
    "CourseService",
    "EndpointResult",
    "EventInput",
    "EventRow",
    "ExposureInput",
    "ExposureRow",
    "InterruptionRow",
    "PathologyInput",
    "PathologyRow",
    "SurgeryInput",
    "SurgeryRow",
    "TreatmentSummary",
    "event_label",
    "procedure_label",
    "risk_of",
]
