"""The demo generator: realistic, consistent with the rules, deterministic for a seed."""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from gisttracker.cli import main
from gisttracker.demo import generate
from gisttracker.domain.allocation import allocation_at
from gisttracker.services.audit import verify
from gisttracker.services.concealment import Keyring
from gisttracker.services.patients import PatientService
from gisttracker.session import Session, open_session
from gisttracker.store.models import AuditLog
from gisttracker.store.models_patients import Randomization
from tests.core.patients_helpers import TODAY, eligible_patient, set_site
from tests.helpers import FIXED_NOW, new_site

TABLES = ("patient", "patient_identity", "screening", "lab_result", "screening_judgement",
          "randomization", "randomization_seed")


def _dump(path: Path, seed: int) -> dict[str, list[Any]]:
    with new_site(path) as where:
        return _dump_of(where, seed)


def _dump_of(path: Path, seed: int) -> dict[str, list[Any]]:
    session = open_session(path, user="nurse", clock=lambda: FIXED_NOW)
    try:
        generate(session, patients=120, seed=seed, today=TODAY)
        out = {t: session.db.execute_sql(f"SELECT * FROM {t} ORDER BY uid").fetchall()
               for t in TABLES}
        # The seed is sealed with a fresh random nonce each time (and a new site key): the
        # commitment to it is what must be the same.
        out["randomization_seed"] = session.db.execute_sql(
            "SELECT uid, study_key, commitment, created_at, created_by FROM randomization_seed "
            "ORDER BY uid").fetchall()
        # Planned by the visits service (its own uids): compare what they say.
        out["anchor_date"] = session.db.execute_sql(
            "SELECT patient_id, anchor_key, date FROM anchor_date ORDER BY 1, 2").fetchall()
        out["visit"] = session.db.execute_sql(
            "SELECT patient_id, visit_key, planned_on, state FROM visit ORDER BY 1, 2, 3"
        ).fetchall()
        return out
    finally:
        session.close()


@pytest.mark.engines
def test_same_seed_gives_the_same_data_and_another_seed_other_data(tmp_path: Path) -> None:
    first = _dump(tmp_path / "a.db", 11)
    assert first == _dump(tmp_path / "b.db", 11)
    assert first["patient"] != _dump(tmp_path / "c.db", 12)["patient"]


def test_demo_data_is_realistic_and_consistent_with_the_rules(db_path: Path) -> None:
    session = open_session(db_path, user="nurse", clock=lambda: FIXED_NOW)
    try:
        summary = generate(session, patients=300, seed=3, today=TODAY)
        assert summary.patients == 300 and set(summary.by_study) == set(session.studies)
        assert 0 < summary.screen_failed < summary.enrolled < 300
        assert summary.randomized > 0 and summary.ended > 0 and summary.visits > 0
        # Every enrolled patient carries the version of the protocol it was enrolled under.
        assert session.db.execute_sql(
            "SELECT count(*) FROM patient p JOIN protocol_version v ON v.id = "
            "p.protocol_version_id AND v.study_key = p.study_key").fetchone()[0] == (
            summary.enrolled)
        service = PatientService(session)
        days = [r[0] for r in session.db.execute_sql("SELECT created_on FROM patient")]
        assert min(days) < "2021-01-01" and max(days) <= TODAY.isoformat()
        # Every stored outcome is what the eligibility rules say about the stored facts.
        for (uid,) in session.db.execute_sql("SELECT uid FROM patient LIMIT 80").fetchall():
            latest = service.latest_screening(uid)
            assert latest is not None
            assert service.evaluate(uid, latest).outcome == latest.outcome
        log = service.screening_log("NCT04933669")
        assert log.screen_failed > 0 and sum(log.failures_by_criterion.values()) >= \
            log.screen_failed
        assert all(e.reasons for e in log.entries if e.status == "screen_failed")
        # Randomizations follow the study's list: anyone with the seed can check each one.
        seed = Keyring(session.tracker).seed("NCT03862768")
        assert seed is not None
        study = session.studies["NCT03862768"]
        for row in Randomization.select():
            assert row.arm_code == allocation_at(study.allocation, ["A", "B"], seed,
                                                 row.stratum, row.position)
        # Bulk writes are audited like single ones: one entry per record with all values,
        # and the whole trail verifies.
        inserts = AuditLog.select().where((AuditLog.table_name == "patient")
                                          & (AuditLog.action == "insert"))
        assert inserts.count() == 300
        assert all(len(json.loads(a.new_value)) >= 6 for a in inserts)
        assert verify(session.db).ok
        # And the service continues the same list afterwards.
        set_site(session, "SITE")
        patient = eligible_patient(service, "NCT03862768")
        result = service.enroll(patient.uid, today=TODAY, rng=random.Random(0))
        position = Randomization.select().where(Randomization.stratum == "site=SITE").count()
        assert result.arm_code == allocation_at(study.allocation, ["A", "B"], seed,
                                                "site=SITE", position - 1)
    finally:
        session.close()


def test_cli_demo_accepts_db_after_the_subcommand(db_path: Path, capsys: Any) -> None:
    path = db_path
    assert main(["demo", "--db", str(path), "--patients", "25", "--seed", "5",
                 "--today", "2026-03-14"]) == 0
    assert "25 patients added" in capsys.readouterr().out
    assert main(["--db", str(path), "patients", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 25 and rows[0]["patient"] == "SITE-0001"
    assert {r["status"] for r in rows} <= {"screened", "screen failed", "enrolled", "withdrawn",
                                           "lost to follow-up", "died", "completed"}
    assert main(["demo", "--db", str(path), "--patients", "-1"]) == 2
    assert capsys.readouterr().err.startswith("gisttracker: --patients must be")
    assert date.fromisoformat(rows[-1]["enrolled_on"] or "2026-01-01") <= TODAY


def test_demo_history_looks_like_a_working_site(session: Session) -> None:
    """After the enrichers: anchors entered, visits dated, the past mostly done in window."""
    from gisttracker.services.visits import VisitService
    from gisttracker.store.models_course import Surgery
    from gisttracker.store.models_visits import AnchorDate, Visit

    today = date(2026, 3, 11)
    generate(session, patients=120, seed=5, today=today)
    assert AnchorDate.select().where(AnchorDate.anchor_key == "surgery").count() > 10
    assert Surgery.select().count() > 10
    past = Visit.select().where(Visit.window_end < today)
    settled = past.where(Visit.state.in_(("done", "missed", "cancelled"))).count()
    assert settled / past.count() > 0.8
    done = list(past.where(Visit.state == "done"))
    in_window = [v for v in done if v.window_start <= v.done_on <= v.window_end]
    assert 0.8 < len(in_window) / len(done) < 1.0  # a few protocol deviations, not many
    assert all(v.done_on <= today for v in done)
    items = VisitService(session).worklist(date(2026, 3, 9), date(2026, 3, 15), today=today)
    assert items and {i.status.status for i in items} & {"due", "overdue"}
