"""No screen or report reads a whole table that grows with the site.

Every SQL statement issued while a small demo site is built, while every public read of
every service runs (found by walking the service classes, so a method added later is
caught too), and while every report is gathered, is captured with SQLite's trace callback
and put through ``EXPLAIN QUERY PLAN``. A plan that scans a growing table without an index
(``SCAN visit``) or builds a throw-away index over it (``AUTOMATIC INDEX``) fails the
test, naming the statement: a foreign key or a filter column lacks its index, and that read
gets slower with every patient.

When a new service method has a parameter this walk cannot fill, the completeness test
says so: give the parameter a sample value in :func:`_samples` (or, for a method that only
writes from an input object, add its name to :data:`WRITES`). The services written as
module functions, not a service class — the protocol versions (run when a session opens)
and the exchange between sites and a centre — are called by :func:`_module_calls`, and the
completeness test fails for a public function of theirs it neither calls nor lists in
:data:`WRITES`.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import itertools
import pkgutil
import re
import sqlite3
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

import gisttracker.services
import gisttracker.services.exchange.centre
import gisttracker.services.exchange.odm_import
import gisttracker.services.exchange.packages
import gisttracker.services.versions
from gisttracker.demo import generate
from gisttracker.reports import ReportRequest, build
from gisttracker.services.base import ServiceError
from gisttracker.services.course import CourseService
from gisttracker.services.forms import AdverseEventInput, FormService
from gisttracker.services.patients import PatientFilter
from gisttracker.services.tumour import AssessmentInput, LesionInput, TumourService
from gisttracker.session import Session, open_session
from gisttracker.store.models_patients import Patient, Screening
from gisttracker.store.models_visits import Visit
from tests.core.reports_fixtures import MADE, TODAY

# Tables whose size does not grow with the site: scanning them is fine.
FIXED_TABLES = {"setting", "schema_migration", "randomization_seed", "sqlite_master",
                "sqlite_schema",
                # one row per shape of an insert (a table and the columns it filled)
                "audit_shape"}

# Public service methods that only write from an input object the walk cannot invent
# (their reads are covered by the read methods and by the demo build).
WRITES = {
    "add_exposure", "add_interruption", "add_unscheduled", "change_dose", "change_treatment",
    "check", "check_adverse_event", "check_event", "close_screen_failure", "complete",
    "correct_preop_dates", "delete", "delete_adverse_event", "delete_event",
    "delete_exposure", "delete_interruption", "delete_lab", "delete_surgery",
    "end_participation", "enroll", "mark_done", "mark_missed", "mark_not_applicable",
    "mark_not_done", "record", "record_arm_option", "record_event", "record_pathology",
    "record_surgery", "register", "reopen", "rescreen", "save_adverse_event", "save_answers",
    "save_lab", "save_screening", "set", "set_anchor", "update_exposure", "update_identity",
    "update_sex", "validate", "write_calendar", "calendar_bytes", "missing_required",
    "form_version_id",  # stores a form definition the first time it is used (a Writer's)
    # Corrections and removals (issue 10): writes of what was recorded, each with a reason.
    "correct_registration", "correct_screening", "correct_enrollment_date",
    "resume_participation", "clear_anchor", "delete_unscheduled", "delete_pathology",
    "replan",  # inside the caller's transaction (a Writer's)
    # The exchange: writes, the checks of a package being imported, and pure functions.
    "trust_site", "import_package", "check_package", "resolve_conflict", "make_package",
    "import_odm", "parse_value", "summary",
    # Accounts, signatures, source verification and queries: writes, and what needs a
    # password (their reads are walked: accounts, queries, targets, signatures, status).
    "create_first_administrator", "sign_in", "verify_password", "create", "change_password",
    "reset_password", "set_role", "set_active", "unlock", "raise_query", "answer", "sign",
    "verify", "remove",
}

# The services written as module functions (see the module docstring).
MODULE_SERVICES = (gisttracker.services.versions, gisttracker.services.exchange.centre,
                   gisttracker.services.exchange.packages,
                   gisttracker.services.exchange.odm_import)


class Recorder:
    """Every statement SQLite runs on the connection, with its parameters bound in."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, sql: str) -> None:
        self.statements.append(sql)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Session, Recorder]]:
    """A demo site of 120 patients plus tumour assessments, an adverse event and an
    interruption (written through the services with the statement recorder on)."""
    path: Path = tmp_path_factory.mktemp("plans") / "site.db"
    session = open_session(path, user="nurse", clock=lambda: MADE)
    # The demo's enrichers are batch jobs over every patient (reading a whole table is
    # their plan); what is checked starts after them.
    generate(session, patients=120, seed=5, today=TODAY)
    patient = _enrolled(session)
    tumour = TumourService(session)
    for record in tumour.assessments(patient.uid):  # the demo's own imaging makes way
        tumour.delete(record.uid, reason="test: imaging entered again")
    recorder = Recorder()
    session.db.connection().set_trace_callback(recorder)
    visit = Visit.select().where((Visit.patient == patient.id) & (Visit.state == "done")).first()
    TumourService(session).record(patient.uid, AssessmentInput(
        TODAY - timedelta(days=90), (LesionInput("T1", "liver", 40.0),), is_baseline=True),
        today=TODAY)
    TumourService(session).record(patient.uid, AssessmentInput(
        TODAY - timedelta(days=10), (LesionInput("T1", "liver", 30.0),)), today=TODAY)
    FormService(session).save_adverse_event(patient.uid, AdverseEventInput(
        term="nausea", grade=2, onset=TODAY - timedelta(days=20), visit_uid=visit.uid),
        today=TODAY)
    course = CourseService(session)
    exposures = course.exposures(patient.uid)
    if exposures:
        first = exposures[0].data.start_on
        course.add_interruption(exposures[0].uid, first + timedelta(days=5),
                                first + timedelta(days=9),
                                reason="nausea", today=TODAY)
    yield session, recorder
    session.db.connection().set_trace_callback(None)
    session.close()


def _enrolled(session: Session) -> Patient:
    """An enrolled patient with done visits, exposures and a surgery (the richest casebook)."""
    for patient in Patient.select().where(Patient.status == "enrolled").order_by(Patient.id):
        if (CourseService(session).exposures(patient.uid)
                and CourseService(session).surgeries(patient.uid)
                and Visit.select().where((Visit.patient == patient.id)
                                         & (Visit.state == "done")).exists()):
            return patient
    raise AssertionError("the demo has no enrolled patient with a treatment and a surgery")


def _samples(session: Session) -> dict[str, list[Any]]:
    """Sample values for service parameters, by parameter name (each tried in turn)."""
    patient = _enrolled(session)
    failed = Patient.get(Patient.status == "screen_failed")
    visit = Visit.select().where((Visit.patient == patient.id) & (Visit.state == "done")).first()
    screening = Screening.select().where(Screening.patient == patient.id).first()
    keys = [patient.uid, patient.study_id, failed.uid]
    return {
        "patient_key": keys, "ref": keys, "key": [patient.uid, patient.study_key, "site_code"],
        "visit_uid": [visit.uid], "study_key": sorted(session.studies), "kind": [
            "qlq_c30", "labs", "physical_exam"], "analyte": ["alt", "anc"],
        "flt": [PatientFilter(), PatientFilter(study_key="NCT03862768", status="enrolled"),
                PatientFilter(text="zhang"), PatientFilter(text=patient.study_id[:5])],
        "sort": ["patient", "study", "arm", "status", "enrolled_on", "randomization_number"],
        "descending": [False, True], "today": [TODAY],
        "start": [date(2026, 3, 9)], "end": [date(2026, 3, 15)], "year": [2026],
        "month": [3], "patient": [patient], "visit": [visit], "screening": [screening],
        "value": ["ZJU"],  # a site code (what changing it would mean)
        "patient_ref": keys, "scope": ["casebook", "visit", "form"],
        "target_uid": [patient.uid, visit.uid],
    }


def _calls(session: Session) -> Iterator[tuple[str, Callable[[], object]]]:
    """Every public method of every service, with sample arguments, as (name, call)."""
    samples = _samples(session)
    for cls in _service_classes():
        takes_tracker = "tracker" in inspect.signature(cls.__init__).parameters
        service = cls(session.tracker) if takes_tracker else cls(session)
        for name, function in inspect.getmembers(cls, inspect.isfunction):
            if name.startswith("_") or name in WRITES:
                continue
            every = [p for p in inspect.signature(function).parameters.values()
                     if p.name != "self"]
            if any(p.name not in samples for p in every
                   if p.default is inspect.Parameter.empty):
                continue
            # Optional parameters with samples are varied too (a sort order, a study).
            params = [p for p in every if p.name in samples]
            method = getattr(service, name)
            choices = [samples[p.name] for p in params]
            combos: list[tuple[Any, ...]] = list(itertools.product(*choices))
            if len(combos) > 100:  # too many: each sample once, side by side
                combos = [tuple(c[min(i, len(c) - 1)] for c in choices)
                          for i in range(max(len(c) for c in choices))]
            for combo in combos:
                args = {p.name: value for p, value in zip(params, combo, strict=True)}
                positional = [args[p.name] for p in params
                              if p.kind is not inspect.Parameter.KEYWORD_ONLY]
                keywords = {p.name: args[p.name] for p in params
                            if p.kind is inspect.Parameter.KEYWORD_ONLY}

                def call(method: Any = method, positional: list[Any] = positional,
                         keywords: dict[str, Any] = keywords) -> object:
                    result = method(*positional, **keywords)
                    return list(result) if inspect.isgenerator(result) else result

                yield f"{cls.__name__}.{name}", call


def _module_calls(session: Session) -> Iterator[tuple[str, Callable[[], object]]]:
    """The reads of the services written as module functions, as (name, call): what
    opening a session runs to record the protocol versions, the orphan check a changed
    protocol file gets (for every study, its design compared with itself), a study's
    version id; the centre's registered sites and open conflicts, the site's identity."""
    versions = gisttracker.services.versions
    yield "register_protocols", lambda: versions.register_protocols(session)
    for study in session.studies.values():
        yield "orphans", lambda study=study: versions.orphans(study, session.db, study)
        yield "protocol_version_id", lambda study=study: versions.protocol_version_id(study)
    centre = gisttracker.services.exchange.centre
    yield "trusted_sites", centre.trusted_sites
    # Only the open ones: the whole history of conflicts is read whole by design.
    yield "list_conflicts", lambda: centre.list_conflicts(open_only=True)
    packages = gisttracker.services.exchange.packages
    yield "site_identity", lambda: packages.site_identity(session)


def _service_classes() -> list[type]:
    found = []
    for info in pkgutil.walk_packages(gisttracker.services.__path__, "gisttracker.services."):
        module = importlib.import_module(info.name)
        for _name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and cls.__name__.endswith("Service"):
                found.append(cls)
    return found


def _reports(session: Session) -> Iterator[ReportRequest]:
    patient = _enrolled(session)
    for kind in ("schedule", "casebook"):
        yield ReportRequest(kind, patient=patient.study_id)
    yield ReportRequest("calendar", start=date(2026, 3, 1), end=date(2026, 3, 31))
    yield ReportRequest("calendar", start=date(2026, 3, 1), end=date(2026, 3, 31),
                        study_key="NCT04933669")
    for key in sorted(session.studies):
        yield ReportRequest("screening", study_key=key, include_identifiers=True)
        yield ReportRequest("enrollment", study_key=key)


_TABLE = re.compile(r'\b(?:FROM|JOIN|UPDATE|INTO)\s+"?(\w+)"?(?:\s+(?:AS\s+)?"?(\w+)"?)?',
                    re.IGNORECASE)


def _aliases(sql: str) -> dict[str, str]:
    out = {}
    for table, alias in _TABLE.findall(sql):
        out[table] = table
        if alias and alias.upper() not in {"WHERE", "ON", "JOIN", "LEFT", "INNER", "USING",
                                           "INDEXED", "SET", "VALUES", "ORDER", "GROUP",
                                           "LIMIT", "SELECT", "CROSS", "AS"}:
            out[alias] = table
    return out


def full_scans(con: sqlite3.Connection, statements: list[str]) -> dict[str, str]:
    """``{what is wrong · statement: statement}`` for every plan that reads a growing table
    whole without an index, builds an index for one query, or sorts a whole table."""
    bad: dict[str, str] = {}
    seen: set[str] = set()
    for sql in statements:
        text = sql.strip()
        head = text.split(None, 1)[0].upper() if text else ""
        if head not in ("SELECT", "UPDATE", "DELETE", "WITH", "INSERT") or text in seen:
            continue
        if text.endswith("WHERE (0 = 1)"):
            # peewee's empty IN list: SQLite tests the constant once and reads no row.
            continue
        seen.add(text)
        try:
            plan = con.execute(f"EXPLAIN QUERY PLAN {text}").fetchall()
        except sqlite3.Error:
            continue  # a statement of a table dropped since (none today)
        aliases = _aliases(text)
        details = [str(row[-1]) for row in plan]
        scanned = []  # growing tables read whole, through an index or not
        for detail in details:
            match = re.match(r"SCAN (\w+)(.*)", detail)
            if "VIRTUAL TABLE" in detail:
                continue  # json_each over one row's value, not a stored table
            if "AUTOMATIC" in detail:
                bad[f"{detail} · {text[:60]}"] = text
            elif match:
                table = aliases.get(match.group(1), match.group(1))
                if table in FIXED_TABLES:
                    continue
                scanned.append(table)
                if not match.group(2).strip():
                    bad[f"SCAN {table} ({detail}) · {text[:60]}"] = text
        # Reading every row to sort them all, where an index in that order would give the
        # first page at once.
        if scanned and "USE TEMP B-TREE FOR ORDER BY" in details:
            bad[f"sorts every row of {', '.join(scanned)} · {text[:60]}"] = text
    return bad


@pytest.mark.sqlite_only("SQLite's query planner (EXPLAIN QUERY PLAN)")
def test_every_screen_and_report_query_uses_an_index(site: tuple[Session, Recorder]) -> None:
    session, recorder = site
    names = []
    for name, call in _calls(session):
        names.append(name)
        # A sample that does not fit this method is refused: its queries still ran.
        with contextlib.suppress(ServiceError, KeyError, ValueError):
            call()
    for name, call in _module_calls(session):
        names.append(name)
        with contextlib.suppress(ServiceError):  # site_identity: the site has no code yet
            call()
    for request in _reports(session):
        build(session, request, today=TODAY, generated_at=MADE)
    assert len(set(names)) >= 40, sorted(set(names))  # the walk really called the services
    con = sqlite3.connect(session.path)
    try:
        bad = full_scans(con, recorder.statements)
    finally:
        con.close()
    assert not bad, "full scans of growing tables:\n" + "\n".join(
        f"  {line.split(' · ')[0]}\n      {sql[:300]}" for line, sql in sorted(bad.items()))


def test_every_public_service_method_is_walked_or_declared_a_write(
        site: tuple[Session, Recorder]) -> None:
    session, _recorder = site
    walked = {name for name, _call in _calls(session)}
    missing = []
    for cls in _service_classes():
        for name, function in inspect.getmembers(cls, inspect.isfunction):
            if name.startswith("_") or name in WRITES or f"{cls.__name__}.{name}" in walked:
                continue
            params = [p.name for p in inspect.signature(function).parameters.values()
                      if p.name != "self" and p.default is inspect.Parameter.empty]
            missing.append(f"{cls.__name__}.{name}({', '.join(params)})")
    called = {name for name, _call in _module_calls(session)}
    for module in MODULE_SERVICES:
        missing += [f"{module.__name__}.{name}"
                    for name, function in inspect.getmembers(module, inspect.isfunction)
                    if function.__module__ == module.__name__ and not name.startswith("_")
                    and name not in called and name not in WRITES]
    assert not missing, ("service methods the query-plan walk cannot call (give their "
                         "parameters a sample in _samples, or list a pure write in WRITES): "
                         + "; ".join(missing))


def test_the_check_sees_a_missing_index(tmp_path: Path) -> None:
    """The detector itself: a lookup by an unindexed column is reported, an indexed one not."""
    con = sqlite3.connect(tmp_path / "t.db")
    con.execute("CREATE TABLE visit (id INTEGER PRIMARY KEY, patient_id INTEGER, note TEXT)")
    con.execute("CREATE INDEX visit_patient ON visit (patient_id)")
    con.execute("CREATE TABLE setting (key TEXT, value TEXT)")
    bad = full_scans(con, ['SELECT * FROM "visit" AS "t1" WHERE "t1"."note" = \'x\'',
                           "SELECT * FROM visit v WHERE v.patient_id = 3",
                           "SELECT * FROM visit v ORDER BY v.patient_id LIMIT 20",
                           "SELECT * FROM visit v ORDER BY v.note LIMIT 20",
                           'SELECT * FROM "visit" AS "t1" WHERE (0 = 1)',
                           "SELECT value FROM setting WHERE key = 'paper'"])
    con.close()
    assert [line.split(" · ")[0] for line in bad] == [
        "SCAN visit (SCAN t1)", "SCAN visit (SCAN v)", "sorts every row of visit"]


def test_every_foreign_key_leads_an_index(site: tuple[Session, Recorder]) -> None:
    """Deleting a visit or a patient looks up its rows in every child table by the foreign
    key (ON DELETE CASCADE / SET NULL); without an index that is a scan per deleted row.
    (Not needed where the parent's rows can never be deleted: the append-only tables of the
    audit trail, whose triggers refuse every DELETE.)"""
    session, _recorder = site
    con = sqlite3.connect(session.path)
    try:
        missing = []
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'")]
        undeletable = {r[0] for r in con.execute(
            "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' "
            "AND sql LIKE '%BEFORE DELETE%' AND sql LIKE '%RAISE(ABORT%' "
            "AND sql NOT LIKE '%WHEN%'")}
        for table in tables:
            leading = {con.execute(f"PRAGMA index_info('{index[1]}')").fetchone()[2]
                       for index in con.execute(f"PRAGMA index_list('{table}')")}
            for fk in con.execute(f"PRAGMA foreign_key_list('{table}')"):
                if fk[3] not in leading and fk[2] not in undeletable:
                    missing.append(f"{table}.{fk[3]} → {fk[2]}")
    finally:
        con.close()
    assert not missing, "foreign keys without an index: " + ", ".join(missing)
