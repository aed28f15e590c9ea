"""Source data verification (SDV): a monitor marks a visit, a form or a casebook as checked
against the hospital's source documents.

The mark records who and when, and the audit trail's head at that moment; if any record
under it changes afterwards, :meth:`VerificationService.status` says so (the mark is then
*out of date* until the monitor verifies again). Marking, re-marking and removing a mark
are audited writes; only a monitor may make them.
"""

from __future__ import annotations

from dataclasses import dataclass

from gisttracker.i18n import _
from gisttracker.services.audit import head
from gisttracker.services.base import ServiceError, service
from gisttracker.services.policy import Permission
from gisttracker.services.scopes import Target, resolve, versions
from gisttracker.session import Session
from gisttracker.store.chain import uid_key
from gisttracker.store.models_accounts import SourceVerification


@dataclass(frozen=True)
class VerificationInfo:
    uid: str
    scope: str
    target_uid: str
    verified_by: str
    verified_at: str
    audit_head: int | None
    changed_since: bool

    def describe(self) -> str:
        text = _("Source-verified by {user} on {when} UTC").format(
            user=self.verified_by, when=self.verified_at[:16].replace("T", " "))
        if self.changed_since:
            text += " " + _("(changed since: verify again)")
        return text


@service
class VerificationService:
    """Source data verification of one open site."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.tracker = session.tracker

    def target(self, scope: str, ref: str) -> Target:
        return resolve(self.session.db, scope, ref)

    def verify(self, scope: str, ref: str) -> VerificationInfo:
        """Mark the casebook of patient ``ref`` or the visit / form ``ref`` as verified now
        (again, if it was verified before)."""
        self.tracker.require(Permission.VERIFY)
        target = self.target(scope, ref)
        with self.tracker.transaction(_("source data verified")) as w:
            head_id, _hash = head(self.session.db)
            row = SourceVerification.get_or_none(
                (SourceVerification.scope == scope)
                & (SourceVerification.target_uid == target.uid))
            if row is None:
                w.insert(SourceVerification, patient_uid=target.patient_uid,
                         patient_ref=target.patient_uid, scope=scope,
                         target_uid=target.uid, verified_by=w.user, verified_at=w.at,
                         audit_head=head_id)
            else:
                w.update(row, {"verified_by": w.user, "verified_at": w.at,
                               "audit_head": head_id}, patient_uid=target.patient_uid)
        info = self.status(scope, target.uid)
        assert info is not None
        return info

    def remove(self, scope: str, ref: str, reason: str) -> None:
        """Withdraw a verification mark (with a reason)."""
        self.tracker.require(Permission.VERIFY)
        if not (reason and reason.strip()):
            raise ServiceError(_("say why the verification is withdrawn"))
        target = self.target(scope, ref)
        with self.tracker.transaction(reason.strip()) as w:
            row = SourceVerification.get_or_none(
                (SourceVerification.scope == scope)
                & (SourceVerification.target_uid == target.uid))
            if row is None:
                raise ServiceError(_("{what} is not marked as verified").format(
                    what=target.label))
            w.delete(row, patient_uid=target.patient_uid)

    def status(self, scope: str, target_uid: str) -> VerificationInfo | None:
        """The verification mark of a casebook, visit or form, and whether anything under
        it changed since."""
        row = SourceVerification.get_or_none((SourceVerification.scope == scope)
                                             & (SourceVerification.target_uid == target_uid))
        if row is None:
            return None
        changed = self._changed_since(scope, target_uid, row.audit_head or 0,
                                      str(row.patient_ref))
        return VerificationInfo(str(row.uid), scope, target_uid, str(row.verified_by),
                                str(row.verified_at), row.audit_head, changed)

    def _changed_since(self, scope: str, target_uid: str, since: int,
                       patient_uid: str) -> bool:
        db = self.session.db
        if scope == "casebook":
            row = db.execute_sql(
                "SELECT 1 FROM audit_entry e JOIN audit_record r ON r.id = e.record "
                "WHERE e.id > ? AND r.patient = (SELECT id FROM audit_record WHERE "
                "record_key = ?) AND r.table_name NOT IN ('source_verification', 'signature', "
                "'data_query') LIMIT 1", (since, uid_key(patient_uid))).fetchone()
            return row is not None
        uids = list(versions(db, scope, target_uid))
        for start in range(0, len(uids), 500):
            chunk = uids[start:start + 500]
            marks = ", ".join("?" for _u in chunk)
            found = db.execute_sql(
                "SELECT 1 FROM audit_entry e JOIN audit_record r ON r.id = e.record "
                f"WHERE e.id > ? AND r.record_key IN ({marks}) LIMIT 1",
                [since, *[uid_key(u) for u in chunk]]).fetchone()
            if found is not None:
                return True
        return False
