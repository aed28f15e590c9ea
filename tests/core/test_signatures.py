"""Electronic signatures and locks (sign → locked → unlock with a reason → changeable, all
audited), source data verification, and queries from open to closed."""

from __future__ import annotations

import json
import os
from datetime import date
from typing import Any

import pytest

from gisttracker.cli import main
from gisttracker.services.accounts import SignInError
from gisttracker.services.base import (
    PermissionDenied,
    RecordLocked,
    ServiceError,
    StaleRecordError,
)
from gisttracker.services.forms import FormService
from gisttracker.services.patients import PatientService
from gisttracker.services.queries import QueryService
from gisttracker.services.signatures import SignatureService
from gisttracker.services.verification import VerificationService
from gisttracker.store.models import AuditLog
from gisttracker.store.models_accounts import Account
from tests.core.accounts_helpers import PASSWORD, TODAY, sign_in, site
from tests.core.forms_fixtures import make_patient, make_visit
from tests.helpers import FIXED_NOW

__all__ = ["site"]


@pytest.fixture
def visit(site: Any) -> Any:
    """A patient with a visit whose physical examination form is complete (by nora)."""
    sign_in(site, "nora")
    patient = make_patient(site)
    v = make_visit(site, patient, "baseline")
    forms = FormService(site)
    forms.save_answers(v.uid, "physical_exam", {"weight_kg": "71.5", "ecog": 1})
    forms.complete(v.uid, "physical_exam", today=TODAY)
    return v


def test_signature_and_lock_round_trip(site: Any, visit: Any) -> None:
    forms = FormService(site)
    form_uid = forms.load(visit.uid, "physical_exam").form_uid
    assert form_uid is not None
    signatures = SignatureService(site)
    # Only an investigator signs, and only with the right password.
    with pytest.raises(PermissionDenied):
        signatures.sign("form", form_uid, PASSWORD)
    sign_in(site, "ines")
    with pytest.raises(SignInError, match="password is wrong"):
        signatures.sign("form", form_uid, "not my password")
    assert Account.get(Account.name == "ines").failed_sign_ins == 1
    signed = signatures.sign("form", form_uid, PASSWORD)
    assert (signed.signer, signed.signer_name, signed.meaning_label) == (
        "ines", "Ines Test", "reviewed and approved")
    assert signed.signed_at == FIXED_NOW.isoformat(timespec="seconds")
    assert signed.describe() == ("Signed by Ines Test (ines) on 2026-03-14 09:30 UTC: "
                                 "reviewed and approved")
    assert signed.audit_head and signed.audit_hash and len(signed.audit_hash) == 64
    assert signatures.lock("form", form_uid) == signed
    with pytest.raises(ServiceError, match="already signed"):
        signatures.sign("form", form_uid, PASSWORD)

    # Signed data is locked for everyone, whatever the reason given.
    sign_in(site, "nora")
    with pytest.raises(RecordLocked, match="signed by Ines Test"):
        forms.save_answers(visit.uid, "physical_exam", {"weight_kg": "72"},
                           reason="weighed again")
    assert forms.load(visit.uid, "physical_exam").values["weight_kg"] == 71.5
    # The rest of the visit is not under this signature.
    forms.save_answers(visit.uid, "qlq_c30", {"1": 2})

    # Unlocking: not by a nurse, never without a reason; it removes the signature.
    with pytest.raises(PermissionDenied):
        signatures.unlock("form", form_uid, "weight mistyped")
    sign_in(site, "ines")
    with pytest.raises(ServiceError, match="say why"):
        signatures.unlock("form", form_uid, "  ")
    signatures.unlock("form", form_uid, "weight mistyped: 72 kg in the source")
    assert signatures.lock("form", form_uid) is None
    removed = AuditLog.get((AuditLog.table_name == "signature")
                           & (AuditLog.action == "delete"))
    assert (removed.user, removed.reason) == ("ines", "weight mistyped: 72 kg in the source")
    assert json.loads(removed.old_value)["signer"] == "ines"

    sign_in(site, "nora")
    forms.save_answers(visit.uid, "physical_exam", {"weight_kg": "72"},
                       reason="weighed again")
    assert forms.load(visit.uid, "physical_exam").values["weight_kg"] == 72


def test_a_visit_or_casebook_signature_locks_everything_under_it(site: Any,
                                                                   visit: Any) -> None:
    forms = FormService(site)
    sign_in(site, "ines")
    SignatureService(site).sign("visit", visit.uid, PASSWORD)
    sign_in(site, "nora")
    with pytest.raises(RecordLocked, match="the visit"):
        forms.save_lab(visit.uid, "alt", 30, "U/L", uln=40, today=TODAY)
    with pytest.raises(RecordLocked):
        forms.save_answers(visit.uid, "qlq_c30", {"1": 2})
    other = make_visit(site, PatientService(site).get("ZJU-0001"), "fu_m3",
                       planned_on=date(2026, 6, 10))
    forms.save_answers(other.uid, "qlq_c30", {"1": 2})  # another visit: not locked
    sign_in(site, "ines")
    SignatureService(site).sign("casebook", "ZJU-0001", PASSWORD)
    sign_in(site, "nora")
    with pytest.raises(RecordLocked, match="the casebook"):
        forms.save_answers(other.uid, "qlq_c30", {"2": 2})
    with pytest.raises(RecordLocked):
        PatientService(site).update_sex("ZJU-0001", "female", reason="typo")
    infos = SignatureService(site).signatures("ZJU-0001")
    assert [i.scope for i in infos] == ["visit", "casebook"]


def test_the_casebook_pdf_shows_who_signed_and_verified(site: Any, visit: Any,
                                                        tmp_path: Any) -> None:
    from pypdf import PdfReader

    from gisttracker.reports import ReportRequest, build

    form_uid = FormService(site).load(visit.uid, "physical_exam").form_uid
    assert form_uid is not None
    sign_in(site, "mona")
    VerificationService(site).verify("form", form_uid)
    sign_in(site, "ines")
    SignatureService(site).sign("casebook", "ZJU-0001", PASSWORD)
    out = tmp_path / "casebook.pdf"
    build(site, ReportRequest("casebook", patient="ZJU-0001"), today=TODAY,
          generated_at=FIXED_NOW).write(out)
    text = " ".join(" ".join((page.extract_text() or "").split())
                    for page in PdfReader(out).pages)
    assert "Signatures and source verification" in text
    assert "Ines Test (ines)" in text and "reviewed and approved" in text
    assert "source-verified" in text and "physical_exam" in text
    assert "2026-03-14 09:30" in text


def test_source_verification_goes_out_of_date_when_the_data_changes(site: Any,
                                                                    visit: Any) -> None:
    forms = FormService(site)
    form_uid = forms.load(visit.uid, "physical_exam").form_uid
    assert form_uid is not None
    sdv = VerificationService(site)
    with pytest.raises(PermissionDenied):
        sdv.verify("form", form_uid)
    sign_in(site, "mona")
    mark = sdv.verify("form", form_uid)
    assert (mark.verified_by, mark.changed_since) == ("mona", False)
    sign_in(site, "nora")
    forms.save_answers(visit.uid, "physical_exam", {"ecog": 0}, reason="ECOG 0 in source")
    status = sdv.status("form", form_uid)
    assert status is not None and status.changed_since
    assert "changed since" in status.describe()
    sign_in(site, "mona")
    again = sdv.verify("form", form_uid)
    assert not again.changed_since
    sdv.remove("form", form_uid, "verified the wrong visit")
    assert sdv.status("form", form_uid) is None
    steps = [(a.action, a.user) for a in AuditLog.select().where(
        AuditLog.table_name == "source_verification").order_by(AuditLog.id)]
    assert steps == [("insert", "mona"), ("update", "mona"), ("delete", "mona")]


def test_a_query_goes_from_open_to_answered_to_closed(site: Any, visit: Any,
                                                      capsys: Any) -> None:
    queries = QueryService(site)
    sign_in(site, "mona")
    form = FormService(site).load(visit.uid, "physical_exam")
    targets = queries.targets("ZJU-0001")
    weight = next(t for t in targets if t.table == "form_value" and t.value == '71.5')
    q = queries.raise_query("ZJU-0001", weight.table, weight.record_uid, weight.field,
                            "Weight 71.5 kg or 75.1 kg in the clinic notes?")
    assert (q.code, q.state, q.value_seen, q.raised_by) == ("Q-0001", "open", "71.5", "mona")
    assert form.form_uid
    with pytest.raises(PermissionDenied):
        queries.answer("Q-0001", "75.1")
    sign_in(site, "nora")
    with pytest.raises(PermissionDenied):
        queries.close("Q-0001")
    answered = queries.answer("Q-0001", "71.5 kg, as in the clinic notes of 10 March")
    assert (answered.state, answered.answered_by) == ("answered", "nora")
    with pytest.raises(ServiceError, match="only an open query"):
        queries.answer("Q-0001", "again")
    sign_in(site, "mona")
    reopened = queries.reopen("Q-0001", "Please attach the page number.")
    assert reopened.state == "open" and "page number" in reopened.question
    sign_in(site, "nora")
    queries.answer("q-0001", "Page 3 of the clinic notes")
    sign_in(site, "mona")
    closed = queries.close("Q-0001", "confirmed")
    assert (closed.state, closed.closed_by, closed.close_note) == ("closed", "mona",
                                                                   "confirmed")
    assert queries.counts() == {"open": 0, "answered": 0, "closed": 1}
    assert [q.code for q in queries.queries(state="closed")] == ["Q-0001"]
    states = [json.loads(a.new_value) for a in AuditLog.select().where(
        (AuditLog.table_name == "data_query") & (AuditLog.field == "state")).order_by(
        AuditLog.id)]
    assert states == ["answered", "open", "answered", "closed"]
    # The command line lists them too (as the monitor, signed in).
    read, write = os.pipe()
    os.write(write, (PASSWORD + "\n").encode())
    os.close(write)
    try:
        assert main(["--db", str(site.path), "--user", "mona", "--password-fd", str(read),
                     "queries", "--json"]) == 0
    finally:
        os.close(read)
    listed = json.loads(capsys.readouterr().out)
    assert [(r["query"], r["state"], r["patient"]) for r in listed] == [
        ("Q-0001", "closed", "ZJU-0001")]


def test_a_query_answer_based_on_an_old_version_is_refused(site: Any, visit: Any) -> None:
    queries = QueryService(site)
    sign_in(site, "mona")
    patient = PatientService(site).get("ZJU-0001")
    q = queries.raise_query("ZJU-0001", "patient", str(patient.uid), "sex", "Sex?")
    sign_in(site, "nora")
    queries.answer(q.code, "male", expected_version=q.version)
    sign_in(site, "mona")
    queries.reopen(q.code, "Are you sure?")
    sign_in(site, "ines")
    with pytest.raises(StaleRecordError, match="changed by someone else"):
        queries.answer(q.code, "yes", expected_version=q.version)
