"""Site packages → coordinating centre: the union, nothing lost, nothing altered unnoticed."""

from __future__ import annotations

import hashlib
import sqlite3
import zipfile
from datetime import date
from pathlib import Path

import pytest

from gisttracker.cli import main
from gisttracker.exchange.keys import public_key_path
from gisttracker.exchange.package import PackageError
from gisttracker.services.base import ServiceError
from gisttracker.services.exchange.centre import (
    import_package,
    list_conflicts,
    resolve_conflict,
    trust_site,
)
from gisttracker.services.exchange.packages import make_package
from gisttracker.services.visits import VisitService
from gisttracker.session import Session
from gisttracker.store.models_patients import Patient
from gisttracker.store.models_visits import Visit
from tests.core.exchange_helpers import (
    TODAY,
    counts,
    dump,
    make_site,
    open_site,
    read,
    replay_problems,
)
from tests.helpers import site_copy

# The sites are on the engine under test (on the server run, server copies of the files
# built here: a server site sends its packages as a file site does); the centre is a file.
pytestmark = pytest.mark.engines


def _package(site: Path, code: str, target: Path, *, full: bool = False,
             identifiers: bool = False) -> Path:
    session = open_site(site, code)
    try:
        return make_package(session, target, full=full, identifiers=identifiers).path
    finally:
        session.close()


def _trust(centre: Session, site: Path, code: str) -> None:
    trust_site(centre, code, public_key_path(site, code).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def site_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The two sites' demo data, built once; each test changes copies of them."""
    folder = tmp_path_factory.mktemp("sites")
    return (make_site(folder / "zju" / "site.db", "ZJU", patients=40, seed=1),
            make_site(folder / "pumch" / "site.db", "PUMCH", patients=30, seed=2))


@pytest.fixture
def two_sites(site_files: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path, Path]:
    a, b = (site_copy(path, tmp_path / path.parent.name) for path in site_files)
    centre = tmp_path / "centre" / "centre.db"
    open_site(centre, "CENTRE").close()
    return a, b, centre


def test_two_sites_merge_at_the_centre_into_the_union_with_nothing_lost(
        two_sites: tuple[Path, Path, Path], tmp_path: Path) -> None:
    a, b, centre_path = two_sites
    pa = _package(a, "ZJU", tmp_path / "zju-1.zip")
    pb = _package(b, "PUMCH", tmp_path / "pumch-1.zip")
    centre = open_site(centre_path, "CENTRE", user="coordinator")
    try:
        _trust(centre, a, "ZJU")
        _trust(centre, b, "PUMCH")
        ra = import_package(centre, pa)
        rb = import_package(centre, pb)
        assert ra.added["patient"] == 40 and rb.added["patient"] == 30
        assert ra.conflicts == rb.conflicts == 0
    finally:
        centre.close()
    site_a, site_b, merged = dump(a), dump(b), dump(centre_path)
    for table in merged:
        assert merged[table] == {**site_a[table], **site_b[table]}, table
    assert merged["visit"] and merged["form_value"] and merged["randomization"]
    # Pseudonymous by default: no names at the centre, and never the randomization seed.
    assert counts(centre_path)["patient_identity"] == 0
    assert counts(centre_path)["randomization_seed"] == 0
    # The sites' audit trails are kept, as the sites' rows, and replay to the data.
    conn = sqlite3.connect(centre_path)
    users = {r[0] for r in conn.execute("SELECT DISTINCT user FROM audit_log")}
    assert {"nurse@ZJU", "nurse@PUMCH", "coordinator"} <= users
    first = conn.execute(
        "SELECT at FROM audit_log WHERE user = 'nurse@ZJU' ORDER BY id LIMIT 1").fetchone()
    with read(a) as site_conn:
        site_first = site_conn.execute(
            "SELECT at FROM audit_log WHERE table_name = 'patient' ORDER BY id LIMIT 1"
        ).fetchone()
    assert first == site_first
    conn.close()
    assert replay_problems(centre_path) == []


def test_the_same_package_twice_changes_nothing(two_sites: tuple[Path, Path, Path],
                                                tmp_path: Path) -> None:
    a, _b, centre_path = two_sites
    pa = _package(a, "ZJU", tmp_path / "zju-1.zip")
    centre = open_site(centre_path, "CENTRE")
    try:
        _trust(centre, a, "ZJU")
        import_package(centre, pa)
        before = counts(centre_path), dump(centre_path)
        again = import_package(centre, pa)
        assert again.already and not again.changed
    finally:
        centre.close()
    assert (counts(centre_path), dump(centre_path)) == before


@pytest.mark.parametrize("where", ["manifest", "signature", "payload", "directory", "cut"])
def test_a_package_with_one_byte_changed_or_cut_short_is_refused_whole(
        two_sites: tuple[Path, Path, Path], tmp_path: Path, where: str) -> None:
    a, _b, centre_path = two_sites
    good = _package(a, "ZJU", tmp_path / "zju-1.zip")
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as archive:
        infos = {i.filename: i for i in archive.infolist()}
    if where == "cut":
        data = data[:len(data) * 2 // 3]
    else:
        if where == "directory":
            at = len(data) - 30
        else:
            info = infos[{"manifest": "manifest.json", "signature": "signature.ed25519",
                          "payload": "payload.sqlite"}[where]]
            start = info.header_offset + 30 + len(info.filename)
            at = start + info.compress_size // 2
        data[at] ^= 0x01
    bad = tmp_path / "bad.zip"
    bad.write_bytes(bytes(data))
    centre = open_site(centre_path, "CENTRE")
    try:
        _trust(centre, a, "ZJU")
        before = counts(centre_path)
        with pytest.raises(PackageError, match=r"(?i)nothing was imported"):
            import_package(centre, bad)
        assert counts(centre_path) == before
        assert import_package(centre, good).added["patient"] == 40  # the real one still goes
    finally:
        centre.close()


def test_only_a_registered_key_is_accepted_and_site_codes_never_collide(
        two_sites: tuple[Path, Path, Path], tmp_path: Path) -> None:
    a, _b, centre_path = two_sites
    impostor = make_site(tmp_path / "impostor" / "site.db", "ZJU", patients=3, seed=9)
    fake = _package(impostor, "ZJU", tmp_path / "fake.zip")
    real = _package(a, "ZJU", tmp_path / "real.zip")
    centre = open_site(centre_path, "CENTRE")
    try:
        with pytest.raises(PackageError, match="not registered at this centre"):
            import_package(centre, real)
        _trust(centre, a, "ZJU")
        with pytest.raises(ServiceError, match="already registered with another key"):
            _trust(centre, impostor, "ZJU")
        with pytest.raises(PackageError, match="signature is not site ZJU's"):
            import_package(centre, fake)
        with pytest.raises(ServiceError, match="belongs to site ZJU, not PUMCH"):
            trust_site(centre, "PUMCH", public_key_path(a, "ZJU").read_text())
        import_package(centre, real)
    finally:
        centre.close()


def _edit_visit(site: Path, code: str, study_id: str, **changes: object) -> str:
    session = open_site(site, code)
    try:
        visit = (Visit.select().join(Patient).where(
            (Patient.study_id == study_id) & (Visit.state == "done")).order_by(Visit.id).first())
        with session.tracker.transaction("correction") as w:
            w.update(visit, changes, patient_uid=visit.patient.uid)
        return str(visit.uid)
    finally:
        session.close()


def _done_patient(site: Path) -> str:
    with read(site) as conn:
        return str(conn.execute(
            "SELECT p.study_id FROM visit v JOIN patient p ON p.id = v.patient_id "
            "WHERE v.state = 'done' ORDER BY v.id LIMIT 1").fetchone()[0])


@pytest.mark.parametrize("bulk", [False, True], ids=["row by row", "every load in bulk"])
def test_changes_follow_in_the_next_package_and_conflicts_keep_both_values(
        two_sites: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        bulk: bool) -> None:
    if bulk:
        # Every load, the audit trail's included, as a large one: the plain indexes set
        # aside, the versions of records already here (the second package changes and
        # deletes some) read at once beforehand.
        import gisttracker.services.exchange.centre as centre_module

        plain = centre_module._bulk
        monkeypatch.setattr(centre_module, "_bulk", lambda conn, table, _n, before=None:
                            plain(conn, table, 10**12, before))
    a, _b, centre_path = two_sites
    first = _package(a, "ZJU", tmp_path / "zju-1.zip")
    centre = open_site(centre_path, "CENTRE", user="coordinator")
    try:
        _trust(centre, a, "ZJU")
        import_package(centre, first)
    finally:
        centre.close()
    who = _done_patient(a)
    # The site corrects a visit date and a reason; the centre answers a query on the date.
    uid = _edit_visit(a, "ZJU", who, done_on=date(2025, 1, 2), reason="site note")
    centre = open_site(centre_path, "CENTRE", user="coordinator")
    try:
        visit = Visit.get(Visit.uid == uid)
        with centre.tracker.transaction("query answered") as w:
            w.update(visit, {"done_on": date(2025, 1, 3), "name": "Centre's name"})
    finally:
        centre.close()
    # Meanwhile the site deletes a course event (or, if the demo made none, a pathology
    # report: which records the demo makes depends on the file it starts from).
    session = open_site(a, "ZJU")
    try:
        from gisttracker.store.models_course import CourseEvent, Pathology

        event = CourseEvent.select().first() or Pathology.select().first()
        gone_model = type(event)
        gone = event.uid
        with session.tracker.transaction("entered twice") as w:
            w.delete(event, patient_uid=event.patient.uid)
        second = make_package(session, tmp_path / "zju-2.zip").path
    finally:
        session.close()
    centre = open_site(centre_path, "CENTRE", user="coordinator")
    try:
        result = import_package(centre, second)
        assert result.updated == {"visit": 1} and result.deleted == 1
        assert result.conflicts == 1
        visit = Visit.get(Visit.uid == uid)
        assert visit.done_on == date(2025, 1, 3)  # the centre's value stays…
        assert visit.reason == "site note"  # …the site's change of another field is taken
        assert visit.name == "Centre's name"  # …and the centre's own change stays
        (conflict,) = list_conflicts()
        assert (conflict.patient, conflict.table_name, conflict.field) == (who, "visit",
                                                                              "done_on")
        assert (conflict.site_value, conflict.centre_value) == ("2025-01-02", "2025-01-03")
        assert gone_model.get_or_none(gone_model.uid == gone) is None
        assert replay_problems(centre_path) == []
        # The visit's versions count its changes on, here and at the site alike (the site's
        # insert and changes, the centre's, the site's newest, the centre's value put back
        # over the conflict), and the record says the last of them.
        versions = list(dict.fromkeys(v for (v,) in centre.db.execute_sql(
            "SELECT version FROM audit_log WHERE record_uid = ? ORDER BY id", (uid,))))
        assert len(versions) >= 4 and versions == list(range(1, len(versions) + 1))
        assert Visit.get(Visit.uid == uid).version == versions[-1]
        with pytest.raises(ServiceError, match="needs a reason"):
            resolve_conflict(centre, conflict.id, "site", " ")
        resolve_conflict(centre, conflict.id, "site", "the site's date is the clinic's record")
        assert Visit.get(Visit.uid == uid).done_on == date(2025, 1, 2)
        assert list_conflicts() == []
        (done,) = list_conflicts(open_only=False)
        assert done.kept == "site"
        assert replay_problems(centre_path) == []
    finally:
        centre.close()
    # The next package from the site does not bring the settled field back as a conflict.
    # (One session at a time: the models follow the database opened last.)
    third = _package(a, "ZJU", tmp_path / "zju-3.zip")
    centre = open_site(centre_path, "CENTRE", user="coordinator")
    try:
        result = import_package(centre, third)
        assert result.conflicts == 0 and not result.updated
    finally:
        centre.close()


def test_packages_must_come_in_order_and_a_full_package_always_fits(
        two_sites: tuple[Path, Path, Path], tmp_path: Path) -> None:
    a, _b, centre_path = two_sites
    one = _package(a, "ZJU", tmp_path / "1.zip")
    _edit_visit(a, "ZJU", _done_patient(a), reason="x")
    two = _package(a, "ZJU", tmp_path / "2.zip")
    _edit_visit(a, "ZJU", _done_patient(a), reason="y")
    three = _package(a, "ZJU", tmp_path / "3.zip")
    full = _package(a, "ZJU", tmp_path / "4.zip", full=True)
    centre = open_site(centre_path, "CENTRE")
    try:
        _trust(centre, a, "ZJU")
        import_package(centre, one)
        with pytest.raises(PackageError, match="continues package #2"):
            import_package(centre, three)
        result = import_package(centre, full)
        assert result.updated == {"visit": 1}
        older = import_package(centre, two)  # older news: nothing to change
        assert older.already and older.superseded_by == 4 and not older.changed
    finally:
        centre.close()
    assert dump(centre_path) == dump(a)


def test_identifiers_travel_only_when_asked(two_sites: tuple[Path, Path, Path],
                                            tmp_path: Path) -> None:
    a, _b, centre_path = two_sites
    with read(a) as conn:
        name = conn.execute("SELECT name FROM patient_identity").fetchone()[0]
    plain = _package(a, "ZJU", tmp_path / "plain.zip")
    with zipfile.ZipFile(plain) as archive:
        assert name.encode() not in archive.read("payload.sqlite")
    named = _package(a, "ZJU", tmp_path / "named.zip", full=True, identifiers=True)
    centre = open_site(centre_path, "CENTRE")
    try:
        _trust(centre, a, "ZJU")
        import_package(centre, named)
    finally:
        centre.close()
    assert dump(centre_path, identifiers=True)["patient_identity"] == dump(
        a, identifiers=True)["patient_identity"]


def test_package_commands(two_sites: tuple[Path, Path, Path], tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    a, _b, centre_path = two_sites
    key = tmp_path / "zju.pub"
    assert main(["--db", str(a), "export", "key", "-o", str(key)]) == 0
    assert "fingerprint" in capsys.readouterr().out
    out = tmp_path / "zju-1.zip"
    assert main(["--db", str(a), "export", "package", "-o", str(out)]) == 0
    assert "full package #1" in capsys.readouterr().out
    assert main(["--db", str(centre_path), "centre", "trust", "ZJU", str(key)]) == 0
    assert main(["--db", str(centre_path), "centre", "import", str(out), str(out)]) == 0
    text = capsys.readouterr().out
    assert "40 records added" not in text and "imported before; nothing changed" in text
    assert main(["--db", str(centre_path), "centre", "sites"]) == 0
    assert "ZJU" in capsys.readouterr().out
    assert main(["--db", str(centre_path), "centre", "conflicts"]) == 0
    assert "No open conflicts." in capsys.readouterr().out
    assert main(["--db", str(centre_path), "centre", "resolve", "7", "--keep", "site",
                 "--reason", "x"]) == 1
    assert "no conflict 7" in capsys.readouterr().err
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert main(["--db", str(a), "export", "package", "-o", str(out)]) == 2
    assert hashlib.sha256(out.read_bytes()).hexdigest() == digest
    assert VisitService  # the visits service plans what the packages carry
    assert TODAY


def test_a_large_first_import_rebuilds_the_same_indexes(
        two_sites: tuple[Path, Path, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import gisttracker.services.exchange.centre as centre_module

    a, _b, centre_path = two_sites
    package = _package(a, "ZJU", tmp_path / "zju-1.zip")

    def indexes() -> list[tuple[str, str]]:
        conn = sqlite3.connect(centre_path)
        try:
            return conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                                "ORDER BY name").fetchall()
        finally:
            conn.close()

    before = indexes()
    monkeypatch.setattr(centre_module, "BULK_MIN", 0)  # every load counts as a large one
    centre = open_site(centre_path, "CENTRE")
    try:
        _trust(centre, a, "ZJU")
        import_package(centre, package)
    finally:
        centre.close()
    assert indexes() == before
    merged = dump(centre_path)
    assert merged == {t: rows for t, rows in dump(a).items()}
    conn = sqlite3.connect(centre_path)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
