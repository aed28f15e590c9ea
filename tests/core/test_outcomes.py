"""Study outcomes on a demo site: the analyses equal the engine called directly on the derived
values, gathering is a fixed number of queries, bad requests are clear messages, and the
command line, the JSON, the analysis data set (re-read: every figure reproducible from it)
and the PDF say the same numbers."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
from playhouse.test_utils import count_queries

from gisttracker.analysis import proportions, repeated, survival
from gisttracker.cli import main
from gisttracker.demo import generate
from gisttracker.outcomes import OutcomeError, add_models, compute
from gisttracker.outcomes.analyse import (
    ProportionResult,
    RepeatedResult,
    TimeToEventResult,
)
from gisttracker.outcomes.curves import curve_of
from gisttracker.outcomes.derive import Binary, Repeated, TimeToEvent
from gisttracker.outcomes.gather import gather
from gisttracker.outcomes.listing import patient_list
from gisttracker.reports import ReportRequest, build
from gisttracker.session import Session, open_session
from gisttracker.store.models_course import CourseEvent
from gisttracker.store.models_patients import Patient
from tests.core.reports_fixtures import assert_no_identifiers, pdf_text
from tests.helpers import new_site

# The demo site is on the engine under test (a server database on the server run).
pytestmark = pytest.mark.engines

TODAY = date(2026, 11, 30)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    """A demo site of 400 patients (seed 3), opened once for the module."""
    with new_site(tmp_path_factory.mktemp("outcomes") / "site.db") as path:
        s = open_session(path, user="nurse",
                         clock=lambda: datetime(2026, 11, 30, 9, tzinfo=UTC))
        generate(s, patients=400, seed=3, today=TODAY)
        yield s
        s.close()


def arrays(outcomes: object, key: str, group: str | None = None
           ) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    months, events, groups = [], [], []
    for p in outcomes.patients:  # type: ignore[attr-defined]
        v = p.endpoints[key]
        if isinstance(v, TimeToEvent) and not v.excluded and (group is None or p.group == group):
            months.append(v.months)
            events.append(float(v.status == 1))
            groups.append(p.group)
    return np.array(months), np.array(events), groups


# --- the analyses are the engine's ------------------------------------------------------


def test_survival_tables_equal_the_engine_on_the_derived_times(site: Session) -> None:
    o = add_models(compute(site, "PREOP-DURATION", as_of=TODAY))
    result = o.results["rfs_5y"]
    assert isinstance(result, TimeToEventResult)
    months, events, groups = arrays(o, "rfs_5y")
    assert result.overall.n == len(months) and result.overall.events == int(events.sum())
    km = survival.kaplan_meier(months, events)
    assert result.overall.median == km.median
    for point in result.overall.landmarks:
        assert (point.estimate, point.lower, point.upper) == km.at(point.months)
    for summary in result.groups:
        m, e, _g = arrays(o, "rfs_5y", summary.group)
        km_g = survival.kaplan_meier(m, e)
        assert (summary.n, summary.events, summary.median) == (len(m), int(e.sum()),
                                                               km_g.median)
        assert summary.landmarks[-1].estimate == km_g.at(summary.landmarks[-1].months)[0]
    levels = [s.group for s in result.groups]
    test = survival.log_rank(months, events, [str(g) for g in groups], levels=levels)
    assert result.log_rank is not None
    assert result.log_rank.chi2 == pytest.approx(test.chi2, abs=1e-12)
    assert result.log_rank.p == pytest.approx(test.p, abs=1e-12)
    # The group's Cox model, short-term group as the reference (the protocol's choice).
    (group_model, *_rest) = result.univariate
    assert group_model.terms == ("group",) and group_model.reference == {"group": "SHORT"}
    if not group_model.note:
        direct = survival.cox(months, events, {"g": [str(g) for g in groups]},
                              reference={"g": "SHORT"})
        mid = next(r for r in group_model.rows if r.level == "MID")
        assert mid.hr == pytest.approx(direct.terms["gMID"].hr, rel=1e-9)
        assert mid.p == pytest.approx(direct.terms["gMID"].p, rel=1e-9)
    assert result.multivariable is not None
    assert result.multivariable.terms == ("group", "gastric", "kit_exon11",
                                          "imaging_response", "postop_imatinib_24m")


def test_competing_risks_rates_and_scores_equal_the_engine(site: Session) -> None:
    o = compute(site, "RECTAL-LE", as_of=TODAY)
    lr = o.results["local_recurrence"]
    assert isinstance(lr, TimeToEventResult) and lr.competing
    times, causes = [], []
    for p in o.patients:
        v = p.endpoints["local_recurrence"]
        if isinstance(v, TimeToEvent) and not v.excluded:
            times.append(v.months)
            causes.append(v.status)
    if 1 in causes:
        cif = survival.cumulative_incidence(times, causes)
        for point in lr.overall.incidence:
            assert point.estimate == cif.causes[1].at(point.months)[0]
        # The drawn incidence curve has its confidence band (it starts at the first event:
        # before it the incidence is 0 with no interval), whose top is the engine's upper
        # limits.
        curve = curve_of(lr.overall, incidence=True)
        assert curve is not None and curve.band
        upper = cif.causes[1].upper
        top = {round(v, 12) for _t, v in curve.band[:len(curve.band) // 2]}
        assert {round(float(u), 12) for u in upper if np.isfinite(u)} <= top
    op = o.results["organ_preservation"]
    assert isinstance(op, ProportionResult)
    outcomes = [v.outcome for p in o.patients
                if isinstance(v := p.endpoints["organ_preservation"], Binary)
                and not v.excluded and v.outcome is not None]
    exact = proportions.proportion(sum(outcomes), len(outcomes))
    assert (op.overall.successes, op.overall.total) == (sum(outcomes), len(outcomes))
    assert (op.overall.lower, op.overall.upper) == (exact.lower, exact.upper)
    qol = o.results["qol"]
    assert isinstance(qol, RepeatedResult)
    records = []
    for p in o.patients:
        v = p.endpoints["qol"]
        assert isinstance(v, Repeated)
        for visit, sets in v.by_visit.items():
            for s in sets:
                if s.kind == "qlq_c30" and isinstance(s.scores.get("QL2"), float):
                    records.append((p.uid, visit, s.scores["QL2"]))
    visits = list(qol.endpoint.visits)
    direct = {s.timepoint: s for s in repeated.summarise_scores(records, visits)}
    change = {c.timepoint: c for c in repeated.change_from_baseline(records, visits)}
    rows = [r for r in qol.scales if r.scale == "QL2"]
    assert [r.visit for r in rows] == visits
    for row in rows:
        assert (row.n, row.mean, row.sd) == (direct[row.visit].n, direct[row.visit].mean,
                                             direct[row.visit].sd)
        if row.visit in change:
            assert row.change_mean == change[row.visit].mean
    assert sum(r.n for r in rows) > 0


def test_the_numbers_open_their_patients(site: Session) -> None:
    o = compute(site, "NCT03862768", as_of=TODAY)
    os_ = o.results["os"]
    assert isinstance(os_, TimeToEventResult)
    arm_a = next(s for s in os_.groups if s.group == "A")
    listing = patient_list(o, "os", arm_a.event_patients)
    deaths = {e.patient.study_id for e in CourseEvent.select(CourseEvent, Patient).join(Patient)
              .where((CourseEvent.kind == "death") & (Patient.study_key == "NCT03862768")
                     & (Patient.arm_code == "A"))}
    listed = {line.study_id for line in listing.lines}
    assert listed <= deaths and len(listed) == arm_a.events
    for line in listing.lines:
        assert line.fact is not None and line.fact.kind == "course_event"
        assert "death on" in line.cells[-1]


# --- set-based gathering and clear refusals -----------------------------------------------


def test_gathering_is_a_fixed_number_of_queries(site: Session) -> None:
    study = site.study("RECTAL-LE")
    with count_queries() as small:
        few = gather(site, study, as_of=date(2022, 6, 1))
    with count_queries() as large:
        many = gather(site, study, as_of=TODAY)
    assert len(many) > 3 * max(1, len(few))
    assert large.count <= small.count + 2 and large.count <= 14


def test_bad_requests_are_clear_messages(site: Session) -> None:
    with pytest.raises(OutcomeError, match="unknown study 'NOPE'"):
        compute(site, "NOPE", as_of=TODAY)
    with pytest.raises(OutcomeError, match="has no computed endpoint 'pfs'"):
        compute(site, "RECTAL-LE", as_of=TODAY, endpoints=["pfs"])
    first = Patient.select(Patient.enrolled_on).where(
        (Patient.study_key == "RECTAL-LE") & Patient.enrolled_on.is_null(False)).order_by(
        Patient.enrolled_on).scalar()
    with pytest.raises(OutcomeError, match=f"before the first enrollment in RECTAL-LE "
                                           f"\\({first}\\)"):
        compute(site, "RECTAL-LE", as_of=date(2019, 1, 1))
    with pytest.raises(OutcomeError, match="landmark"):
        compute(site, "RECTAL-LE", as_of=TODAY, landmarks=[-3])


def test_nobody_enrolled_and_empty_groups_are_said(session: Session) -> None:
    with pytest.raises(OutcomeError, match="nobody is enrolled in NCT06038552"):
        compute(session, "NCT06038552", as_of=TODAY)
    with session.tracker.transaction("test") as w:
        for seq, (arm, died) in enumerate([("IM", True), ("IM", False), ("IM_HR", False)], 1):
            p = w.insert(Patient, study_key="NCT06038552", study_id=f"ZJU-{seq:04d}",
                         site_code="ZJU", seq=seq, status="enrolled", arm_code=arm,
                         enrolled_on=date(2025, 1, 1), created_on=date(2025, 1, 1))
            if died:
                w.insert(CourseEvent, patient=p, kind="death", occurred_on=date(2025, 6, 1))
    o = add_models(compute(session, "NCT06038552", as_of=TODAY))
    os_ = o.results["os"]
    assert isinstance(os_, TimeToEventResult)
    # Nobody has a liver-metastasis diagnosis date: everyone is left out, with the reason.
    assert os_.overall.n == 0 and os_.overall.note == "No patients in this group."
    assert {reason for _uid, reason in os_.excluded} == {"no_origin"}
    assert [s.group for s in os_.groups] == ["IM", "IM_HR"]  # IM_LOCAL has nobody
    assert os_.log_rank is not None and os_.log_rank.chi2 is None
    assert "at least two groups" in os_.log_rank.note
    assert all(f.note for f in os_.univariate)


# --- the command line, the data set, the PDF ----------------------------------------------


def test_command_line_text_and_json(site: Session, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(site.path)
    assert main(["--db", db, "outcomes", "--study", "PREOP-DURATION", "--as-of", "2026-11-30",
                 "--no-models"]) == 0
    text = capsys.readouterr().out
    assert "PREOP-DURATION: outcomes as of 2026-11-30" in text
    assert "Log-rank test, all groups: chi-square" in text
    assert main(["--db", db, "outcomes", "--study", "PREOP-DURATION", "--as-of", "2026-11-30",
                 "--endpoint", "os_5y", "--landmark", "24", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    o = add_models(compute(site, "PREOP-DURATION", as_of=TODAY, landmarks=[24],
                           endpoints=["os_5y"]))
    result = o.results["os_5y"]
    assert isinstance(result, TimeToEventResult)
    (endpoint,) = data["endpoints"]
    assert endpoint["key"] == "os_5y" and endpoint["landmarks"] == [12, 24, 36, 60]
    assert endpoint["overall"]["events"] == result.overall.events
    assert endpoint["log_rank"]["chi2"] == result.log_rank.chi2  # type: ignore[union-attr]
    assert endpoint["cox_univariate"][0]["terms"] == ["group"]
    assert data["as_of"] == "2026-11-30" and data["patients"] == len(o.patients)


@pytest.mark.parametrize(("args", "message"), [
    (["--study", "NOPE"], "gisttracker: unknown study 'NOPE'"),
    (["--study", "RECTAL-LE", "--as-of", "30/11/2026"],
     "gisttracker: --as-of: '30/11/2026' is not a date (use YYYY-MM-DD)"),
    (["--study", "RECTAL-LE", "--endpoint", "nope"],
     "gisttracker: study RECTAL-LE has no computed endpoint 'nope'"),
])
def test_command_line_refusals_are_one_line(site: Session, args: list[str], message: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", str(site.path), "outcomes", *args]) != 0
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_analysis_data_set_reproduces_the_figures(site: Session, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "preop.csv"
    assert main(["--db", str(site.path), "export", "analysis", "--study", "PREOP-DURATION",
                 "--as-of", "2026-11-30", "-o", str(target)]) == 0
    assert "written to" in capsys.readouterr().out
    o = compute(site, "PREOP-DURATION", as_of=TODAY)
    with target.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["study_id"] for r in rows] == [p.study_id for p in o.patients]
    assert not {"name", "record_number", "date_of_birth"} & set(rows[0])
    assert_no_identifiers(target.read_text(encoding="utf-8-sig"), "PREOP-DURATION")
    for key in ("rfs_3y", "os_5y"):
        result = o.results[key]
        assert isinstance(result, TimeToEventResult)
        kept = [r for r in rows if not r[f"{key}_excluded"]]
        months = [float(r[f"{key}_months"]) for r in kept]
        events = [int(r[f"{key}_event"]) for r in kept]
        for r in kept:  # time in months is the days over 30.4375
            assert float(r[f"{key}_months"]) == pytest.approx(int(r[f"{key}_days"]) / 30.4375)
        km = survival.kaplan_meier(months, events)
        assert km.median == pytest.approx(result.overall.median) if km.median else (
            result.overall.median is None)
        for point in result.overall.landmarks:
            assert km.at(point.months)[0] == pytest.approx(point.estimate, abs=1e-9)
        levels = [s.group for s in result.groups]
        test = survival.log_rank(months, events, [r["group"] for r in kept], levels=levels)
        assert result.log_rank is not None
        assert test.chi2 == pytest.approx(result.log_rank.chi2, abs=1e-9)
        event_rows = [r for r in kept if r[f"{key}_event"] == "1"]
        assert all(r[f"{key}_record"] and "course event" in r[f"{key}_decided_by"]
                   for r in event_rows)
    high = o.results["pathological_response_high"]
    assert isinstance(high, ProportionResult)
    outcome = [r["pathological_response_high_outcome"] for r in rows]
    assert outcome.count("1") == high.overall.successes
    assert outcome.count("1") + outcome.count("0") == high.overall.total
    text = (tmp_path / "preop.dictionary.csv").read_text(encoding="utf-8-sig")
    dictionary = list(csv.reader(text.splitlines()))
    described = {r[1] for r in dictionary if r[0] == "preop.csv"}
    assert described == set(rows[0])
    script = (tmp_path / "preop.R").read_text(encoding="utf-8")
    assert "survdiff(Surv(rfs_3y_months, rfs_3y_event) ~ group" in script
    # An export never replaces a file.
    assert main(["--db", str(site.path), "export", "analysis", "--study", "PREOP-DURATION",
                 "-o", str(target)]) != 0
    assert "already exists" in capsys.readouterr().err


def test_scores_file_reproduces_the_score_tables(site: Session, tmp_path: Path) -> None:
    assert main(["--db", str(site.path), "export", "analysis", "--study", "RECTAL-LE",
                 "--as-of", "2026-11-30", "-o", str(tmp_path / "rectal.csv")]) == 0
    o = compute(site, "RECTAL-LE", as_of=TODAY)
    lars = o.results["lars"]
    assert isinstance(lars, RepeatedResult)
    with (tmp_path / "rectal.scores.csv").open(encoding="utf-8-sig", newline="") as handle:
        scores = [r for r in csv.DictReader(handle)
                  if r["endpoint"] == "lars" and r["scale"] == "total"]
    for row in (r for r in lars.scales if r.scale == "total"):
        values = [float(s["value"]) for s in scores if s["visit"] == row.visit]
        assert len(values) == row.n
        if values:
            assert np.mean(values) == pytest.approx(row.mean)


def test_pdf_has_the_curves_tables_and_no_identifiers(site: Session) -> None:
    made = datetime(2026, 11, 30, 10, tzinfo=UTC)
    report = build(site, ReportRequest("outcomes", study_key="NCT03862768", as_of=TODAY),
                   today=TODAY, generated_at=made)
    pages, text = pdf_text(report.render())
    flat = " ".join(text.split())
    o = compute(site, "NCT03862768", as_of=TODAY)
    pfs = o.results["pfs"]
    assert isinstance(pfs, TimeToEventResult)
    assert pages >= 2
    assert "Study outcomes — NCT03862768" in flat
    assert "Progression-free survival" in flat and "Number at risk" in flat
    assert "Log-rank test, all groups: chi-square" in flat
    assert f"{pfs.log_rank.chi2:.2f}" in flat  # type: ignore[union-attr]
    assert "Cox models, one term at a time" in flat
    assert_no_identifiers(text, "NCT03862768")
