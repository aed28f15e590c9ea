"""CDISC ODM 1.3.2: every file valid against the schema; a snapshot comes back field by field;
what does not match the protocol is refused, with nothing half-imported."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import date
from pathlib import Path

import pytest
from lxml import etree

from gisttracker.cli import main
from gisttracker.exchange.keys import public_key_path
from gisttracker.exchange.odm import NS
from gisttracker.exchange.odm import export as odm_export
from gisttracker.exchange.odm.export import export_odm
from gisttracker.exchange.odm.schema import schema, strip_extension, validate_file
from gisttracker.services.exchange.centre import import_package, trust_site
from gisttracker.services.exchange.odm_import import import_odm
from gisttracker.services.exchange.packages import make_package
from gisttracker.store.models_forms import Form, FormValue
from gisttracker.store.models_patients import Patient
from gisttracker.store.models_visits import Visit
from tests.core.exchange_helpers import counts, dump, make_site, open_site
from tests.helpers import on_engine, raw_rows

# Exported from the engine under test (on the server run, a server copy of the demo file);
# imported into new files.
pytestmark = pytest.mark.engines

ODM = f"{{{NS}}}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = make_site(tmp_path_factory.mktemp("odm") / "site.db", "ZJU", patients=45, seed=4)
    # An unscheduled visit with a form, as a nurse adds one.
    session = open_site(path, "ZJU")
    try:
        patient = Patient.select().where(Patient.status == "enrolled").order_by(Patient.id).first()
        with session.tracker.transaction("extra visit") as w:
            visit = w.insert(Visit, patient_uid=patient.uid, patient=patient, visit_key=None,
                             name="Emergency review", unscheduled=True, state="done",
                             done_on=date(2025, 6, 1), seq=99)
            form = w.insert(Form, patient_uid=patient.uid, visit=visit, kind="physical_exam",
                            state="in_progress")
            w.insert(FormValue, patient_uid=patient.uid, form=form, item="weight_kg",
                     value="61.5")
            w.insert(FormValue, patient_uid=patient.uid, form=form, item="ecog", value=None,
                     missing="not_answered")
    finally:
        session.close()
    return path


def _export(site: Path, target: Path, **kwargs: object) -> Path:
    session = open_site(on_engine(site), "ZJU")
    try:
        return export_odm(session, target, **kwargs).path  # type: ignore[arg-type]
    finally:
        session.close()


def _import(db: Path, source: Path, **kwargs: object):  # type: ignore[no-untyped-def]
    session = open_site(db, "CENTRE")
    try:
        return import_odm(session, source, **kwargs)  # type: ignore[arg-type]
    finally:
        session.close()


@pytest.mark.parametrize("kind", ["metadata", "snapshot", "transactional"])
def test_every_odm_file_validates_against_the_odm_1_3_2_schema(site: Path, tmp_path: Path,
                                                               kind: str) -> None:
    path = _export(site, tmp_path / f"{kind}.xml", kind=kind, identifiers=True)
    assert validate_file(path) == []
    tree = etree.parse(str(path))
    assert schema().validate(tree), schema().error_log
    # Our extension is only an addition: without it the file is plain, valid ODM 1.3.2.
    plain = strip_extension(tree)
    assert schema(extended=False).validate(plain), schema(extended=False).error_log
    root = tree.getroot()
    assert root.get("ODMVersion") == "1.3.2"
    studies = root.findall(f"{ODM}Study")
    assert {s.get("OID") for s in studies} == {
        "ST.NCT03862768", "ST.NCT04933669", "ST.NCT06038552", "ST.PREOP-DURATION",
        "ST.RECTAL-LE"}
    mdv = studies[0].find(f"{ODM}MetaDataVersion")
    assert mdv is not None and mdv.find(f"{ODM}Protocol") is not None
    c30 = mdv.find(f"{ODM}ItemDef[@OID='I.qlq_c30.1']")
    assert c30 is not None and c30.get("DataType") == "integer"
    assert mdv.find(f"{ODM}CodeList[@OID='CL.qlq_c30.1']") is not None
    units = {u.get("Name") for u in studies[0].iter(f"{ODM}MeasurementUnit")}
    assert {"cm", "kg", "mm"} <= units


def test_the_transactional_file_carries_the_audit_trail(site: Path, tmp_path: Path) -> None:
    path = _export(site, tmp_path / "t.xml", kind="transactional", study="NCT04933669")
    tree = etree.parse(str(path))
    records = list(tree.iter(f"{ODM}AuditRecord"))
    conn = sqlite3.connect(site)
    # One AuditRecord per audited value: a changed field, or each value of an insert (a
    # delete), which the trail keeps as one entry with all of them.
    audited = 0
    for field, action, old, new in conn.execute(
            "SELECT field, action, old_value, new_value FROM audit_log WHERE patient_uid IN "
            "(SELECT uid FROM patient WHERE study_key = 'NCT04933669') AND table_name NOT IN "
            "('patient_identity')"):
        if field is None:
            values = json.loads(old if action == "delete" else new)
            audited += sum(1 for k in values if k != "patient_id")
        elif field not in ("patient", "patient_id"):
            audited += 1
    assert len(records) == audited > 100
    sources = [r.findtext(f"{ODM}SourceID") for r in records]
    assert len(set(sources)) == len(sources)
    first = records[0]
    assert first.find(f"{ODM}UserRef").get("UserOID") == "USR.nurse"  # type: ignore[union-attr]
    assert first.findtext(f"{ODM}DateTimeStamp")
    users = {u.findtext(f"{ODM}LoginName") for u in tree.iter(f"{ODM}User")}
    assert "nurse" in users
    changed = [i for i in tree.iter(f"{ODM}ItemData") if i.get("TransactionType") == "Update"]
    assert changed and all(i.find(f"{ODM}AuditRecord") is not None for i in changed)
    assert all(i.getparent().get("TransactionType") == "Context"  # type: ignore[union-attr]
               for i in changed)
    # Pseudonymous by default: no identity records, no names.
    assert not any(i.get("ItemOID", "").startswith("I.REC.patient_identity")
                   for i in tree.iter(f"{ODM}ItemData"))
    conn.close()


def test_snapshot_and_package_come_back_field_by_field_in_an_empty_database(
        site: Path, tmp_path: Path, db_path: Path) -> None:
    odm = _export(site, tmp_path / "s.xml", identifiers=True)
    target = db_path  # an empty site on the engine under test
    report = _import(target, odm)
    assert report.written and not report.refused and len(report.imported) == 45
    original = dump(site, identifiers=True)
    assert dump(target, identifiers=True) == original
    # The unscheduled visit and the reasons items are missing came back too.
    assert raw_rows(target, "SELECT name, unscheduled, state FROM visit "
                            "WHERE visit_key IS NULL") == [("Emergency review", 1, "done")]
    assert raw_rows(target, "SELECT missing FROM form_value WHERE item = 'ecog' AND value "
                            "IS NULL AND missing = 'not_answered'")
    # Written through the service layer: every record is in the audit trail.
    assert raw_rows(target, "SELECT count(*) FROM patient WHERE uid NOT IN (SELECT "
                            "record_uid FROM audit_log)") == [(0,)]

    # The same for a full package at an empty centre.
    session = open_site(on_engine(site), "ZJU")
    try:
        package = make_package(session, tmp_path / "full.zip", full=True,
                               identifiers=True).path
    finally:
        session.close()
    centre = tmp_path / "centre" / "centre.db"
    session = open_site(centre, "CENTRE")
    try:
        trust_site(session, "ZJU", public_key_path(on_engine(site), "ZJU").read_text())
        import_package(session, package)
    finally:
        session.close()
    assert dump(centre, identifiers=True) == original


def _edit(xml: Path, target: Path, change: str) -> Path:
    tree = etree.parse(str(xml))
    root = tree.getroot()
    subject = root.find(f".//{ODM}SubjectData")
    assert subject is not None
    if change == "visit":
        event = next(e for e in root.iter(f"{ODM}StudyEventData")
                     if e.get("StudyEventOID") != "SE.SUBJECT")
        event.set("StudyEventOID", "SE.month_99")
    elif change == "answer":
        item = next(i for i in root.iter(f"{ODM}ItemData")
                    if i.get("ItemOID", "").startswith("I.qlq_c30.") and i.get("Value"))
        item.set("Value", "9")
    elif change == "status":
        item = next(i for i in root.iter(f"{ODM}ItemData")
                    if i.get("ItemOID") == "I.REC.patient.status")
        item.set("Value", "alive")
    elif change == "study":
        clinical = root.find(f"{ODM}ClinicalData")
        assert clinical is not None
        clinical.set("StudyOID", "ST.NCT99999999")
    elif change == "schema":
        subject.set("SubjectKey", "")
        etree.SubElement(subject, f"{ODM}Nonsense")
    tree.write(str(target), xml_declaration=True, encoding="utf-8")
    return target


@pytest.mark.parametrize(("change", "message"), [
    ("visit", "SE.month_99: this visit is not in the protocol"),
    ("answer", "must be from 1 to 4|choose one of"),
    ("status", "'alive' is not one of"),
    ("study", "this site runs no study ST.NCT99999999"),
    ("schema", "not valid ODM 1.3.2"),
])
def test_what_does_not_match_the_protocol_is_refused_and_nothing_is_imported(
        site: Path, tmp_path: Path, change: str, message: str) -> None:
    odm = _export(site, tmp_path / "s.xml")
    bad = _edit(odm, tmp_path / "bad.xml", change)
    target = tmp_path / "new.db"
    open_site(target, "CENTRE").close()
    before = counts(target)
    report = _import(target, bad)
    assert not report.written and report.refused
    assert any(re.search(message, str(r)) for r in report.refused), report.refused
    assert counts(target) == before
    if change in ("visit", "answer", "status"):
        # The others can go in on their own, when asked; the refused subject stays out.
        partial = _import(target, bad, skip_refused=True)
        assert partial.written and len(partial.refused_subjects) == 1
        refused = partial.refused_subjects[0]
        assert refused not in partial.imported
        conn = sqlite3.connect(target)
        assert conn.execute("SELECT count(*) FROM patient WHERE study_id = ?",
                            (refused,)).fetchone() == (0,)
        conn.close()


def test_import_adds_and_never_overwrites(site: Path, tmp_path: Path, db_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    odm = _export(site, tmp_path / "s.xml", study="RECTAL-LE")
    target = db_path  # a new site on the engine under test
    assert main(["--db", str(target), "import", "odm", str(odm), "--dry-run"]) == 0
    assert "nothing was written (dry run)" in capsys.readouterr().out
    assert counts(target)["patient"] == 0
    assert main(["--db", str(target), "import", "odm", str(odm)]) == 0
    n = counts(target)["patient"]
    assert n > 0 and f"{n} subjects imported" in capsys.readouterr().out
    before = dump(target)
    assert main(["--db", str(target), "import", "odm", str(odm)]) == 1
    err = capsys.readouterr().err
    assert "already in this database" in err and "Traceback" not in err
    assert dump(target) == before


def test_an_odm_export_that_fails_half_way_leaves_nothing(
        site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(odm_export, "write_snapshot", broken)
    with pytest.raises(OSError, match="No space left"):
        _export(site, tmp_path / "s.xml")
    assert list(tmp_path.iterdir()) == []
