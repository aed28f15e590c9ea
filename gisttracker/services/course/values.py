"""Vocabulary, inputs and rows of the course service: procedures, events, phases;
what the forms send and what the tabs show; the small helpers the parts share.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from gisttracker.domain import treatment as tx
from gisttracker.i18n import N_, _, join_sentences
from gisttracker.risk import mitoses_per_50hpf_from_5mm2, nih2008
from gisttracker.services.base import ServiceError, Writer
from gisttracker.services.common import pk as _pk
from gisttracker.store.models import Record
from gisttracker.store.models_patients import Patient

PROCEDURE_LABELS: Final[Mapping[str, str]] = {
    "local_excision_transanal": N_("local excision (transanal)"),
    "local_excision_tamis": N_("local excision (TAMIS)"),
    "tme": N_("total mesorectal excision"),
    "apr": N_("abdominoperineal resection"),
    "gastrectomy": N_("gastrectomy"),
    "small_bowel_resection": N_("small-bowel resection"),
    "hepatic_resection": N_("hepatic resection"),
    "rfa": N_("radiofrequency ablation"),
    "tace": N_("TACE"),
    "other": N_("other"),
}
EVENT_LABELS: Final[Mapping[str, str]] = {
    "progression": N_("progression"),
    "local_recurrence": N_("local recurrence"),
    "distant_recurrence": N_("distant recurrence"),
    "regrowth": N_("locoregional regrowth"),
    "death": N_("death"),
    "last_known_alive": N_("last known alive"),
    "lost_to_follow_up": N_("lost to follow-up"),
}
PHASE_LABELS: Final[Mapping[str, str]] = {
    "preoperative": N_("preoperative"),
    "postoperative": N_("postoperative"),
    "palliative": N_("palliative"),
    "other": N_("other"),
}
#: Drugs offered besides those the protocol names.
DEFAULT_DRUGS: Final = ("imatinib", "sunitinib", "regorafenib", "ripretinib", "avapritinib")
#: How a stored drug name (lower case, as recorded) is shown; another drug shows as typed.
DRUG_LABELS: Final[Mapping[str, str]] = {
    "imatinib": N_("imatinib"), "sunitinib": N_("sunitinib"), "regorafenib": N_("regorafenib"),
    "ripretinib": N_("ripretinib"), "avapritinib": N_("avapritinib"),
}


def drug_label(drug: str) -> str:
    """The translated name of a recorded drug (the drug as recorded if it is not known)."""
    return _(DRUG_LABELS[drug]) if drug in DRUG_LABELS else drug
MITOTIC_UNITS: Final = ("50hpf", "5mm2")
STOMAS: Final = ("none", "temporary", "permanent")
STOMA_LABELS: Final[Mapping[str, str]] = {
    "none": N_("none"), "temporary": N_("temporary"), "permanent": N_("permanent"),
}
#: How a progression was judged (an event's criterion).
CRITERION_LABELS: Final[Mapping[str, str]] = {
    "recist": N_("RECIST 1.1"), "choi": N_("Choi criteria"), "clinical": N_("clinical"),
    "other": N_("other"),
}


class CourseInputError(ServiceError):
    """Field errors: ``errors`` maps a field name to its message (shown beside the field)."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__(join_sentences(self.errors.values()))


# --- inputs and results --------------------------------------------------------------------


@dataclass(frozen=True)
class ExposureInput:
    """A period on one drug at one dose (mg/day); ``stop_on`` the last dose day or None."""

    drug: str
    dose_mg_per_day: float
    phase: str
    start_on: date
    stop_on: date | None = None
    reason: str | None = None


@dataclass(frozen=True)
class InterruptionRow:
    uid: str
    start_on: date
    end_on: date | None
    reason: str | None


@dataclass(frozen=True)
class ExposureRow:
    uid: str
    data: ExposureInput
    interruptions: tuple[InterruptionRow, ...]


@dataclass(frozen=True)
class TreatmentSummary:
    """Exposures and what is derived from them.

    ``preoperative``/``postoperative``: durations (None when there is no such phase or no
    surgery yet); ``group``: the duration group of the preoperative imatinib; ``flags``:
    the protocol's timing and treatment-rule problems and data problems, for display.
    """

    exposures: tuple[ExposureRow, ...]
    surgery_date: date | None
    preoperative: tx.PhaseDuration | None
    postoperative: tx.PhaseDuration | None
    group: str | None
    flags: tuple[str, ...]


@dataclass(frozen=True)
class SurgeryInput:
    performed_on: date
    procedure: str
    margin: str | None = None
    ruptured: bool | None = None
    stoma: str = "none"
    stoma_reversed_on: date | None = None
    complications: str | None = None


@dataclass(frozen=True)
class SurgeryRow:
    uid: str
    data: SurgeryInput


@dataclass(frozen=True)
class PathologyInput:
    """Pathology of the resected (or biopsied) tumour: size in cm, mitoses per ``unit``."""

    reported_on: date | None = None
    primary_site: str | None = None
    tumour_size_cm: float | None = None
    mitotic_count: float | None = None
    mitotic_unit: str = "50hpf"
    mutation: str | None = None
    ruptured: bool | None = None
    response_grade: str | None = None
    surgery_uid: str | None = None


@dataclass(frozen=True)
class PathologyRow:
    uid: str
    data: PathologyInput
    risk: str | None
    risk_missing: tuple[str, ...]


@dataclass(frozen=True)
class EventInput:
    kind: str
    occurred_on: date
    criterion: str | None = None
    site: str | None = None
    cause: str | None = None
    salvage_procedure: str | None = None
    salvage_margin: str | None = None
    notes: str | None = None


@dataclass(frozen=True)
class EventRow:
    uid: str
    data: EventInput


@dataclass(frozen=True)
class EndpointResult:
    """One endpoint of one patient.

    ``kind``: ``time_to_event``, ``response``, ``r0``, ``organ_preservation`` or
    ``not_computed``. For time to event: ``start`` (the measured-from date), ``event``
    (True event, False censored or ended by a competing event), ``on`` (event, censoring
    or competing-event date), ``months`` and ``competing`` (the kind of the competing
    event that ended follow-up, else None). ``value`` is the display text (a response
    code, "R0", "met"…); None when unknown.
    """

    key: str
    name: str
    kind: str
    start: date | None = None
    event: bool | None = None
    on: date | None = None
    months: float | None = None
    value: str | None = None
    note: str = ""
    competing: str | None = None


# --- helpers --------------------------------------------------------------------------------




def _text(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def procedure_label(code: str) -> str:
    return _(PROCEDURE_LABELS.get(code, code))


def event_label(kind: str) -> str:
    return _(EVENT_LABELS.get(kind, kind))


def risk_of(data: PathologyInput, *, surgery_ruptured: bool | None = None
            ) -> tuple[str | None, tuple[str, ...]]:
    """NIH-2008 risk of ``data`` and, when it cannot be given, what is missing."""
    ruptured = data.ruptured if data.ruptured is not None else surgery_ruptured
    missing = []
    if data.tumour_size_cm is None:
        missing.append(_("size"))
    if data.mitotic_count is None:
        missing.append(_("mitotic count"))
    if not data.primary_site:
        missing.append(_("primary site"))
    if ruptured is None:
        missing.append(_("rupture"))
    if missing or data.tumour_size_cm is None or data.mitotic_count is None:
        return None, tuple(missing)
    mitoses = (mitoses_per_50hpf_from_5mm2(data.mitotic_count)
               if data.mitotic_unit == "5mm2" else data.mitotic_count)
    return nih2008(data.tumour_size_cm, mitoses, gastric=data.primary_site == "stomach",
                   ruptured=bool(ruptured)), ()


def _insert(w: Writer, model: type[Record], patient: Patient, values: dict[str, Any]) -> str:
    """Insert one audited row whose columns may include ``reason`` (which
    :meth:`Writer.insert` takes as the audit reason): through ``insert_many``, audited the
    same way. Foreign keys are given as records or ids. Returns the new uid."""
    row = {k: (_pk(v) if isinstance(v, Record) else v) for k, v in values.items()}
    return w.insert_many(model, [row], patient_uids=[patient.uid])[0]


def _months(start: date, end: date) -> float:
    return (end - start).days / tx.DAYS_PER_MONTH


