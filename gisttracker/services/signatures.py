"""Electronic signatures and the locks they put on data.

An investigator signs a visit, a form or a patient's casebook by entering the password
again. The signature records who (account, user name, full name), when (UTC), and what it
means ("reviewed and approved"), and the audit trail's head at that moment (entry id and
hash), which ties it to exactly the data that existed then.

While a signature exists, the data under it is locked: the writer
(:class:`gisttracker.services.base.Writer`) refuses any change there with
:class:`RecordLocked`. Unlocking needs a reason and deletes the signature; both the
signature and its removal stay in the audit trail. A casebook signature covers everything
recorded for the patient; a visit signature the visit with its forms, values, laboratory
results, adverse events and tumour assessments; a form signature the form and its values.
"""

from __future__ import annotations

from dataclasses import dataclass

from gisttracker.i18n import N_, _
from gisttracker.services.accounts import AccountService
from gisttracker.services.audit import head
from gisttracker.services.base import ServiceError, Writer, service
from gisttracker.services.claims import claim
from gisttracker.services.policy import Permission
from gisttracker.services.scopes import Target, resolve
from gisttracker.session import Session
from gisttracker.store.models_accounts import Signature
from gisttracker.store.server import is_server_db

MEANINGS = {"reviewed_approved": N_("reviewed and approved")}
DEFAULT_MEANING = "reviewed_approved"


@dataclass(frozen=True)
class SignatureInfo:
    uid: str
    scope: str
    target_uid: str
    patient_uid: str
    signer: str
    signer_name: str
    meaning: str  # key of MEANINGS
    signed_at: str  # UTC ISO
    audit_head: int | None
    audit_hash: str | None

    @property
    def meaning_label(self) -> str:
        return _(MEANINGS.get(self.meaning, self.meaning))

    def describe(self) -> str:
        return _("Signed by {name} ({user}) on {when} UTC: {meaning}").format(
            name=self.signer_name, user=self.signer,
            when=self.signed_at[:16].replace("T", " "), meaning=self.meaning_label)


def _info(row: Signature) -> SignatureInfo:
    return SignatureInfo(str(row.uid), str(row.scope), str(row.target_uid),
                         str(row.patient_ref), str(row.signer), str(row.signer_name),
                         str(row.meaning), str(row.signed_at), row.audit_head, row.audit_hash)


@service
class SignatureService:
    """Signatures of one open site."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.tracker = session.tracker

    def target(self, scope: str, ref: str) -> Target:
        return resolve(self.session.db, scope, ref)

    def sign(self, scope: str, ref: str, password: str, *,
             meaning: str = DEFAULT_MEANING) -> SignatureInfo:
        """Sign the casebook of patient ``ref``, or the visit / form with uid ``ref``.

        Needs the signing permission and the signed-in account's password (a wrong one
        counts towards the lockout). A form must be complete or marked not done first.
        """
        self.tracker.require(Permission.SIGN)
        if meaning not in MEANINGS:
            raise ServiceError(_("unknown signature meaning {meaning!r}").format(
                meaning=meaning))
        target = self.target(scope, ref)
        if scope == "form":
            self._check_form_settled(target.uid)
        actor = AccountService(self.tracker).verify_password(password)
        with self.tracker.transaction(_("signed: {meaning}").format(
                meaning=_(MEANINGS[meaning]))) as w:
            # Both checks again inside the transaction: the form's state with its row held
            # (reopened on another workstation meanwhile: waited for and seen), and an
            # earlier signature under the target's claim (two signing at once: the second
            # is told who signed, not the unique index's "try again").
            if scope == "form":
                self._check_form_settled(target.uid, w)
            claim(w, "signature", f"{scope}:{target.uid}")
            existing = Signature.get_or_none((Signature.scope == scope)
                                             & (Signature.target_uid == target.uid))
            if existing is not None:
                raise ServiceError(_("{what} is already signed: {signature}").format(
                    what=target.label, signature=_info(existing).describe()))
            head_id, head_hash = head(self.session.db)
            row = w.insert(Signature, patient_uid=target.patient_uid,
                           patient_ref=target.patient_uid, scope=scope,
                           target_uid=target.uid, account_uid=actor.account_uid or "",
                           signer=actor.name, signer_name=actor.full_name or actor.name,
                           meaning=meaning, signed_at=w.at, audit_head=head_id,
                           audit_hash=head_hash)
        return _info(row)

    def _check_form_settled(self, form_uid: str, w: Writer | None = None) -> None:
        """Refuse to sign a form that is neither complete nor marked not done; with the
        transaction's writer ``w``, its row is held until the commit (``FOR UPDATE`` on a
        server)."""
        lock = " FOR UPDATE" if w is not None and is_server_db(w.db) else ""
        state = self.session.db.execute_sql(f"SELECT state FROM form WHERE uid = ?{lock}",
                                            (form_uid,)).fetchone()
        if state is None or state[0] not in ("complete", "not_done"):
            raise ServiceError(_("complete the form (or mark it not done) before "
                                 "signing it"))

    def unlock(self, scope: str, ref: str, reason: str) -> None:
        """Remove the signature of the casebook / visit / form ``ref`` so its data can
        change again. ``reason`` is required and kept in the audit trail."""
        self.tracker.require(Permission.UNLOCK)
        if not (reason and reason.strip()):
            raise ServiceError(_("say why the signed data must change"))
        target = self.target(scope, ref)
        with self.tracker.transaction(reason.strip()) as w:
            row = Signature.get_or_none((Signature.scope == scope)
                                        & (Signature.target_uid == target.uid))
            if row is None:
                raise ServiceError(_("{what} is not signed").format(what=target.label))
            w.delete(row, patient_uid=target.patient_uid)

    def signatures(self, patient_ref: str) -> list[SignatureInfo]:
        """Every signature of the patient's data, oldest first."""
        patient_uid = self.target("casebook", patient_ref).patient_uid
        return [_info(r) for r in Signature.select().where(
            Signature.patient_ref == patient_uid).order_by(Signature.id)]

    @staticmethod
    def signature(scope: str, target_uid: str) -> SignatureInfo | None:
        row = Signature.get_or_none((Signature.scope == scope)
                                    & (Signature.target_uid == target_uid))
        return None if row is None else _info(row)

    def lock(self, scope: str, target_uid: str) -> SignatureInfo | None:
        """The signature that locks a casebook, visit or form: its own, or that of the visit
        or casebook it is part of. None when it can be changed."""
        target = self.target(scope, target_uid)
        found = self.signature(scope, target.uid)
        if found is not None:
            return found
        db = self.session.db
        if scope == "form":
            visit = db.execute_sql("SELECT v.uid FROM form f JOIN visit v ON v.id = f.visit_id "
                                   "WHERE f.uid = ?", (target.uid,)).fetchone()
            if visit is not None:
                found = self.signature("visit", visit[0])
                if found is not None:
                    return found
        if scope in ("form", "visit"):
            return self.signature("casebook", target.patient_uid)
        return None
