"""Study outcomes: every declared endpoint derived from the recorded data and analysed.

The steps, each its own module:

1. :mod:`.gather` reads every enrolled patient's facts of a study with a few set-based
   queries (:class:`.facts.PatientFacts`);
2. :mod:`.derive` derives, for each patient, each endpoint's value as of the data cut-off
   (origin, time, event, the fact that decided it; a proportion's outcome; scores) and the
   covariates the protocol names — pure functions of the protocol and the facts;
3. :mod:`.analyse` analyses each endpoint with :mod:`gisttracker.analysis` (Kaplan–Meier,
   log-rank, Cox, cumulative incidence, proportions, scores over time), keeping for every
   number the patients behind it.

:func:`compute` runs the three for one study; :func:`add_models` adds the Cox models
(slower: statsmodels' fit, a second step the window runs after showing the rest).
:mod:`.dataset` writes the analysis data set, :mod:`.text` says it all in words,
:mod:`.serialize` turns it into JSON. Nothing here imports Qt.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING

from gisttracker.i18n import _, join_list
from gisttracker.services.base import ServiceError

if TYPE_CHECKING:
    from gisttracker.outcomes.analyse import Result
    from gisttracker.outcomes.derive import PatientOutcome
    from gisttracker.protocols import Study
    from gisttracker.session import Session

__all__ = ["CONF_TYPES", "OutcomeError", "StudyOutcomes", "add_models", "compute",
           "count_model_fits"]

#: Confidence interval types of the survival curves (R's ``conf.type``).
CONF_TYPES = ("log", "log-log", "plain")
#: Progress callback: (steps done, steps in all).
Progress = Callable[[int, int], None]


class OutcomeError(ServiceError):
    """Outcomes cannot be computed as asked (unknown study or endpoint, a cut-off before the
    first enrollment…); the message says why, for the user."""


@dataclass(frozen=True)
class StudyOutcomes:
    """A study's derived endpoints and their analyses as of ``as_of``.

    ``patients`` in study-identifier order; ``results`` by endpoint key, in protocol order
    (endpoints declared in words only are left out); ``models`` True once the Cox models
    are in.
    """

    study: Study
    as_of: date
    conf_type: str
    landmarks: tuple[float, ...]
    patients: tuple[PatientOutcome, ...]
    results: dict[str, Result]
    first_enrollment: date
    models: bool = False

    def patient(self, uid: str) -> PatientOutcome:
        """The derived outcome of patient ``uid``."""
        return self._by_uid[uid]

    @property
    def _by_uid(self) -> dict[str, PatientOutcome]:
        cached: dict[str, PatientOutcome] | None = self.__dict__.get("_uid_cache")
        if cached is None:
            cached = {p.uid: p for p in self.patients}
            object.__setattr__(self, "_uid_cache", cached)
        return cached

    @property
    def groups(self) -> tuple[str, ...]:
        """The study's arms or groups with patients, in protocol order."""
        present = {p.group for p in self.patients}
        return tuple(a.code for a in self.study.arms if a.code in present)


def _study(session: Session, key: str) -> Study:
    try:
        return session.study(key)
    except KeyError as exc:
        if key in session.blocked:
            raise OutcomeError(str(exc.args[0])) from None
        raise OutcomeError(_("unknown study {key!r} (known: {known})").format(
            key=key, known=join_list(sorted(session.studies)))) from None


def check_request(study: Study, endpoints: Sequence[str] | None, conf_type: str,
                  landmarks: Sequence[float]) -> None:
    """Refuse an unknown endpoint, interval type or landmark with a clear message."""
    known = [e.key for e in study.endpoints if e.type is not None]
    for key in endpoints or ():
        if key not in known:
            raise OutcomeError(_("study {study} has no computed endpoint {key!r} (it has: "
                                 "{known})").format(study=study.key, key=key,
                                                    known=join_list(known)))
    if conf_type not in CONF_TYPES:
        raise OutcomeError(_("unknown confidence interval type {kind!r}; use {known}").format(
            kind=conf_type, known=join_list(CONF_TYPES)))
    for value in landmarks:
        if not (0 < value <= 600):
            raise OutcomeError(_("a landmark is a number of months from 0 to 600, not "
                                 "{value:g}").format(value=value))


@contextmanager
def _bulk() -> Iterator[None]:
    """No cyclic garbage collection while a study's facts and results are built: they are
    hundreds of thousands of small objects without cycles, and the collector scanning them
    again and again took half the time of a 10,000-patient study. It runs as usual after.

    The collector counts the objects made while it is off, so the first allocation after
    switching it back on would scan every one of them at once (a 10,000-patient study's
    335,000 objects: 110–180 ms of CPU). Freezing and at once unfreezing moves every
    tracked object to the oldest generation without scanning it (the standard library's
    ``gc.freeze`` recipe) and resets that count: the results are examined only at the next
    full collection, as any long-lived data. Nothing is freed or kept differently."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.freeze()
            gc.unfreeze()
            gc.enable()


def compute(session: Session, study_key: str, *, as_of: date, conf_type: str = "log",
            landmarks: Sequence[float] = (), endpoints: Sequence[str] | None = None,
            progress: Progress | None = None) -> StudyOutcomes:
    """Derive and analyse every computable endpoint of the study (or only ``endpoints``)
    as of the cut-off ``as_of``; ``landmarks`` (months) are read besides the protocol's.

    Raises :class:`OutcomeError` for an unknown study, endpoint or interval type, a study
    nobody is enrolled in yet, or a cut-off before the first enrollment.
    """
    with _bulk():
        return _compute(session, study_key, as_of=as_of, conf_type=conf_type,
                        landmarks=landmarks, endpoints=endpoints, progress=progress)


def _compute(session: Session, study_key: str, *, as_of: date, conf_type: str,
             landmarks: Sequence[float], endpoints: Sequence[str] | None,
             progress: Progress | None) -> StudyOutcomes:
    from gisttracker.outcomes.analyse import analyse_endpoint
    from gisttracker.outcomes.derive import derive_patient
    from gisttracker.outcomes.gather import gather
    from gisttracker.store.models_patients import Patient

    study = _study(session, study_key)
    check_request(study, endpoints, conf_type, landmarks)
    first = (Patient.select(Patient.enrolled_on)
             .where((Patient.study_key == study.key) & Patient.enrolled_on.is_null(False))
             .order_by(Patient.enrolled_on).limit(1).scalar())
    if first is None:
        raise OutcomeError(_("nobody is enrolled in {study} yet, so it has no outcomes").format(
            study=study.key))
    first_day = first if isinstance(first, date) else date.fromisoformat(str(first)[:10])
    if as_of < first_day:
        raise OutcomeError(_("the data cut-off {as_of} is before the first enrollment in "
                             "{study} ({first}): there is nothing to analyse").format(
            as_of=as_of.isoformat(), study=study.key, first=first_day.isoformat()))
    chosen = [e for e in study.endpoints if e.type is not None
              and (endpoints is None or e.key in endpoints)]
    total = 2 + len(chosen)
    if progress:
        progress(0, total)
    facts = gather(session, study, as_of=as_of)
    if progress:
        progress(1, total)
    patients = tuple(derive_patient(study, f, as_of=as_of) for f in facts)
    if progress:
        progress(2, total)
    results: dict[str, Result] = {}
    for i, endpoint in enumerate(chosen, start=3):
        result = analyse_endpoint(study, endpoint, patients, conf_type=conf_type,
                                  landmarks=landmarks)
        if result is not None:
            results[endpoint.key] = result
        if progress:
            progress(i, total)
    return StudyOutcomes(study, as_of, conf_type, tuple(sorted(set(landmarks))), patients,
                         results, first_day)


def count_model_fits(outcomes: StudyOutcomes) -> int:
    """How many Cox models :func:`add_models` will fit (for a progress bar)."""
    from gisttracker.outcomes.analyse import TimeToEventResult, model_terms

    terms = model_terms(outcomes.study, outcomes.groups)
    per = len(terms) + (1 if len(terms) > 1 else 0)
    return per * sum(isinstance(r, TimeToEventResult) for r in outcomes.results.values())


def add_models(outcomes: StudyOutcomes, progress: Progress | None = None) -> StudyOutcomes:
    """``outcomes`` with the Cox models of every time-to-event endpoint fitted."""
    from gisttracker.outcomes.analyse import TimeToEventResult, fit_models

    total = count_model_fits(outcomes)
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total)

    results = dict(outcomes.results)
    with _bulk():
        for key, result in results.items():
            if isinstance(result, TimeToEventResult):
                results[key] = fit_models(outcomes.study, result, outcomes.patients, step)
    return replace(outcomes, results=results, models=True)
