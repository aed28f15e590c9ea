"""What the endpoints are derived from: each patient's recorded facts, as plain values.

:class:`PatientFacts` holds everything the derivation of one patient's endpoints may read
(anchor dates, course events, surgeries, pathology, treatment exposures, tumour
assessments, done visits, the last screening, questionnaire scores), each with the uid of
its record so that a derived value can name the fact that decided it (:class:`Fact`).
:mod:`gisttracker.outcomes.gather` fills them from the database with a few set-based
queries; tests build them by hand. Nothing here reads a database or a clock.

Dates are calendar dates (``datetime.date``); sizes in cm, diameters in mm, as recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Final, Literal, NamedTuple

from gisttracker.services.tumour import AssessmentInput

__all__ = [
    "FACT_KINDS",
    "Assessment",
    "Event",
    "Exposure",
    "Fact",
    "FactKind",
    "PathologyReport",
    "PatientFacts",
    "ScoreSet",
    "SurgeryRecord",
    "VisitDone",
]

FactKind = Literal["course_event", "tumour_assessment", "visit", "surgery", "pathology",
                   "treatment", "anchor", "enrollment", "screening", "form", "patient",
                   "cut_off", "horizon"]
#: Every kind of fact, in the order the data dictionary lists them.
FACT_KINDS: Final[tuple[FactKind, ...]] = (
    "course_event", "tumour_assessment", "visit", "surgery", "pathology", "treatment",
    "anchor", "enrollment", "screening", "form", "patient", "cut_off", "horizon")


class Fact(NamedTuple):
    """The recorded fact (or rule) that decided a value.

    ``kind`` says which record it is (a course event, a tumour assessment, a visit, a
    surgery…) or which rule (``cut_off``: the data cut-off date; ``horizon``: the end of an
    endpoint's time frame); ``uid`` is the record's identity (None for a rule or the
    enrollment, which is the patient's own record); ``on`` its date; ``code`` what it is
    (an event kind, a procedure, an anchor key, a response code, a form kind); ``detail``
    a further code (a criterion, a margin, a grade, a visit key). A named tuple: a large
    study makes hundreds of thousands of them.
    """

    kind: FactKind
    on: date | None
    uid: str | None = None
    code: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """A course event: ``kind`` is a code of the ``course_event`` table."""

    uid: str
    kind: str
    on: date
    criterion: str | None = None
    salvage_procedure: str | None = None
    salvage_margin: str | None = None


@dataclass(frozen=True, slots=True)
class SurgeryRecord:
    uid: str
    on: date
    procedure: str
    margin: str | None = None
    stoma: str | None = None
    stoma_reversed_on: date | None = None


@dataclass(frozen=True, slots=True)
class PathologyReport:
    """A pathology report: size in cm, mitoses per 50 HPF (converted), as recorded."""

    uid: str
    reported_on: date | None
    primary_site: str | None = None
    tumour_size_cm: float | None = None
    mutation: str | None = None
    ruptured: bool | None = None
    response_grade: str | None = None


@dataclass(frozen=True, slots=True)
class Exposure:
    """A period on one drug: first and last dose day (``stop`` None: still taken)."""

    uid: str
    drug: str
    phase: str
    start: date
    stop: date | None = None


@dataclass(frozen=True, slots=True)
class Assessment:
    """A tumour assessment as entered (the input RECIST 1.1 and Choi are computed from)."""

    uid: str
    data: AssessmentInput


@dataclass(frozen=True, slots=True)
class VisitDone:
    """A visit that took place on ``on``."""

    uid: str
    key: str | None
    on: date


@dataclass(frozen=True, slots=True)
class ScoreSet:
    """The scores of one complete questionnaire (``kind``) at a visit on ``on``."""

    form_uid: str
    kind: str
    visit_key: str | None
    on: date | None
    scores: dict[str, float | int | str | None]


@dataclass(slots=True)
class PatientFacts:
    """One enrolled patient and every fact the endpoints of the study may use.

    ``anchors`` maps an anchor key to its date and the uid of its record; ``screening`` the
    last screening's values by column (``primary_site``, ``mutation``, ``ecog``…) with
    ``screening_uid``/``screening_on``; ``age`` is in whole years at enrollment (None
    without a date of birth). Lists are in date order; of the visits done, only those a
    derivation reads are gathered: the last one on or before the data cut-off and the first
    one after it.
    """

    uid: str
    study_id: str
    arm: str | None
    sex: str | None
    status: str
    enrolled_on: date
    ended_on: date | None = None
    age: int | None = None
    anchors: dict[str, tuple[date, str]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    surgeries: list[SurgeryRecord] = field(default_factory=list)
    pathology: list[PathologyReport] = field(default_factory=list)
    exposures: list[Exposure] = field(default_factory=list)
    assessments: list[Assessment] = field(default_factory=list)
    visits: list[VisitDone] = field(default_factory=list)
    screening: dict[str, object] = field(default_factory=dict)
    screening_uid: str | None = None
    screening_on: date | None = None
    scores: list[ScoreSet] = field(default_factory=list)
