"""Visit data entry: the forms a visit plans, their answers, labs and adverse events.

Every write goes through :meth:`Tracker.transaction`. Rules kept here:

- A visit's forms are the assessments its protocol visit lists (plus any form already
  stored for it). Each has a state: ``not_started``, ``in_progress``, ``complete`` or
  ``not_done`` (with a reason such as "patient refused").
- Answers are typed and range-checked by the form's spec (:mod:`gisttracker.forms`); a bad
  answer raises :class:`FormInputError` naming the item. A missing answer is explicit:
  :attr:`Missing.NOT_ANSWERED` (asked, left blank) is not :attr:`Missing.NOT_APPLICABLE`
  (not asked of this patient).
- A form is complete when every required item that applies has a value or is explicitly
  missing; the items that do not apply are stored as not applicable.
- After a form is complete (or not done), any change needs a reason
  (:class:`ReasonRequired` otherwise) and the audit keeps who, when, old, new and why.
- A visit is marked done (through :class:`VisitService`) once every planned form is
  complete or not done, on the date it took place: the date the caller gives (the window
  asks for it, :meth:`FormService.visit_date_question`), or else the suggested date
  (:meth:`VisitService.suggested_visit_date`) — never simply the day of data entry, which
  would make a visit entered late look out of its window.
- Laboratory values are stored as entered (value, unit, the site's LLN/ULN) and shown in
  the protocol's unit with their CTCAE v5.0 grade, graded against the patient's baseline
  (the screening value, or else the first value of that analyte). A grade ≥ 3 comes back
  with a suggestion to record an adverse event; none is ever created silently.

"Today" is a parameter wherever a rule needs it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from gisttracker.domain.plausibility import EARLIEST, date_problem
from gisttracker.errors import InputError
from gisttracker.forms import FormContext, FormSpec, Missing, Score, check_value, spec_for
from gisttracker.forms import labs as lab_rules
from gisttracker.forms.registry import describe_item
from gisttracker.grading import ctcae
from gisttracker.i18n import N_, _, join_sentences
from gisttracker.protocols.catalogue import ASSESSMENTS
from gisttracker.services.base import ReasonRequired, ServiceError, Writer, service
from gisttracker.services.claims import lock_row
from gisttracker.services.common import SiteService, as_date, date_context, find_patient
from gisttracker.services.common import fk_id as _fk
from gisttracker.services.common import id_column as _col
from gisttracker.services.common import pk as _pk
from gisttracker.services.versions import form_version_id
from gisttracker.store.models_forms import AdverseEvent, Form, FormValue
from gisttracker.store.models_patients import LabResult, Patient
from gisttracker.store.models_visits import Visit
from gisttracker.store.server import is_server_db

__all__ = [
    "AE_ACTIONS",
    "AE_DRUGS",
    "AE_OUTCOMES",
    "AE_RELATIONS",
    "NOT_DONE_REASONS",
    "AdverseEventInput",
    "AdverseEventRow",
    "FormData",
    "FormInputError",
    "FormService",
    "FormStatus",
    "LabRow",
    "VisitDateQuestion",
    "VisitForms",
]

STATES = ("not_started", "in_progress", "complete", "not_done")
STATE_LABELS = {
    "not_started": N_("Not started"),
    "in_progress": N_("In progress"),
    "complete": N_("Complete"),
    "not_done": N_("Not done"),
}
#: Usual reasons a form is not done (the user may type another).
NOT_DONE_REASONS = (N_("Patient refused"), N_("Patient too ill"),
                    N_("Not performed at this visit"), N_("Patient did not attend"))

AE_DRUGS = (("imatinib", N_("Imatinib")), ("sunitinib", N_("Sunitinib")),
            ("other", N_("Other / none")))
AE_RELATIONS = (("not_related", N_("Not related")), ("unlikely", N_("Unlikely")),
                ("possible", N_("Possible")), ("probable", N_("Probable")),
                ("definite", N_("Definite")))
AE_ACTIONS = (("none", N_("Dose not changed")), ("reduced", N_("Dose reduced")),
              ("interrupted", N_("Drug interrupted")), ("withdrawn", N_("Drug withdrawn")),
              ("not_applicable", N_("Not applicable")))
AE_OUTCOMES = (("recovered", N_("Recovered / resolved")),
               ("recovering", N_("Recovering / resolving")),
               ("not_recovered", N_("Not recovered / not resolved")),
               ("sequelae", N_("Recovered with sequelae")), ("fatal", N_("Fatal")),
               ("unknown", N_("Unknown")))


class FormInputError(ServiceError):
    """Answers the spec refuses; ``errors`` maps each item key to its message."""

    def __init__(self, errors: Mapping[str, str], message: str) -> None:
        super().__init__(message)
        self.errors = dict(errors)


@dataclass(frozen=True)
class FormStatus:
    """One form of a visit as the visit page lists it."""

    kind: str
    title: str  # N_-marked
    state: str
    form_uid: str | None
    planned: bool
    not_done_reason: str | None = None
    completed_at: str | None = None
    completed_by: str | None = None

    @property
    def settled(self) -> bool:
        return self.state in ("complete", "not_done")


@dataclass(frozen=True)
class VisitForms:
    """A visit and its forms."""

    visit_uid: str
    name: str
    state: str
    planned_on: date | None
    done_on: date | None
    forms: tuple[FormStatus, ...]

    @property
    def all_settled(self) -> bool:
        planned = [f for f in self.forms if f.planned]
        return bool(planned) and all(f.settled for f in planned)


@dataclass(frozen=True)
class VisitDateQuestion:
    """Settling a form would settle its visit: ask the day the visit took place.

    ``suggested`` is the date to offer and ``why`` says where it comes from."""

    visit_uid: str
    visit_name: str
    target: date | None
    window_start: date | None
    window_end: date | None
    suggested: date
    why: str


@dataclass(frozen=True)
class FormData:
    """One form's stored answers, missing markers and scores."""

    visit_uid: str
    patient_uid: str
    kind: str
    form_uid: str | None
    state: str
    values: dict[str, Any]
    missing: dict[str, str]
    sex: str | None
    not_done_reason: str | None = None
    completed_at: str | None = None
    completed_by: str | None = None
    scores: tuple[Score, ...] = ()

    @property
    def locked(self) -> bool:
        """Whether a change needs a reason."""
        return self.state in ("complete", "not_done")

    def context(self) -> FormContext:
        return FormContext(self.sex, self.values)


@dataclass(frozen=True)
class LabRow:
    """One laboratory result at a visit, seen in the protocol's unit with its grade."""

    uid: str
    analyte: str
    label: str  # N_-marked
    value: float
    unit: str
    lln: float | None
    uln: float | None
    sampled_on: date | None
    canonical_value: float
    canonical_unit: str
    grade: int | None
    suggests_adverse_event: bool
    baseline: float | None
    adverse_event_uid: str | None

    @property
    def converted(self) -> bool:
        return self.unit != self.canonical_unit

    def suggestion(self) -> AdverseEventInput | None:
        """The adverse event a grade ≥ 3 suggests (not yet recorded), or None."""
        if not self.suggests_adverse_event or self.adverse_event_uid or self.grade is None:
            return None
        term = lab_rules.analyte(self.analyte).term
        if term is None:  # a protocol's own analyte has no CTCAE term
            return None
        return AdverseEventInput(term=term, grade=self.grade,
                                 onset=self.sampled_on or date.min, lab_result_uid=self.uid)


@dataclass
class AdverseEventInput:
    """What the user enters for an adverse event. ``term`` is a CTCAE term key of
    :data:`gisttracker.grading.ctcae.TERMS` or free text."""

    term: str
    grade: int
    onset: date
    resolved_on: date | None = None
    serious: bool = False
    drug: str | None = None
    relation: str | None = None
    action: str | None = None
    outcome: str | None = None
    notes: str | None = None
    visit_uid: str | None = None
    lab_result_uid: str | None = None


@dataclass(frozen=True)
class AdverseEventRow:
    uid: str
    term: str
    term_label: str
    grade: int
    onset: date
    resolved_on: date | None
    serious: bool
    drug: str | None
    relation: str | None
    action: str | None
    outcome: str | None
    notes: str | None
    visit_uid: str | None
    lab_result_uid: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def term_label(term: str) -> str:
    """The translated name of a CTCAE term key, or the free text as typed."""
    return _(ctcae.TERMS[term]) if term in ctcae.TERMS else term


_as_date = as_date




def _dump(value: object) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _load(text: str | None) -> object:
    return None if text is None else json.loads(text)


@service
class FormService(SiteService):
    """Forms, labs and adverse events of one open site."""

    # ----- lookups ------------------------------------------------------------------------
    def _visit(self, visit_uid: str) -> tuple[Visit, Patient]:
        visit = Visit.get_or_none(Visit.uid == visit_uid)
        if visit is None:
            raise ServiceError(_("no visit {uid!r}").format(uid=visit_uid))
        return visit, Patient.get_by_id(_fk(visit, "patient"))

    def _patient(self, key: str) -> Patient:
        return find_patient(key)

    def planned_kinds(self, visit: Visit, patient: Patient) -> tuple[str, ...]:
        """The assessments the protocol plans for ``visit`` (none for unscheduled visits)."""
        if not visit.visit_key:
            return ()
        study = self.study_of(patient)
        for definition in study.visits:
            if definition.key == visit.visit_key:
                return definition.assessments
        return ()

    @staticmethod
    def _spec(kind: str) -> FormSpec:
        try:
            return spec_for(kind)
        except KeyError as exc:
            raise ServiceError(str(exc.args[0])) from None

    def _form(self, visit: Visit, kind: str, w: Writer | None = None) -> Form | None:
        """The visit's form ``kind``. With the writer ``w`` of the transaction, its row is
        held until the commit (``FOR UPDATE`` on a server; SQLite's write lock holds every
        row already): its state decides what the transaction may write to the form's
        values, so a form completed on another workstation meanwhile is waited for and
        seen, never written into as if still in progress."""
        query = Form.select().where((Form.visit == _pk(visit)) & (Form.kind == kind))
        if w is not None and is_server_db(w.db):
            query = query.for_update()
        found: Form | None = query.first()
        return found

    # ----- the visit's forms --------------------------------------------------------------
    def visits(self, patient_key: str) -> list[VisitForms]:
        """Every visit of the patient with its forms (two queries, cheap per patient)."""
        patient = self._patient(patient_key)
        visits = list(Visit.select().where(Visit.patient == _pk(patient)).order_by(
            Visit.planned_on.is_null(), Visit.planned_on, Visit.seq))
        forms: dict[int, list[Form]] = {}
        if visits:
            for form in Form.select().where(Form.visit.in_([_pk(v) for v in visits])):
                forms.setdefault(_fk(form, "visit") or 0, []).append(form)
        return [self._visit_forms(v, patient, forms.get(_pk(v), [])) for v in visits]

    def visit_forms(self, visit_uid: str) -> VisitForms:
        """One visit with its forms and their states."""
        visit, patient = self._visit(visit_uid)
        stored = list(Form.select().where(Form.visit == _pk(visit)))
        return self._visit_forms(visit, patient, stored)

    def _visit_forms(self, visit: Visit, patient: Patient, stored: list[Form]) -> VisitForms:
        by_kind = {f.kind: f for f in stored}
        planned = self.planned_kinds(visit, patient)
        out = []
        for kind in (*planned, *[k for k in by_kind if k not in planned]):
            form = by_kind.get(kind)
            title = ASSESSMENTS.get(kind, kind)
            out.append(FormStatus(
                kind=kind, title=title, state=form.state if form else "not_started",
                form_uid=form.uid if form else None, planned=kind in planned,
                not_done_reason=form.not_done_reason if form else None,
                completed_at=form.completed_at if form else None,
                completed_by=form.completed_by if form else None))
        name = self.study_of(patient).visit_name(visit.visit_key, visit.name)
        return VisitForms(visit.uid, name, visit.state, _as_date(visit.planned_on),
                          _as_date(visit.done_on), tuple(out))

    # ----- one form -----------------------------------------------------------------------
    def load(self, visit_uid: str, kind: str) -> FormData:
        """The stored answers of form ``kind`` at the visit (empty when not started)."""
        visit, patient = self._visit(visit_uid)
        spec = self._spec(kind)
        form = self._form(visit, kind)
        values: dict[str, Any] = {}
        missing: dict[str, str] = {}
        if form is not None:
            for row in FormValue.select().where(FormValue.form == _pk(form)):
                if row.missing:
                    missing[row.item] = row.missing
                elif row.value is not None:
                    values[row.item] = _load(row.value)
        context = FormContext(patient.sex, values)
        return FormData(
            visit_uid=visit.uid, patient_uid=patient.uid, kind=kind,
            form_uid=form.uid if form else None, state=form.state if form else "not_started",
            values=values, missing=missing, sex=patient.sex,
            not_done_reason=form.not_done_reason if form else None,
            completed_at=form.completed_at if form else None,
            completed_by=form.completed_by if form else None,
            scores=spec.scores(values, context))

    def validate(self, kind: str, values: Mapping[str, object], *,
                 sex: str | None = None) -> tuple[dict[str, object], dict[str, str]]:
        """Check raw answers against the spec: (typed values, messages by item key).

        Missing markers (:class:`Missing`) pass through unchanged. Pure: the window calls
        it while the user types.
        """
        spec = self._spec(kind)
        typed: dict[str, object] = {}
        errors: dict[str, str] = {}
        for key, raw in values.items():
            try:
                item = spec.item(key)
            except KeyError:
                errors[key] = _("{form} has no item {item!r}").format(
                    form=_(spec.title), item=key)
                continue
            if isinstance(raw, Missing):
                typed[key] = raw
                continue
            try:
                typed[key] = check_value(item, raw)
            except InputError as exc:
                errors[key] = str(exc)
        answers = {k: v for k, v in typed.items() if not isinstance(v, Missing)}
        if spec.cross_check is not None:
            for key, message in spec.cross_check(answers, FormContext(sex, answers)).items():
                errors.setdefault(key, message)
        return typed, errors

    def _raise(self, spec: FormSpec, errors: Mapping[str, str]) -> None:
        parts = []
        for key, message in errors.items():
            try:
                name = describe_item(spec.item(key))
            except KeyError:
                name = key
            parts.append(f"{name}: {message}")
        raise FormInputError(errors, join_sentences(parts))

    def save_answers(self, visit_uid: str, kind: str, values: Mapping[str, object], *,
             reason: str | None = None) -> FormData:
        """Store answers (item key → raw value, None to clear, or a :class:`Missing`).

        Items not in ``values`` keep what they had. The first save moves the form to
        ``in_progress``; a form already complete or not done stays so, but the change needs
        a ``reason``. Nothing is written if any answer is refused.
        """
        visit, patient = self._visit(visit_uid)
        spec = self._spec(kind)
        typed, errors = self.validate(kind, values, sex=patient.sex)
        if errors:
            self._raise(spec, errors)
        with self.tracker.transaction(reason) as w:
            form = self._ensure_form(w, visit, patient, kind)
            locked = form.state in ("complete", "not_done")
            existing = {r.item: r for r in FormValue.select().where(FormValue.form == _pk(form))}
            for key, value in typed.items():
                self._write_value(w, form, patient, existing.get(key), key, value, locked)
            if form.state == "not_started":
                w.update(form, {"state": "in_progress"}, patient_uid=patient.uid)
        return self.load(visit_uid, kind)

    def _ensure_form(self, w: Writer, visit: Visit, patient: Patient, kind: str) -> Form:
        """The visit's form ``kind``, created if needed, recording the form definition its
        answers are being saved under (a change of definition is audited)."""
        version = form_version_id(w, self._spec(kind))
        form = self._form(visit, kind, w)
        if form is None:
            form = w.insert(Form, visit=_pk(visit), kind=kind, state="not_started",
                            form_version_id=version, patient_uid=patient.uid)
        elif form.form_version_id != version:
            w.update(form, {"form_version_id": version}, patient_uid=patient.uid,
                     reason=_("form definition changed since the form was last saved"))
        return form

    @staticmethod
    def _write_value(w: Writer, form: Form, patient: Patient, row: FormValue | None, key: str,
                     value: object, locked: bool) -> None:
        if isinstance(value, Missing):
            new = {"value": None, "missing": value.value}
        else:
            new = {"value": _dump(value), "missing": None}
        if row is None:
            if new["value"] is None and new["missing"] is None:
                return
            if locked and not (w.reason and w.reason.strip()):
                raise ReasonRequired(
                    _("a reason is required to change data already completed"))
            w.insert(FormValue, form=_pk(form), item=key, patient_uid=patient.uid, **new)
        else:
            w.update(row, new, patient_uid=patient.uid, require_reason=locked)

    def missing_required(self, data: FormData) -> list[str]:
        """Keys of required, applicable items with neither a value nor a missing marker."""
        spec = self._spec(data.kind)
        return [i.key for i in spec.applicable(data.context())
                if i.required and i.key not in data.values and i.key not in data.missing]

    def complete(self, visit_uid: str, kind: str, *, today: date,
                 reason: str | None = None, visit_date: date | None = None) -> FormData:
        """Mark the form complete (and the visit done, on ``visit_date``, when every planned
        form is settled; see :meth:`visit_date_question`).

        Refused with :class:`FormInputError` when a required item that applies has neither
        a value nor an explicit missing marker, or when an item that does not apply to
        this patient has a value. Items that do not apply are stored as not applicable.
        """
        visit, patient = self._visit(visit_uid)
        spec = self._spec(kind)
        with self.tracker.transaction(reason) as w:
            # Checked inside the transaction, with the form's row held (_ensure_form): an
            # answer cleared or a lab value removed on another workstation meanwhile is
            # waited for and seen, not completed over.
            form = self._ensure_form(w, visit, patient, kind)
            data = self.load(visit_uid, kind)
            context = data.context()
            errors: dict[str, str] = {}
            for key in self.missing_required(data):
                errors[key] = _("answer it or mark it as not answered")
            applicable = {i.key for i in spec.applicable(context)}
            for key in data.values:
                if key in spec.item_keys() and key not in applicable:
                    errors[key] = _("does not apply to this patient: clear it")
            _typed, problems = self.validate(kind, data.values, sex=patient.sex)
            errors.update(problems)
            if spec.editor == "labs" and not LabResult.select().where(
                    LabResult.visit_id == _pk(visit)).exists():
                raise ServiceError(_("{form}: enter at least one value, or mark the form not "
                                     "done").format(form=_(spec.title)))
            if spec.editor == "adverse_events" and data.values.get("any_new") is True and not (
                    AdverseEvent.select().where(AdverseEvent.visit == _pk(visit)).exists()):
                errors["any_new"] = _("record the adverse event, or answer no")
            if errors:
                self._raise(spec, errors)
            locked = form.state == "not_done"
            existing = {r.item: r for r in FormValue.select().where(FormValue.form == _pk(form))}
            for item in spec.items:
                if item.key in applicable:
                    continue
                row = existing.get(item.key)
                if row is None or row.missing != Missing.NOT_APPLICABLE.value:
                    self._write_value(w, form, patient, row, item.key, Missing.NOT_APPLICABLE,
                                      locked)
            if form.state != "complete":
                w.update(form, {
                    "state": "complete", "not_done_reason": None,
                    "completed_at": self.tracker.now().isoformat(timespec="seconds"),
                    "completed_by": self.tracker.user,
                }, patient_uid=patient.uid, require_reason=locked)
            self._settle_visit(w, visit, today, visit_date)
        return self.load(visit_uid, kind)

    def mark_not_done(self, visit_uid: str, kind: str, reason: str, *, today: date,
                      visit_date: date | None = None) -> FormData:
        """Record that the form was not done at this visit, and why (required); the visit is
        done on ``visit_date`` when this settles it (as :meth:`complete`)."""
        if not (reason and reason.strip()):
            raise ServiceError(_("say why the form was not done"))
        reason = reason.strip()
        visit, patient = self._visit(visit_uid)
        self._spec(kind)
        with self.tracker.transaction(reason) as w:
            form = self._ensure_form(w, visit, patient, kind)
            w.update(form, {"state": "not_done", "not_done_reason": reason,
                            "completed_at": self.tracker.now().isoformat(timespec="seconds"),
                            "completed_by": self.tracker.user},
                     patient_uid=patient.uid)
            self._settle_visit(w, visit, today, visit_date)
        return self.load(visit_uid, kind)

    def visit_date_question(self, visit_uid: str, kind: str, *,
                            today: date) -> VisitDateQuestion | None:
        """What to ask before completing (or marking not done) form ``kind``: None when
        that does not settle the visit (another planned form is still open, or the visit is
        not planned any more); else the visit, its window and the suggested date."""
        visit, _patient = self._visit(visit_uid)
        if visit.state != "planned":
            return None
        forms = self.visit_forms(visit_uid)
        planned = [f for f in forms.forms if f.planned]
        if kind not in {f.kind for f in planned} or any(
                not f.settled for f in planned if f.kind != kind):
            return None
        from gisttracker.services.visits import VisitService

        suggested, why = VisitService(self.session).suggested_visit_date(visit_uid,
                                                                         today=today)
        return VisitDateQuestion(visit.uid, visit.name, _as_date(visit.planned_on),
                                 _as_date(visit.window_start), _as_date(visit.window_end),
                                 suggested, why)

    def _settle_visit(self, w: Writer, visit: Visit, today: date,
                      visit_date: date | None) -> None:
        """Mark a planned visit done once all its planned forms are complete or not done,
        on ``visit_date`` (the day it took place) or, not given, the suggested date.

        The visit's row is held first (see :func:`~gisttracker.services.claims.lock_row`):
        two workstations completing the visit's last two forms at once would otherwise each
        see the other's form still open, and the visit would stay planned."""
        lock_row(w, "visit", _pk(visit))
        visit = Visit.get_by_id(_pk(visit))
        if visit.state != "planned":
            return
        forms = self.visit_forms(visit.uid)
        if not forms.all_settled:
            return
        from gisttracker.services.visits import VisitService

        visits = VisitService(self.session)
        reason = _("all forms of the visit complete or not done")
        if visit_date is None:
            visit_date, why = visits.suggested_visit_date(visit.uid, today=today)
            reason = _("{reason}; visit date not given, {why} taken").format(reason=reason,
                                                                             why=why)
        visits.mark_done(visit.uid, visit_date, today=today, reason=reason)

    def scores(self, visit_uid: str, kind: str) -> dict[str, float | int | str | None]:
        """The computed scores of a form, by key (C30 scales + SUMSC, CR29 scales, LARS)."""
        return {s.key: s.value for s in self.load(visit_uid, kind).scores}

    # ----- laboratory values --------------------------------------------------------------
    def _baseline(self, patient: Patient, analyte: str, exclude: int | None) -> float | None:
        """The patient's baseline of ``analyte`` in the protocol unit: the latest screening
        value, or else the first value recorded (not the row being graded itself)."""
        an = lab_rules.analyte(analyte, self.study_of(patient))
        keys = [an.key, an.units_key]
        query = LabResult.select().where(
            (LabResult.patient == _pk(patient)) & LabResult.analyte.in_(keys))
        rows = list(query.order_by(LabResult.sampled_on.is_null(), LabResult.sampled_on,
                                   _col(LabResult)))
        screening = [r for r in rows if r.__data__.get("screening") is not None]
        base = screening[-1] if screening else (rows[0] if rows else None)
        if base is None or _pk(base) == exclude:
            return None
        try:
            return lab_rules.to_canonical(an, base.value, base.unit)
        except InputError:
            return None

    def _lab_row(self, patient: Patient, row: LabResult,
                 ae_by_lab: Mapping[int, str]) -> LabRow:
        study = self.study_of(patient)
        an = lab_rules.analyte(row.analyte, study)
        baseline = self._baseline(patient, an.key, _pk(row))
        graded = lab_rules.grade_lab(an.key, row.value, row.unit, lln=row.lln, uln=row.uln,
                                     baseline=baseline, study=study)
        return LabRow(
            uid=row.uid, analyte=an.key, label=an.label, value=row.value, unit=row.unit,
            lln=row.lln, uln=row.uln, sampled_on=_as_date(row.sampled_on),
            canonical_value=graded.value, canonical_unit=graded.unit, grade=graded.grade,
            suggests_adverse_event=graded.suggests_adverse_event, baseline=baseline,
            adverse_event_uid=ae_by_lab.get(_pk(row)))

    def labs(self, visit_uid: str) -> list[LabRow]:
        """The visit's laboratory results in the protocol order of analytes."""
        visit, patient = self._visit(visit_uid)
        rows = list(LabResult.select().where(LabResult.visit_id == _pk(visit)))
        ae_by_lab = {_fk(a, "lab_result") or 0: a.uid for a in AdverseEvent.select().where(
            AdverseEvent.lab_result.in_([_pk(r) for r in rows]))} if rows else {}
        study = self.study_of(patient)
        order = list(lab_rules.analytes_for(study))
        rows.sort(key=lambda r: (order.index(lab_rules.analyte(r.analyte, study).key), _pk(r)))
        return [self._lab_row(patient, r, ae_by_lab) for r in rows]

    def analytes(self, visit_uid: str) -> list[lab_rules.Analyte]:
        """The laboratory values this visit's protocol records: the seven, then its own."""
        _visit, patient = self._visit(visit_uid)
        return list(lab_rules.analytes_for(self.study_of(patient)).values())

    def baseline(self, visit_uid: str, analyte: str) -> float | None:
        """The baseline (protocol unit) a new value of ``analyte`` at this visit is graded
        against (for the window's live grade)."""
        visit, patient = self._visit(visit_uid)
        an = lab_rules.analyte(analyte, self.study_of(patient))
        here = LabResult.get_or_none((LabResult.visit_id == _pk(visit)) & (
            LabResult.analyte.in_([an.key, an.units_key])))
        return self._baseline(patient, an.key, None if here is None else _pk(here))

    def save_lab(self, visit_uid: str, analyte: str, value: float, unit: str, *,
                 lln: float | None = None, uln: float | None = None,
                 sampled_on: date | None = None, today: date,
                 reason: str | None = None) -> LabRow:
        """Enter or correct the visit's value of ``analyte`` (one per analyte and visit).

        ``value``, ``lln`` and ``uln`` are in ``unit`` as the laboratory reported them; the
        unit must be one of the analyte's units (never guessed). A correction after the lab
        form is complete needs a ``reason``.
        """
        visit, patient = self._visit(visit_uid)
        study = self.study_of(patient)
        try:
            an = lab_rules.analyte(analyte, study)
            spelled = lab_rules.normalize(an, unit)
            number = float(value)
            lab_rules.grade_lab(an.key, number, spelled, lln=lln, uln=uln, study=study)
        except InputError as exc:
            raise FormInputError({analyte: str(exc)}, str(exc)) from None
        if sampled_on is not None and sampled_on > today:
            raise FormInputError({analyte: _("the sample date is in the future")},
                                 _("the sample date is in the future"))
        if sampled_on is not None:
            ctx = date_context(patient, today)
            problem = date_problem(sampled_on, today=today, label=_("Sample date"),
                                   birth=ctx.birth, death=ctx.death)
            if problem:
                raise FormInputError({analyte: problem}, problem)
        values = {"value": number, "unit": spelled, "lln": lln, "uln": uln,
                  "sampled_on": sampled_on}
        with self.tracker.transaction(reason) as w:
            # Read with the lab form's row held (_ensure_form): a value of the same analyte
            # saved on another workstation meanwhile is corrected, not entered twice, and a
            # form completed meanwhile needs the reason.
            labs_form = self._ensure_form(w, visit, patient, "labs")
            locked = labs_form.state in ("complete", "not_done")
            existing = LabResult.get_or_none((LabResult.visit_id == _pk(visit)) & (
                LabResult.analyte.in_([an.key, an.units_key])))
            if existing is None:
                if locked and not (reason and reason.strip()):
                    raise ReasonRequired(
                        _("a reason is required to change data already completed"))
                existing = w.insert(LabResult, patient=_pk(patient), visit_id=_pk(visit),
                                    analyte=an.key, patient_uid=patient.uid, value=number,
                                    unit=spelled, lln=lln, uln=uln, sampled_on=sampled_on)
            else:
                w.update(existing, values, patient_uid=patient.uid, require_reason=locked)
            if labs_form.state == "not_started":
                w.update(labs_form, {"state": "in_progress"}, patient_uid=patient.uid)
        return next(r for r in self.labs(visit_uid) if r.uid == existing.uid)

    def delete_lab(self, lab_uid: str, *, reason: str | None = None) -> None:
        """Remove a visit's lab value (a reason is needed once the lab form is complete)."""
        row = LabResult.get_or_none(LabResult.uid == lab_uid)
        if row is None:
            raise ServiceError(_("no laboratory result {uid!r}").format(uid=lab_uid))
        patient = Patient.get_by_id(_fk(row, "patient"))
        with self.tracker.transaction(reason) as w:
            # The form's state with its row held (see _form): completed meanwhile, the
            # removal needs the reason.
            form = (None if row.visit_id is None
                    else self._form(Visit(id=row.visit_id), "labs", w))
            if form is not None and form.state in ("complete", "not_done") and not (
                    reason and reason.strip()):
                raise ReasonRequired(_("a reason is required to change data already "
                                       "completed"))
            w.delete(row, patient_uid=patient.uid)

    # ----- adverse events -----------------------------------------------------------------
    def adverse_events(self, patient_key: str) -> list[AdverseEventRow]:
        """The patient's adverse events, latest onset first."""
        patient = self._patient(patient_key)
        rows = list(AdverseEvent.select().where(AdverseEvent.patient == _pk(patient)).order_by(
            AdverseEvent.onset.desc(), _col(AdverseEvent).desc()))
        visit_ids = {_fk(r, "visit") for r in rows} - {None}
        visit_uids = {_pk(v): v.uid for v in Visit.select(_col(Visit), Visit.uid).where(
            _col(Visit).in_(list(visit_ids)))} if visit_ids else {}
        lab_ids = {_fk(r, "lab_result") for r in rows} - {None}
        lab_uids = {_pk(r): r.uid for r in LabResult.select(_col(LabResult), LabResult.uid).where(
            _col(LabResult).in_(list(lab_ids)))} if lab_ids else {}
        return [self._ae_row(r, visit_uids, lab_uids) for r in rows]

    @staticmethod
    def _ae_row(row: AdverseEvent, visit_uids: Mapping[int, str],
                lab_uids: Mapping[int, str]) -> AdverseEventRow:
        onset = _as_date(row.onset)
        assert onset is not None
        return AdverseEventRow(
            uid=row.uid, term=row.term, term_label=term_label(row.term), grade=row.grade,
            onset=onset, resolved_on=_as_date(row.resolved_on), serious=bool(row.serious),
            drug=row.drug, relation=row.relation, action=row.action, outcome=row.outcome,
            notes=row.notes, visit_uid=visit_uids.get(_fk(row, "visit") or 0),
            lab_result_uid=lab_uids.get(_fk(row, "lab_result") or 0))

    def check_adverse_event(self, data: AdverseEventInput, *, today: date,
                            patient: Patient | None = None) -> dict[str, str]:
        """Messages by field name for an adverse event the rules refuse (empty: fine)."""
        errors: dict[str, str] = {}
        term = (data.term or "").strip()
        if not term:
            errors["term"] = _("choose a CTCAE term or type one")
        if isinstance(data.grade, bool) or not isinstance(data.grade, int) or not (
                1 <= data.grade <= 5):
            errors["grade"] = _("the grade must be 1 to 5")
        if not isinstance(data.onset, date):
            errors["onset"] = _("enter the onset date")
        elif data.onset > today:
            errors["onset"] = _("the onset is after today")
        elif data.onset < EARLIEST:
            errors["onset"] = date_problem(data.onset, today=today) or ""
        if data.resolved_on is not None and isinstance(data.onset, date):
            if data.resolved_on < data.onset:
                errors["resolved_on"] = _("resolution cannot be before the onset")
            elif data.resolved_on > today:
                errors["resolved_on"] = _("the resolution is after today")
        if patient is not None and isinstance(data.onset, date) and "onset" not in errors:
            ctx = date_context(patient, today)
            for name, day in (("onset", data.onset), ("resolved_on", data.resolved_on)):
                problem = None if day is None else date_problem(
                    day, today=today, birth=ctx.birth, death=ctx.death)
                if problem:
                    errors.setdefault(name, problem)
        for name, allowed in (("drug", AE_DRUGS), ("relation", AE_RELATIONS),
                              ("action", AE_ACTIONS), ("outcome", AE_OUTCOMES)):
            value = getattr(data, name)
            if value is not None and value not in [k for k, _l in allowed]:
                errors[name] = _("unknown value {value!r}").format(value=value)
        if data.grade == 5 and data.outcome not in (None, "fatal"):
            errors["outcome"] = _("a grade 5 event is fatal")
        if data.outcome == "fatal" and data.grade != 5:
            errors["grade"] = _("a fatal event is grade 5")
        if data.resolved_on is not None and data.outcome in ("not_recovered", "recovering"):
            errors["outcome"] = _("an event with a resolution date has resolved")
        return errors

    def save_adverse_event(self, patient_key: str, data: AdverseEventInput, *, today: date,
                           uid: str | None = None,
                           reason: str | None = None) -> AdverseEventRow:
        """Record a new adverse event (``uid`` None) or correct one (a reason is needed
        when its visit's adverse-event form is already complete)."""
        patient = self._patient(patient_key)
        errors = self.check_adverse_event(data, today=today, patient=patient)
        if errors:
            raise FormInputError(errors, join_sentences(f"{k}: {v}" for k, v in errors.items()))
        visit_id: int | None = None
        if data.visit_uid:
            visit, owner = self._visit(data.visit_uid)
            if _pk(owner) != _pk(patient):
                raise ServiceError(_("the visit belongs to another patient"))
            visit_id = _pk(visit)
        lab_id: int | None = None
        if data.lab_result_uid:
            lab = LabResult.get_or_none(LabResult.uid == data.lab_result_uid)
            if lab is None or _fk(lab, "patient") != _pk(patient):
                raise ServiceError(_("no laboratory result {uid!r} for this patient").format(
                    uid=data.lab_result_uid))
            lab_id = _pk(lab)
        values: dict[str, Any] = {
            "term": data.term.strip(), "grade": data.grade, "onset": data.onset,
            "resolved_on": data.resolved_on, "serious": bool(data.serious),
            "drug": data.drug, "relation": data.relation, "action": data.action,
            "outcome": data.outcome, "notes": (data.notes or "").strip() or None,
            "visit": visit_id, "lab_result": lab_id,
        }
        with self.tracker.transaction(reason) as w:
            if uid is None:
                row = w.insert(AdverseEvent, patient=_pk(patient), patient_uid=patient.uid,
                               **values)
            else:
                found = AdverseEvent.get_or_none(AdverseEvent.uid == uid)
                if found is None or _fk(found, "patient") != _pk(patient):
                    raise ServiceError(_("no adverse event {uid!r}").format(uid=uid))
                row = found
                w.update(row, values, patient_uid=patient.uid,
                         require_reason=self._ae_locked(row, w))
        return next(r for r in self.adverse_events(patient.uid) if r.uid == row.uid)

    def _ae_locked(self, row: AdverseEvent, w: Writer) -> bool:
        """Whether the event's visit has its adverse-event form complete (a correction then
        needs a reason), read with the form's row held (see :meth:`_form`)."""
        visit_id = _fk(row, "visit")
        if visit_id is None:
            return False
        form = self._form(Visit(id=visit_id), "adverse_events", w)
        return form is not None and form.state == "complete"

    def delete_adverse_event(self, uid: str, reason: str) -> None:
        """Remove an adverse event recorded in error (``reason`` required; audited)."""
        if not (reason and reason.strip()):
            raise ReasonRequired(_("say why the adverse event is removed"))
        row = AdverseEvent.get_or_none(AdverseEvent.uid == uid)
        if row is None:
            raise ServiceError(_("no adverse event {uid!r}").format(uid=uid))
        patient = Patient.get_by_id(_fk(row, "patient"))
        with self.tracker.transaction(reason) as w:
            w.delete(row, patient_uid=patient.uid)


def state_label(state: str) -> str:
    """The translated label of a form state."""
    return _(STATE_LABELS.get(state, state))
