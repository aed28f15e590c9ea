"""The patient casebook: everything recorded for one patient, visit by visit, and at the end
the audit trail of that patient's data.

Visit by visit: each form with its answers (missing answers say why) and computed scores
(QLQ-C30, QLQ-CR29, LARS), laboratory values with their CTCAE v5.0 grades, and the adverse
events of the visit. Then all adverse events, tumour assessments (sum of target diameters
in mm, change from baseline, RECIST 1.1 response), treatment (doses in mg/day), surgery and
pathology, and the course of the disease.

Tumour, treatment, surgery and course records are read from the store's models directly
(the course service was not there when this was written); forms, labs and adverse events
through :class:`FormService`. Personal identifiers are printed only when asked for; in the
audit trail, changes to them are masked otherwise.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from reportlab.platypus import Flowable, KeepTogether

from gisttracker.domain import eligibility
from gisttracker.domain.eligibility import OUTCOME_LABELS, value_label
from gisttracker.errors import InputError
from gisttracker.forms import spec_for
from gisttracker.i18n import N_, _, join_list, join_sentences, local
from gisttracker.reports.base import Report, ReportContext
from gisttracker.reports.common import as_date, day, find_patient, identifiers_of
from gisttracker.response import recist
from gisttracker.services.audit import expand, patient_entries
from gisttracker.services.course.values import (
    CRITERION_LABELS,
    EVENT_LABELS,
    PHASE_LABELS,
    PROCEDURE_LABELS,
    STOMA_LABELS,
    drug_label,
)
from gisttracker.services.forms import STATE_LABELS, FormService
from gisttracker.services.patients import STATUS_LABELS
from gisttracker.services.tumour import Evaluation, LesionInput, TumourService
from gisttracker.services.visits import VisitService, status_text
from gisttracker.session import Session
from gisttracker.store.models import Record
from gisttracker.store.models_course import (
    CourseEvent,
    Pathology,
    Surgery,
    TreatmentExposure,
    TreatmentInterruption,
)
from gisttracker.store.models_patients import Screening

__all__ = ["CasebookData", "CasebookReport", "FormBlock", "VisitBlock", "gather_casebook"]

IDENTITY_TABLE = "patient_identity"
Rows = tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class FormBlock:
    title: str
    state: str
    note: str  # who completed it and when, or why it was not done
    answers: tuple[tuple[str, str], ...]  # item label, value as printed
    scores: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class VisitBlock:
    name: str
    target: date | None
    done_on: date | None
    status: str
    forms: tuple[FormBlock, ...]
    pending: tuple[str, ...]  # planned forms with nothing recorded yet
    labs: Rows  # analyte, value as entered, protocol unit value, range, grade
    adverse_events: Rows


@dataclass(frozen=True)
class CasebookData:
    patient: str
    study_key: str
    study_title: str
    particulars: tuple[tuple[str, str], ...]
    screenings: Rows
    visits: tuple[VisitBlock, ...]
    quiet_visits: Rows  # visits with nothing recorded: name, target, status
    adverse_events: Rows
    tumour: Rows
    best_response: str | None
    treatment: Rows
    surgery: Rows
    course: Rows
    audit: Rows
    # Electronic signatures and source verification marks (what, by whom, when, meaning),
    # and the audit trail's head when the casebook was made (schema 9).
    signatures: Rows = ()
    audit_head: str = ""


def _pk(record: Record) -> int:
    """The local integer key of a stored record."""
    return int(record.__data__["id"])


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def _score(value: object) -> str:
    if value is None:
        return _("not computable")
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, str):
        return _(value)  # a category (LARS: "minor LARS"), marked where it is defined
    return str(value)


def _answer(item: object, value: object) -> str:
    from gisttracker.forms.registry import Item

    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(item, Item):
        # The number printed is the answer's position on the questionnaire (1 = first, as it
        # is typed in the window), not its stored score value (LARS scores start at 0).
        for position, choice in enumerate(item.choices, start=1):
            if choice.value == value and type(choice.value) is type(value):
                return f"{position} · {_(choice.label)}"
        if item.unit and value is not None:
            return f"{value} {item.unit}"
    return "" if value is None else str(value)


def _form_blocks(service: FormService, visit_uid: str, statuses: tuple[object, ...]
                 ) -> tuple[list[FormBlock], list[str]]:
    from gisttracker.services.forms import FormStatus

    blocks, pending = [], []
    for st in statuses:
        assert isinstance(st, FormStatus)
        if st.state == "not_started":
            if st.planned:
                pending.append(_(st.title))
            continue
        try:
            spec = spec_for(st.kind)
        except KeyError:
            spec = None
        answers: list[tuple[str, str]] = []
        scores: list[tuple[str, str]] = []
        if spec is not None and spec.editor == "items":
            data = service.load(visit_uid, st.kind)
            for item in spec.items:
                label = f"{item.number}. {_(item.label)}" if item.number else _(item.label)
                if item.key in data.values:
                    answers.append((label, _answer(item, data.values[item.key])))
                elif item.key in data.missing:
                    answers.append((label, _("not applicable") if data.missing[item.key]
                                    == "not_applicable" else _("not answered")))
            scores = [(_(s.label), _score(s.value)) for s in data.scores]
        if st.state == "complete":
            note = _("completed {at} by {who}").format(at=(st.completed_at or "")[:16],
                                                      who=st.completed_by or "?")
        elif st.state == "not_done":
            note = _("not done: {reason}").format(reason=st.not_done_reason or "—")
        else:
            note = ""
        blocks.append(FormBlock(_(st.title), _(STATE_LABELS.get(st.state, st.state)), note,
                                tuple(answers), tuple(scores)))
    return blocks, pending


def _target_sum(targets: list[LesionInput]) -> float | None:
    """The sum of target diameters (mm) of an assessment outside any evaluated series."""
    try:
        return math.fsum(recist.recorded_diameter(m.diameter_mm, too_small=m.too_small)
                         for m in targets) if targets else None
    except InputError:
        return None


def _tumour(session: Session, patient_uid: str) -> tuple[Rows, str | None]:
    """The assessments with their RECIST 1.1 responses and the best overall response, as the
    tumour tab shows them (the study's own best-response rules, :class:`TumourService`)."""
    service = TumourService(session)
    records = service.assessments(patient_uid)
    if not records:
        return (), None
    result = service.evaluation(patient_uid)
    by_key: dict[tuple[date, bool], list[Evaluation]] = {}
    for evaluation in result.evaluations:
        by_key.setdefault((evaluation.assessed_on, evaluation.is_baseline), []).append(
            evaluation)
    rows = []
    for record in records:
        a = record.data
        found = by_key.get((a.assessed_on, a.is_baseline))
        ev = found.pop(0) if found else None
        change = ev.change_from_baseline_pct if ev else None
        targets = [m for m in a.lesions if m.is_target]
        total = ev.sum_mm if ev else _target_sum(targets)
        rows.append((day(a.assessed_on), a.modality or "—",
                     _("baseline") if a.is_baseline else "", str(len(targets)), _num(total),
                     "—" if change is None else f"{change:+.1f} %",
                     (ev.recist_overall if ev else None) or "—",
                     _("yes") if a.new_lesions else _("no"), a.notes or ""))
    best = result.best_recist
    if result.primary == "choi" and result.best_choi:
        best = _("{recist} (Choi: {choi})").format(recist=best or "—", choi=result.best_choi)
    return tuple(rows), best


#: What an audit row did (the table and field names beside it are the database's own).
AUDIT_ACTIONS = {"insert": N_("insert"), "update": N_("update"), "delete": N_("delete")}


def _label(labels: Mapping[str, str], code: str | None, empty: str = "—") -> str:
    """The translated label of a stored code (the code itself if it has none)."""
    if not code:
        return empty
    return _(labels[code]) if code in labels else code


def _audit(session: Session, patient_uid: str, include_identifiers: bool) -> Rows:
    rows = []
    for a in patient_entries(session.db, patient_uid=patient_uid):
        # An insert is one entry holding every value (schema 9): one line per field here.
        for name, old_value, new_value in expand(a):
            old, new = old_value or "", new_value or ""
            if a.table == IDENTITY_TABLE and not include_identifiers:
                old = "•••" if old else ""
                new = "•••" if new else ""
            rows.append((a.at[:16].replace("T", " "), a.user,
                         _(AUDIT_ACTIONS.get(a.action, a.action)), f"{a.table} {name}", old,
                         new, a.reason or ""))
    return tuple(rows)


def gather_casebook(session: Session, patient_ref: str, *, today: date,
                    include_identifiers: bool = False) -> CasebookData:
    """Everything recorded for the patient ``patient_ref`` (study identifier or uid).
    ServiceError when the patient is unknown."""
    patient = find_patient(patient_ref)
    study = session.study(patient.study_key)
    forms = FormService(session)
    schedule = {r.uid: r for r in VisitService(session).schedule(patient.uid, today=today)}
    pairs = [(_("Study"), f"{study.key} — {local(study.short_title or study.title)}"),
             (_("Site"), patient.site_code), (_("Patient"), patient.study_id),
             *(identifiers_of(patient) if include_identifiers else ()),
             (_("Sex"), _(patient.sex) if patient.sex else "—"),
             (_("Arm"), (patient.arm_code or "—") + (f" ({patient.arm_option})"
                                                     if patient.arm_option else "")),
             (_("Status"), _(STATUS_LABELS.get(patient.status, patient.status))),
             (_("Enrolled on"), day(as_date(patient.enrolled_on)))]
    if patient.randomization_number:
        pairs.append((_("Randomization number"), patient.randomization_number))
    if patient.ended_on:
        pairs.append((_("Participation ended"), f"{day(as_date(patient.ended_on))} "
                      f"{patient.end_reason or ''}".strip()))
    screenings = tuple(
        (day(as_date(s.screened_on)), _(OUTCOME_LABELS.get(s.outcome, s.outcome)),
         # Each reason in the reader's language (eligibility.reason_text).
         join_sentences(eligibility.reason_line(r, study)
                        for r in json.loads(s.reasons or "[]")))
        for s in Screening.select().where(Screening.patient == patient.id).order_by(Screening.id))
    aes = forms.adverse_events(patient.uid)
    ae_rows = {ae.uid: (day(ae.onset), ae.term_label, str(ae.grade),
                        _("yes") if ae.serious else _("no"), ae.relation or "—",
                        ae.outcome or "—", day(ae.resolved_on, ""), ae.notes or "")
               for ae in aes}
    blocks, quiet = [], []
    for vf in forms.visits(patient.uid):
        row = schedule.get(vf.visit_uid)
        status = status_text(row.status_code) if row else vf.state
        form_blocks, pending = _form_blocks(forms, vf.visit_uid, vf.forms)
        labs = tuple((_(lab.label), f"{_num(lab.value)} {lab.unit}",
                      f"{lab.canonical_value:.4g} {lab.canonical_unit}",
                      f"{_num(lab.lln)} – {_num(lab.uln)}",
                      "—" if lab.grade is None else str(lab.grade))
                     for lab in forms.labs(vf.visit_uid))
        visit_aes = tuple(ae_rows[ae.uid] for ae in aes if ae.visit_uid == vf.visit_uid)
        if not form_blocks and not labs and not visit_aes and vf.state == "planned":
            quiet.append((vf.name, day(vf.planned_on), status))
            continue
        blocks.append(VisitBlock(vf.name, vf.planned_on, vf.done_on, status,
                                 tuple(form_blocks), tuple(pending), labs, visit_aes))
    tumour, best = _tumour(session, patient.uid)
    exposures = list(TreatmentExposure.select().where(TreatmentExposure.patient == patient.id)
                     .order_by(TreatmentExposure.start_on))
    pauses: dict[int, list[str]] = {}
    if exposures:
        for p in TreatmentInterruption.select().where(
                TreatmentInterruption.exposure.in_([_pk(e) for e in exposures])):
            pauses.setdefault(int(p.__data__["exposure"]), []).append(
                f"{day(as_date(p.start_on))} – {day(as_date(p.end_on), '…')}"
                + (f" ({p.reason})" if p.reason else ""))
    treatment = tuple((drug_label(e.drug), f"{e.dose_mg_per_day:g}", _label(PHASE_LABELS, e.phase),
                       day(as_date(e.start_on)),
                       day(as_date(e.stop_on), "…"), e.reason or "",
                       join_sentences(pauses.get(_pk(e), []))) for e in exposures)
    surgery_rows = [(day(as_date(s.performed_on)), _label(PROCEDURE_LABELS, s.procedure),
                     s.margin or "—",
                     _("yes") if s.ruptured else _("no") if s.ruptured is False else "—",
                     _label(STOMA_LABELS, s.stoma), s.complications or "")
                    for s in Surgery.select().where(Surgery.patient == patient.id)
                    .order_by(Surgery.performed_on)]
    surgery_rows += [(day(as_date(p.reported_on)), _("Pathology"),
                      f"{value_label(p.primary_site) if p.primary_site else '—'}, "
                      f"{_num(p.tumour_size_cm)} cm",
                      _("yes") if p.ruptured else _("no") if p.ruptured is False else "—",
                      value_label(p.mutation) if p.mutation else "—", p.response_grade or "")
                     for p in Pathology.select().where(Pathology.patient == patient.id)]
    course = tuple((day(as_date(c.occurred_on)), _label(EVENT_LABELS, c.kind),
                    _label(CRITERION_LABELS, c.criterion, ""), c.site or "",
                    c.cause or "", c.notes or "")
                   for c in CourseEvent.select().where(CourseEvent.patient == patient.id)
                   .order_by(CourseEvent.occurred_on))
    return CasebookData(
        patient=patient.study_id, study_key=study.key,
        study_title=local(study.short_title or study.title), particulars=tuple(pairs),
        screenings=screenings, visits=tuple(blocks), quiet_visits=tuple(quiet),
        adverse_events=tuple(ae_rows.values()), tumour=tumour, best_response=best,
        treatment=treatment, surgery=tuple(surgery_rows), course=course,
        audit=_audit(session, patient.uid, include_identifiers),
        signatures=_signatures(session, patient.uid), audit_head=_head(session))


def _signatures(session: Session, patient_uid: str) -> Rows:
    """Who signed or source-verified what of the patient's data, and when."""
    from gisttracker.services.scopes import SCOPE_LABELS
    from gisttracker.services.signatures import MEANINGS
    from gisttracker.store.models_accounts import Signature, SourceVerification

    names: dict[str, str] = {}
    for scope, table, label in (("visit", "visit", "name"), ("form", "form", "kind")):
        for uid, text in session.db.execute_sql(
                f'SELECT uid, {label} FROM "{table}" WHERE uid IN (SELECT target_uid FROM '
                f"signature WHERE patient_ref = ? AND scope = ? UNION SELECT target_uid FROM "
                f"source_verification WHERE patient_ref = ? AND scope = ?)",
                (patient_uid, scope, patient_uid, scope)).fetchall():
            names[uid] = str(text)
    rows = []
    for sig in Signature.select().where(Signature.patient_ref == patient_uid).order_by(
            Signature.id):
        what = f"{_(SCOPE_LABELS[sig.scope])} {names.get(sig.target_uid, '')}".strip()
        rows.append((_("signed"), what, f"{sig.signer_name} ({sig.signer})",
                     str(sig.signed_at)[:16].replace("T", " "),
                     _(MEANINGS.get(sig.meaning, sig.meaning)),
                     f"#{sig.audit_head} {str(sig.audit_hash or '')[:12]}"))
    for mark in SourceVerification.select().where(
            SourceVerification.patient_ref == patient_uid).order_by(SourceVerification.id):
        what = f"{_(SCOPE_LABELS[mark.scope])} {names.get(mark.target_uid, '')}".strip()
        rows.append((_("source-verified"), what, str(mark.verified_by),
                     str(mark.verified_at)[:16].replace("T", " "), "",
                     f"#{mark.audit_head}"))
    return tuple(rows)


def _head(session: Session) -> str:
    from gisttracker.services.audit import head

    entry, digest = head(session.db)
    return _("audit trail at entry #{entry}, hash {digest}").format(entry=entry,
                                                                    digest=digest)


class CasebookReport(Report):
    """Everything recorded for one patient."""

    title = "Patient casebook"

    def __init__(self, context: ReportContext, data: CasebookData) -> None:
        super().__init__(context)
        self.data = data

    def subtitle(self) -> str:
        return f"{self.data.study_key} · {self.data.patient}"

    def _section(self, title: str, header: list[str], rows: Rows, widths: list[float],
                 empty: str) -> list[Flowable]:
        out: list[Flowable] = [self.heading(title)]
        if rows:
            out.append(self.table(header, [list(r) for r in rows], widths,
                                  continued=_("{title} (continued)").format(title=title)))
        else:
            out.append(self.para(empty))
        return out

    def _visit(self, v: VisitBlock) -> list[Flowable]:
        when = _("target {target} · done {done} · {status}").format(
            target=day(v.target), done=day(v.done_on), status=v.status)
        out: list[Flowable] = [self.heading(v.name), self.para(when, "small")]
        for f in v.forms:
            title = self.heading(f"{f.title} — {f.state}" + (f" ({f.note})" if f.note else ""),
                                 3)
            parts: list[Flowable] = [title]
            if f.answers:
                half = (len(f.answers) + 1) // 2
                left, right = f.answers[:half], f.answers[half:]
                rows = [[*left[i], *(right[i] if i < len(right) else ("", ""))]
                        for i in range(half)]
                parts.append(self.table([_("Item"), _("Answer"), _("Item"), _("Answer")],
                                        rows, [3, 1.6, 3, 1.6], continued=_(
                                            "{visit} · {form} (continued)").format(
                                                visit=v.name, form=f.title)))
            if f.scores:
                parts += [self.spacer(1), self.table(
                    [_("Score"), _("Value")], [list(s) for s in f.scores], [5, 2])]
            out.append(KeepTogether(parts[:2]) if len(parts) > 1 else parts[0])
            out += parts[2:]
        if v.labs:
            # The heading goes to the next page with its table rather than stay alone.
            out.append(KeepTogether([self.heading(_("Laboratory values"), 3), self.table(
                [_("Analyte"), _("As entered"), _("Protocol unit"), _("LLN – ULN"),
                 _("CTCAE grade")], [list(r) for r in v.labs], [2.2, 1.5, 1.5, 1.5, 1],
                continued=_("{visit} · laboratory values (continued)").format(
                    visit=v.name))]))
        if v.adverse_events:
            out.append(KeepTogether([self.heading(_("Adverse events"), 3),
                                     self._ae_table(v.adverse_events)]))
        if v.pending:
            out.append(self.para(_("Nothing recorded yet: {forms}").format(
                forms=join_list(v.pending)), "small"))
        return out

    def _ae_table(self, rows: Rows) -> Flowable:
        return self.table([_("Onset"), _("Term"), _("Grade"), _("Serious"), _("Relation"),
                           _("Outcome"), _("Resolved"), _("Notes")], [list(r) for r in rows],
                          [1.1, 1.7, 0.8, 0.9, 1, 1.1, 1.1, 2.2])

    def story(self) -> list[Flowable]:
        d = self.data
        out: list[Flowable] = [
            self.para(_("Casebook of {patient}").format(patient=d.patient), "title"),
            self.key_values(d.particulars)]
        out += self._section(
            _("Signatures and source verification"),
            [_("What"), _("Of"), _("By"), _("When (UTC)"), _("Meaning"), _("Audit trail")],
            d.signatures, [1.2, 1.6, 1.8, 1.2, 1.6, 1.3],
            _("Not signed or source-verified yet."))
        if d.audit_head:
            out.append(self.para(_("Made from the {head}. The command gisttracker audit "
                                   "verify prints this head for as long as nothing has "
                                   "changed since.").format(head=d.audit_head), "small"))
        out += self._section(_("Screening"), [_("Screened on"), _("Outcome"), _("Reasons")],
                             d.screenings, [1, 1, 5], _("No screening recorded."))
        for v in d.visits:
            out += self._visit(v)
        if d.quiet_visits:
            out += self._section(_("Visits with nothing recorded yet"),
                                 [_("Visit"), _("Target date"), _("Status")], d.quiet_visits,
                                 [3, 1.2, 1.8], "")
        out.append(self.heading(_("All adverse events")))
        out.append(self._ae_table(d.adverse_events) if d.adverse_events
                   else self.para(_("No adverse event recorded.")))
        out += self._section(
            _("Tumour assessments (RECIST 1.1)"),
            [_("Date"), _("Modality"), "", _("Targets"), _("Sum (mm)"), _("From baseline"),
             _("Response"), _("New lesions"), _("Notes")], d.tumour,
            [1.1, 0.9, 0.8, 0.8, 0.8, 1, 0.9, 0.8, 1.8], _("No tumour assessment recorded."))
        if d.best_response:
            out.append(self.para(_("Best overall response: {r}").format(r=d.best_response)))
        out += self._section(
            _("Treatment"), [_("Drug"), _("mg/day"), _("Phase"), _("Start"), _("Stop"),
                             _("Reason"), _("Interruptions")], d.treatment,
            [1, 0.7, 1, 1, 1, 1.5, 2], _("No treatment recorded."))
        out += self._section(
            _("Surgery and pathology"), [_("Date"), _("Procedure"), _("Margin / findings"),
                                         _("Rupture"), _("Stoma / mutation"), _("Notes")],
            d.surgery, [1, 1.6, 1.5, 0.8, 1.3, 2], _("No surgery recorded."))
        out += self._section(
            _("Course"), [_("Date"), _("Event"), _("Criterion"), _("Site"), _("Cause"),
                          _("Notes")], d.course, [1, 1.2, 1, 1, 1, 2.5],
            _("No course event recorded."))
        out += self._section(
            _("Audit trail"), [_("When (UTC)"), _("User"), _("Action"), _("Field"), _("Old"),
                               _("New"), _("Reason")], d.audit,
            [1.7, 0.8, 0.7, 2.2, 1.3, 1.3, 1.3], _("No change recorded."))
        return out
