"""The patient visit schedule: for the patient's file and the principal investigator.

Study, site, the patient's study identifier, arm and anchor dates; then every planned visit
with its target date, window, what is assessed, status and the date done, with a box to
tick and room for initials and the date on paper. Dates are calendar dates (ISO); windows
are inclusive at both ends.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import date

from reportlab.lib import colors
from reportlab.platypus import Flowable

from gisttracker.i18n import _, join_list, local
from gisttracker.protocols.catalogue import ASSESSMENTS
from gisttracker.reports.base import Report, ReportContext
from gisttracker.reports.common import as_date, day, find_patient, identifiers_of
from gisttracker.services.patients import STATUS_LABELS
from gisttracker.services.visits import VisitService, status_text
from gisttracker.session import Session
from gisttracker.store.models_visits import AnchorDate

__all__ = ["ScheduleData", "ScheduleLine", "ScheduleReport", "gather_schedule"]


@dataclass(frozen=True)
class ScheduleLine:
    """One visit as printed."""

    name: str
    target: date | None
    window_start: date | None
    window_end: date | None
    assessments: tuple[str, ...]  # translated labels
    status: str  # translated
    done_on: date | None
    waiting_for: str | None  # the anchor label a visit without a date waits for
    unscheduled: bool


@dataclass(frozen=True)
class ScheduleData:
    study_key: str
    study_title: str
    site: str
    patient: str
    arm: str
    status: str
    enrolled_on: date | None
    randomization_number: str | None
    anchors: tuple[tuple[str, date | None], ...]
    visits: tuple[ScheduleLine, ...]
    today: date
    identifiers: tuple[tuple[str, str], ...] = ()


def gather_schedule(session: Session, patient_ref: str, *, today: date,
                    include_identifiers: bool = False) -> ScheduleData:
    """The schedule of the patient with study identifier (or uid) ``patient_ref``, with
    statuses as seen on ``today``. ServiceError when the patient is unknown."""
    patient = find_patient(patient_ref)
    study = session.study(patient.study_key)
    rows = VisitService(session).schedule(patient.uid, today=today)
    stored = {a.anchor_key: as_date(a.date)
              for a in AnchorDate.select().where(AnchorDate.patient == patient.id)}
    anchors = tuple((local(a.label), stored.get(a.key)) for a in study.anchors)
    labels = {a.key: local(a.label) for a in study.anchors}
    arm = patient.arm_code or "—"
    if patient.arm_code:
        with contextlib.suppress(KeyError):
            arm = f"{patient.arm_code} · {local(study.arm(patient.arm_code).name)}"
    if patient.arm_option:
        arm += f" ({patient.arm_option})"
    lines = tuple(ScheduleLine(
        name=r.name, target=r.target, window_start=r.window_start, window_end=r.window_end,
        assessments=tuple(_(ASSESSMENTS.get(a, a)) for a in r.assessments),
        status=status_text(r.status_code), done_on=r.done_on,
        waiting_for=None if r.target else labels.get(r.anchor_key or "", r.anchor_key),
        unscheduled=r.unscheduled) for r in rows)
    return ScheduleData(
        study_key=study.key, study_title=local(study.short_title or study.title),
        site=patient.site_code, patient=patient.study_id, arm=arm,
        status=_(STATUS_LABELS.get(patient.status, patient.status)),
        enrolled_on=as_date(patient.enrolled_on),
        randomization_number=patient.randomization_number, anchors=anchors, visits=lines,
        today=today, identifiers=identifiers_of(patient) if include_identifiers else ())


class ScheduleReport(Report):
    """The printed schedule of one patient."""

    title = "Patient visit schedule"

    def __init__(self, context: ReportContext, data: ScheduleData) -> None:
        super().__init__(context)
        self.data = data

    def subtitle(self) -> str:
        return f"{self.data.study_key} · {self.data.patient}"

    def story(self) -> list[Flowable]:
        d = self.data
        pairs: list[tuple[object, object]] = [
            (_("Study"), f"{d.study_key} — {d.study_title}"),
            (_("Site"), self.context.site or d.site),
            (_("Patient"), d.patient),
            *d.identifiers,
            (_("Arm"), d.arm),
            (_("Status"), d.status),
            (_("Enrolled on"), day(d.enrolled_on)),
        ]
        if d.randomization_number:
            pairs.append((_("Randomization number"), d.randomization_number))
        for label, on in d.anchors:
            pairs.append((label, day(on, _("not yet known"))))
        pairs.append((_("Statuses as of"), day(d.today)))
        out: list[Flowable] = [self.para(_("Visit schedule of {patient}").format(
            patient=d.patient), "title"), self.key_values(pairs), self.spacer(4)]
        if not d.visits:
            out.append(self.para(_("No visit is planned for this patient.")))
            return out
        rows = []
        for v in d.visits:
            window: object = (self.rich(f"{day(v.window_start)} –<br/>{day(v.window_end)}",
                                        "cell") if v.window_start or v.window_end else "—")
            target = day(v.target)
            name = (_("{visit} (unscheduled)").format(visit=v.name) if v.unscheduled
                    else v.name)
            rows.append(["☑" if v.done_on else "☐", name, target, window,
                         join_list(v.assessments) or "—", v.status, day(v.done_on, ""),
                         "", ""])
        header = ["", _("Visit"), _("Target date"), _("Window"), _("Assessed"), _("Status"),
                  _("Done on"), _("Initials"), _("Date")]
        ink = colors.HexColor("#444444")
        out.append(self.table(header, rows, [0.3, 1.5, 1.4, 1.5, 2.3, 1.2, 1.4, 0.9, 1.0],
                              extra_style=[
                                  ("FONTSIZE", (0, 1), (0, -1), 12),
                                  ("LEADING", (0, 1), (0, -1), 13),
                                  ("BOTTOMPADDING", (0, 1), (-1, -1), 7),
                                  ("LINEBELOW", (7, 1), (8, -1), 0.6, ink),
                              ]))
        out.append(self.spacer(3))
        out.append(self.para(_(
            "Tick the box when the visit is done and write your initials and the date. "
            "Windows include both dates."), "small"))
        return out
