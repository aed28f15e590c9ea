"""A realistic synthetic data set for trainers, new users and benchmarks.

:func:`generate` fills the open database with patients across every loaded study: screened
over the years before ``today``, with screen failures and their reasons (evaluated by the
real eligibility rules, so the screening log is consistent), enrollments, randomizations
from the study's permuted-block list, groups derived from the data, and some ended
participations. Everything is written in one audited transaction with
:meth:`Writer.insert_many`, so 100,000 patients take a minute or so, not hours.

Deterministic: the same ``seed`` (and the same starting database and ``today``) gives the
same data, identities included (record uids are drawn from the seeded generator). On a
database that already holds data, the generators are also seeded with the size of its audit
trail, so running the demo twice with one seed adds new records instead of colliding with
the uids of the first run.

Other features add their own synthetic data after the patients exist: each module named in
:data:`ENRICHERS` has ``enrich(session, rng, today) -> None``.

The demo never touches real data: it refuses a database that holds any patient it did not
make itself (each run is recorded in ``demo_run`` with its site code, number range and
seed), and refuses a seed already used for the file (the same seed would make the same
record identities again). Everything of one run commits together or not at all.
"""

from __future__ import annotations

import importlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta

from gisttracker.domain import allocation as alloc
from gisttracker.domain import eligibility
from gisttracker.errors import InputError
from gisttracker.i18n import _, ngettext
from gisttracker.protocols import Study
from gisttracker.services.base import ServiceError
from gisttracker.services.concealment import Keyring
from gisttracker.services.patients import (
    SCREENING_COLUMNS,
    BulkLoad,
    LabEntry,
    ScreeningData,
    bulk_load,
    evaluate_screening,
)
from gisttracker.services.settings import SettingsService
from gisttracker.services.versions import protocol_version_id
from gisttracker.session import Session
from gisttracker.store.models import AuditLog
from gisttracker.store.models_exchange import DemoRun
from gisttracker.store.models_patients import Patient, Randomization

# Modules with ``enrich(session, rng, today)``, run in this order after the patients exist.
ENRICHERS: list[str] = ["gisttracker.demo.course", "gisttracker.demo.visits",
                        "gisttracker.demo.outcomes"]

# Share of the demo patients in each study (studies not listed get the default share).
STUDY_WEIGHTS = {"NCT03862768": 25, "NCT04933669": 25, "NCT06038552": 20,
                 "PREOP-DURATION": 15, "RECTAL-LE": 15}
YEARS_BACK = 6

SURNAMES = ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou",
            "Xu", "Sun", "Ma", "Zhu", "Hu", "Guo", "He", "Lin", "Luo", "Gao", "Zheng", "Liang")
GIVEN = ("Wei", "Fang", "Min", "Jing", "Li", "Qiang", "Lei", "Jun", "Yan", "Yong", "Jie",
         "Tao", "Ming", "Chao", "Xiu", "Hui", "Hong", "Ping", "Gang", "Ling", "Hua", "Bo")
WITHDRAWAL_REASONS = ("patient's decision", "moved to another city", "adverse event",
                      "investigator's decision")
SITES = ("stomach", "stomach", "stomach", "small_intestine", "small_intestine", "duodenum",
         "colon", "rectum", "oesophagus", "other")
GOOD_MUTATIONS = ("KIT_11", "KIT_11", "KIT_11", "KIT_11", "KIT_13", "KIT_17", "PDGFRA_18",
                  "PDGFRA_12")

# name: (value, unit, lln, uln) ranges for normal laboratory values at screening.
LAB_NORMALS = {
    "anc": ((2.0, 7.0), "×10⁹/L", 1.8, 6.3),
    "platelets": ((130.0, 350.0), "×10⁹/L", 125.0, 350.0),
    "haemoglobin": ((105.0, 160.0), "g/L", 115.0, 150.0),
    "alt": ((8.0, 45.0), "U/L", 7.0, 40.0),
    "ast": ((10.0, 42.0), "U/L", 13.0, 35.0),
    "bilirubin": ((4.0, 20.0), "µmol/L", 0.0, 21.0),
    "creatinine": ((45.0, 98.0), "µmol/L", 45.0, 104.0),
}


class DemoRefused(ServiceError):
    """The demo will not write into this database (real patients, a seed used before)."""


def check_target(session: Session, seed: int) -> None:
    """Refuse a database holding patients the demo did not make, or a seed used before."""
    used = DemoRun.get_or_none(DemoRun.seed == str(seed))
    if used is not None:
        raise DemoRefused(_(
            "seed {seed} was already used for this database on {day} ({n} patients); the "
            "same seed would make the same records again. Use another --seed."
        ).format(seed=seed, day=used.made_on, n=used.patients))
    runs = [(r.site_code, r.first_seq, r.last_seq) for r in DemoRun.select()]
    query = Patient.select(Patient.study_id)
    for site, first, last in runs:
        query = query.where(~((Patient.site_code == site) & Patient.seq.between(first, last)))
    others = [p.study_id for p in query.order_by(Patient.study_id).limit(3)]
    if others:
        total = query.count()
        raise DemoRefused(ngettext(
            "this database holds {n} patient the demo did not create ({examples}); the demo "
            "only writes into a new file or one it filled itself, never into real data",
            "this database holds {n} patients the demo did not create ({examples}…); the "
            "demo only writes into a new file or one it filled itself, never into real data",
            total).format(n=total, examples=", ".join(others)))


@dataclass
class DemoSummary:
    patients: int = 0
    screenings: int = 0
    screen_failed: int = 0
    enrolled: int = 0
    randomized: int = 0
    ended: int = 0
    visits: int = 0
    by_study: dict[str, int] = field(default_factory=dict)


@dataclass
class _Draft:
    """One synthetic patient before it is written."""

    study: Study
    uid: str
    sex: str
    dob: date
    screenings: list[tuple[date, ScreeningData, eligibility.Screening]]
    status: str = "screened"
    values: dict[str, Any] = field(default_factory=dict)
    anchors: dict[str, date] = field(default_factory=dict)
    randomization: dict[str, Any] | None = None


Fault = Callable[[random.Random, dict[str, Any], dict[str, LabEntry]], None]


def _set(**changes: Any) -> Fault:
    def apply(_rng: random.Random, values: dict[str, Any], _labs: dict[str, LabEntry]) -> None:
        values.update(changes)
    return apply


def _lab(key: str, value: float) -> Fault:
    def apply(_rng: random.Random, _values: dict[str, Any], labs: dict[str, LabEntry]) -> None:
        old = labs[key]
        labs[key] = LabEntry(value, old.unit, old.lln, old.uln, old.sampled_on)
    return apply


def _old(_rng: random.Random, values: dict[str, Any], _labs: dict[str, LabEntry]) -> None:
    values["__age"] = 81 + _rng.randrange(8)


FAULTS: dict[str, list[Fault]] = {
    "NCT03862768": [_set(ecog=2), _set(asa=3), _set(progressive_organs=2),
                    _set(progressive_lesions=5), _old, _set(other_malignancy_5y=True)],
    "NCT04933669": [_set(tumour_size_cm=4.0, primary_site="stomach"), _set(mutation="KIT_9"),
                    _set(mutation="PDGFRA_18_D842V"), _set(mutation="WILD_TYPE"),
                    _set(prior_tki=True), _set(distant_metastases=True), _set(ecog=2),
                    _lab("alt", 130.0), _lab("anc", 1.2), _lab("platelets", 60.0),
                    _lab("haemoglobin", 85.0), _lab("creatinine", 130.0), _old],
    "NCT06038552": [_set(ecog=2), _set(prior_imatinib=False), _set(liver_metastases=False),
                    _set(other_malignancy_5y=True)],
    "PREOP-DURATION": [_set(prior_imatinib=False), _set(histology_confirmed=False)],
    "RECTAL-LE": [_set(mutation="PDGFRA_18"), _set(distant_metastases=True), _set(ecog=2),
                  _set(primary_site="colon")],
}


def _uid(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def _good_values(study: Study, rng: random.Random, on: date, sex: str) -> dict[str, Any]:
    values: dict[str, Any] = {
        "ecog": rng.choice((0, 0, 1)), "asa": rng.choice((1, 2, 2)),
        "histology_confirmed": True, "cd117_positive": rng.random() < 0.95,
        "dog1_positive": True, "other_malignancy_5y": False,
        "pregnant_or_lactating": False if sex == "female" else None, "hiv_positive": False,
        "consent_date": on - timedelta(days=rng.randrange(6)),
        "primary_site": rng.choice(SITES), "mutation": rng.choice(GOOD_MUTATIONS),
        "tumour_size_cm": round(rng.uniform(3.0, 15.0), 1),
        "mitotic_count": float(rng.randrange(1, 20)), "mitotic_unit": "5mm2",
        "ruptured": rng.random() < 0.05,
    }
    if sex == "male":
        values["pregnant_or_lactating"] = False
    key = study.key
    if key == "NCT03862768":
        values.update(prior_imatinib=True, progressive_organs=1,
                      progressive_lesions=rng.randint(1, 3), distant_metastases=True,
                      liver_metastases=rng.random() < 0.7, metastasis_sites="liver",
                      prior_tki=True)
    elif key == "NCT04933669":
        stomach = rng.random() < 0.55
        values.update(primary_site="stomach" if stomach else rng.choice(SITES[3:]),
                      tumour_size_cm=round(rng.uniform(10.5, 20.0) if stomach
                                           else rng.uniform(5.5, 15.0), 1),
                      prior_tki=False, prior_imatinib=False, distant_metastases=False)
    elif key == "NCT06038552":
        values.update(liver_metastases=True, distant_metastases=True, prior_imatinib=True,
                      metastasis_sites="liver")
    elif key == "PREOP-DURATION":
        values.update(prior_imatinib=True, distant_metastases=False)
    elif key == "RECTAL-LE":
        values.update(primary_site="rectum", mutation=rng.choice(("KIT_11", "KIT_11", "KIT_9",
                                                                   "KIT_13")),
                      distant_metastases=False, tumour_size_cm=round(rng.uniform(2, 8), 1))
    return values


def _labs(study: Study, rng: random.Random, on: date) -> dict[str, LabEntry]:
    if not any(c.rule and c.rule.fields() & set(LAB_NORMALS) for c in study.criteria):
        return {}
    out = {}
    for key, ((low, high), unit, lln, uln) in LAB_NORMALS.items():
        value = round(rng.uniform(low, high), 1)
        out[key] = LabEntry(value, unit, lln, uln, on)
    return out


def _screen(study: Study, rng: random.Random, on: date, sex: str, dob: date,
            fail: bool, incomplete: bool,
            ) -> tuple[tuple[date, ScreeningData, eligibility.Screening], date]:
    """One screening episode and the date of birth it used (a fault may make them old)."""
    values = _good_values(study, rng, on, sex)
    labs = _labs(study, rng, on)
    judgements: dict[str, bool | None] = {}
    faults = FAULTS.get(study.key, [])
    if fail and faults:
        rng.choice(faults)(rng, values, labs)
    age_override = values.pop("__age", None)
    if age_override is not None:
        dob = date(on.year - age_override, dob.month, min(dob.day, 28))
    for c in study.criteria:
        if c.rule is None:
            judgements[c.id] = c.kind == "inclusion"  # the usual: nothing against
    if fail and rng.random() < 0.1:
        # Sometimes the investigator's judgement is what fails (serious comorbidity…).
        judged = [c for c in study.criteria if c.rule is None]
        if judged:
            c = rng.choice(judged)
            judgements[c.id] = c.kind == "exclusion"
    if incomplete:
        values["consent_date"] = None
        values["ecog"] = None
    data = ScreeningData(values, labs, judgements)
    result = evaluate_screening(study, data, sex=sex, date_of_birth=dob, screened_on=on)
    return (on, data, result), dob


def _reasons(result: eligibility.Screening) -> str:
    # As the screening service stores them: text and messages, shown in the reader's language.
    return json.dumps(eligibility.reason_entries(result), ensure_ascii=False)


def generate(session: Session, *, patients: int, seed: int, today: date,
             plan_visits: bool = True, enrich: bool = True) -> DemoSummary:
    """Add ``patients`` synthetic patients to the open database; returns what was made.

    ``plan_visits`` plans the enrolled patients' visits (through the visits service) and
    ``enrich`` runs :data:`ENRICHERS`; a benchmark of the patient list may leave both out.
    """
    if patients < 0:
        raise InputError(_("the number of patients must be 0 or more"))
    check_target(session, seed)
    with session.tracker.transaction(_("demo data")) as w:
        # Its study numbers and randomization positions are read before it writes: one
        # writer at a time from here (a server; a SQLite file is so already).
        w.serialize()
        summary = _generate(session, patients=patients, seed=seed, today=today,
                            plan_visits=plan_visits, enrich=enrich)
        site = SettingsService(session.tracker).get("site_code")
        last = int(Patient.select(Patient.seq).where(Patient.site_code == site).order_by(
            Patient.seq.desc()).scalar() or 0)
        w.insert(DemoRun, seed=str(seed), site_code=site, first_seq=last - patients + 1,
                 last_seq=last, patients=patients, made_on=today.isoformat())
    return summary


def _generate(session: Session, *, patients: int, seed: int, today: date,
              plan_visits: bool, enrich: bool) -> DemoSummary:
    # The audit trail only grows: its size tells this database's state from any earlier one
    # (a second run with another seed never repeats the first one's record identities).
    salt = AuditLog.select().count()
    rng = random.Random(seed if not salt else f"{seed}:{salt}")
    studies = sorted(session.studies.values(), key=lambda s: s.key)
    if not studies:
        raise InputError(_("no study is loaded"))
    weights = [STUDY_WEIGHTS.get(s.key, 10) for s in studies]
    site = SettingsService(session.tracker).get("site_code")
    last_seq = Patient.select(Patient.seq).where(Patient.site_code == site).order_by(
        Patient.seq.desc()).scalar() or 0
    summary = DemoSummary()
    drafts = [_draft(rng, rng.choices(studies, weights)[0], today) for _i in range(patients)]
    keyring = Keyring(session.tracker)
    new_seeds = _randomize(drafts, site, rng, keyring)
    sealed = {key: keyring.sealed_row(key, seed) for key, seed in new_seeds.items()}
    load = _load(drafts, site, int(last_seq), rng, session.tracker.user, sealed, today)
    summary.visits = bulk_load(session, load, reason=_("demo data"), plan_visits=plan_visits)
    summary.patients = len(drafts)
    summary.screenings = len(load.screenings)
    summary.screen_failed = sum(d.status == "screen_failed" for d in drafts)
    summary.enrolled = sum(d.values.get("enrolled_on") is not None for d in drafts)
    summary.randomized = len(load.randomizations)
    summary.ended = sum(d.values.get("ended_on") is not None for d in drafts)
    for d in drafts:
        summary.by_study[d.study.key] = summary.by_study.get(d.study.key, 0) + 1
    for name in ENRICHERS if enrich else []:
        importlib.import_module(name).enrich(
            session, random.Random(f"{seed}:{name}" if not salt else f"{seed}:{name}:{salt}"),
            today)
    return summary


def _draft(rng: random.Random, study: Study, today: date) -> _Draft:
    sex = rng.choice(("male", "female"))
    first_on = today - timedelta(days=rng.randrange(14, 365 * YEARS_BACK))
    age = int(rng.triangular(25, 79, 60))
    dob = first_on - timedelta(days=365 * age + rng.randrange(365))
    recent = (today - first_on).days < 60
    fail = rng.random() < 0.22
    incomplete = recent and rng.random() < 0.4
    first, dob = _screen(study, rng, first_on, sex, dob, fail, incomplete)
    draft = _Draft(study, _uid(rng), sex, dob, [first])
    outcome = first[2].outcome
    if outcome == eligibility.INELIGIBLE and rng.random() < 0.06 and (
            today - first_on).days > 120:
        # Re-screened months later; the failure stays in the history.
        again = first_on + timedelta(days=rng.randrange(60, 120))
        second, _dob = _screen(study, rng, again, sex, dob, False, False)
        draft.screenings.append(second)
        outcome = second[2].outcome
    if outcome == eligibility.INELIGIBLE:
        draft.status = "screen_failed"
    if outcome == eligibility.ELIGIBLE and rng.random() < 0.93:
        last_on = draft.screenings[-1][0]
        enrolled_on = min(today, last_on + timedelta(days=rng.randrange(0, 15)))
        draft.status = "enrolled"
        draft.values["enrolled_on"] = enrolled_on
        _allocate(draft, rng, enrolled_on)
        _maybe_end(draft, rng, enrolled_on, today)
    return draft


def _allocate(draft: _Draft, rng: random.Random, enrolled_on: date) -> None:
    study = draft.study
    method = study.allocation.method
    if method == "single_arm":
        draft.values["arm_code"] = study.arms[0].code
    elif method == "treatment_received":
        procs = rng.choice(((), (), ("hepatic_resection",), ("rfa",), ("tace",),
                            ("hepatic_resection", "rfa")))
        draft.values["arm_code"] = alloc.group_from_treatment(study.allocation, procs)
        draft.values["treatment_procedures"] = json.dumps(sorted(procs))
    elif method == "derived_duration":
        months = rng.choice((3, 4, 5, 6, 6, 7, 8, 9, 10, 11, 12, 12, 14, 18))
        last = enrolled_on - timedelta(days=rng.randrange(200, 900))
        start = last - relativedelta(months=months) + timedelta(days=rng.choice((0, 0, -3, 5)))
        span = study.allocation.duration
        assert span is not None  # the loader requires it for derived durations
        draft.anchors = {span.start: start, span.end: last}
        draft.values["arm_code"] = alloc.duration_group(study.allocation, start, last)
    # randomized: arms are assigned in _write, in enrollment order, from the list


def _maybe_end(draft: _Draft, rng: random.Random, enrolled_on: date, today: date) -> None:
    days = (today - enrolled_on).days
    if days < 90:
        return
    roll = rng.random()
    end = enrolled_on + timedelta(days=rng.randrange(30, days))
    if roll < 0.05:
        draft.status = "withdrawn"
        draft.values["end_reason"] = rng.choice(WITHDRAWAL_REASONS)
    elif roll < 0.08:
        draft.status = "lost_to_follow_up"
    elif roll < 0.14:
        draft.status = "died"
    elif roll < 0.24 and days > 3 * 365:
        draft.status = "completed"
    else:
        return
    draft.values["ended_on"] = end


def _load(drafts: list[_Draft], site: str, last_seq: int, rng: random.Random, user: str,
          seeds: dict[str, dict[str, str]], today: date) -> BulkLoad:
    load = BulkLoad()
    # Once per study, not per patient (on a server each look-up is a round trip).
    studies = {d.study.key: d.study for d in drafts}
    versions = {key: protocol_version_id(study) for key, study in studies.items()}
    for i, d in enumerate(drafts, start=1):
        seq = last_seq + i
        load.patients.append({
            "uid": d.uid, "study_key": d.study.key, "study_id": f"{site}-{seq:04d}",
            "site_code": site, "seq": seq, "sex": d.sex, "status": d.status,
            "created_on": d.screenings[0][0],
            "enrolled_by": user if d.values.get("enrolled_on") else None,
            # Enrolled under the protocol version in force, like a patient enrolled by hand.
            "protocol_version_id": versions[d.study.key] if d.values.get(
                "enrolled_on") else None, **d.values})
        load.identities.append({
            "uid": _uid(rng), "patient_uid": d.uid,
            "record_number": f"MRN{rng.randrange(10**7, 10**8)}",
            "name": f"{rng.choice(SURNAMES)} {rng.choice(GIVEN)}", "date_of_birth": d.dob})
        for n, (on, data, result) in enumerate(d.screenings):
            suid = _uid(rng)
            closed = d.status == "screen_failed" or n < len(d.screenings) - 1
            load.screenings.append({
                "uid": suid, "patient_uid": d.uid, "screened_on": on, "screened_by": user,
                **{k: data.values.get(k) for k in SCREENING_COLUMNS},
                "outcome": result.outcome, "reasons": _reasons(result), "closed": closed})
            for key, lab in data.labs.items():
                load.labs.append({
                    "uid": _uid(rng), "patient_uid": d.uid, "screening_uid": suid,
                    "analyte": key, "value": lab.value, "unit": lab.unit, "lln": lab.lln,
                    "uln": lab.uln, "sampled_on": lab.sampled_on})
            for cid, tick in data.judgements.items():
                if tick is not None:
                    load.judgements.append({
                        "uid": _uid(rng), "patient_uid": d.uid, "screening_uid": suid,
                        "criterion_id": cid, "met": tick, "judged_by": user,
                        "judged_at": f"{on.isoformat()}T10:00:00+00:00"})
        for key, day in d.anchors.items():
            load.anchors.append({"uid": _uid(rng), "patient_uid": d.uid, "anchor_key": key,
                                 "date": day})
        if d.randomization is not None:
            on_text = d.values["enrolled_on"].isoformat()
            load.randomizations.append({
                "uid": _uid(rng), "patient_uid": d.uid, "study_key": d.study.key,
                "randomized_at": f"{on_text}T09:00:00+00:00", "randomized_by": user,
                **d.randomization})
    # Seeds go in sealed (services.concealment): the clear seed never reaches the file.
    load.seeds = [{"uid": _uid(rng), **sealed,
                   "created_at": f"{today.isoformat()}T00:00:00+00:00", "created_by": user}
                  for sealed in seeds.values()]
    return load


def _randomize(drafts: list[_Draft], site: str, rng: random.Random,
               keyring: Keyring) -> dict[str, str]:
    """Assign the arms of randomized studies in enrollment order, position by position.

    Returns the seeds to record for studies that had none (sealed by the caller).
    """
    new_seeds: dict[str, str] = {}
    for study in {d.study.key: d.study for d in drafts}.values():
        if study.allocation.method != "randomized":
            continue
        chosen = sorted((d for d in drafts if d.study.key == study.key
                         and d.values.get("enrolled_on") is not None),
                        key=lambda d: (d.values["enrolled_on"], d.uid))
        if not chosen:
            continue
        existing = keyring.seed(study.key)
        if existing is not None:
            seed = existing
        else:
            seed = new_seeds[study.key] = _uid(rng)
        arms = [a.code for a in study.arms]
        by_stratum: dict[str, list[_Draft]] = {}
        for d in chosen:
            stratum = alloc.stratum_key(study.allocation.strata, {
                "site": site, "progressive_organ": d.screenings[-1][1].values.get(
                    "progressive_organs")})
            by_stratum.setdefault(stratum, []).append(d)
        for stratum, members in by_stratum.items():
            start = Randomization.select().where(
                (Randomization.study_key == study.key)
                & (Randomization.stratum == stratum)).count()
            codes = alloc.generate_list(arms, study.allocation.ratio,
                                        study.allocation.block_sizes,
                                        seed=alloc.stratum_seed(seed, stratum),
                                        length=start + len(members))
            for k, d in enumerate(members):
                arm = codes[start + k]
                d.values["arm_code"] = arm
                options = study.arm(arm).options
                if options and rng.random() < 0.9:
                    d.values["arm_option"] = rng.choice(options).code
                d.randomization = {"stratum": stratum, "position": start + k,
                                   "arm_code": arm}
    numbered = sorted((d for d in drafts if d.randomization is not None),
                      key=lambda d: (d.values["enrolled_on"], d.uid))
    first = Randomization.select().count() + 1
    for n, d in enumerate(numbered):
        number = f"R-{first + n:04d}"
        d.values["randomization_number"] = number
        assert d.randomization is not None
        d.randomization["number"] = number
    return new_seeds


# Visit forms are filled last, once other enrichers have marked visits done.
ENRICHERS.append("gisttracker.demo.forms")
