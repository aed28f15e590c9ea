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

Anchor dates follow the data: the first surgery sets the study's ``surgery`` anchor, the
first preoperative dose ``imatinib_start`` and the last one ``last_preop_dose`` (when the
protocol declares those anchors as entered), through :class:`VisitService.set_anchor` so the
visits replan and every move is audited; a derived duration group follows the corrected dates
(:func:`gisttracker.services.patients.recompute_duration_group`). A death or loss to
follow-up ends participation through :meth:`PatientService.end_participation`.

Endpoints (:meth:`CourseService.endpoints`): each endpoint of the protocol, by the prefix of
its key — ``os`` (death), ``pfs`` (progression or death), ``dfs`` (progression, recurrence,
regrowth or death), ``rfs`` (recurrence, regrowth or death), ``local_recurrence`` (local
recurrence or regrowth; death censors) — gives an event or censoring date and the time in
months (days / 30.4375) from the protocol's ``measured_from`` anchor, censored at the
endpoint's horizon (a tumour assessment whose response by the study's primary criterion
is PD counts as progression even without a separate progression event);
``orr``/``imaging_response`` the best overall response by the study's primary criterion
(CR or PR is a response); ``r0`` the margin of the first resection; and
``organ_preservation`` the rectal composite at 18 months.
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
