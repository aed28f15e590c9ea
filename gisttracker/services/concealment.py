"""Concealed allocation: the randomization seed is sealed, and only accounts that may
randomize can open it.

Threat model (also in ``docs/ARCHITECTURE.md``). Whoever knows a randomized study's seed
and the (published) algorithm can compute every future allocation, so a person able to
read the database file — a colleague at the workstation, a copied backup — must not learn
the seed from it. The design:

* Each study's seed is encrypted with the site's *allocation key* (256-bit AES-GCM, with the
  study key as associated data) in ``randomization_seed.sealed``; next to it a *commitment*,
  SHA-256 of the seed, which shows later that a revealed seed is the one used. The audit
  trail records the sealed text and the commitment, never the seed.
* The allocation key is never stored in clear on a site with accounts. It is *wrapped*
  (AES-GCM) once per account allowed to randomize, under a key derived from that account's
  password with Argon2id (``key_wrap``). Signing in unwraps it into memory
  (:attr:`Actor.allocation_key`); a monitor or read-only account never holds it.
* It is re-wrapped when the account's password changes, and wrapped for another account
  when an administrator (who holds it) sets that account's password (creating it or
  resetting it). Changing an account to a role that may not randomize removes its wrap.
* A site with no accounts yet (a new site used from the command line, or a site upgraded
  from schema 6) keeps the key in an *open* wrap: no better than the clear seed it replaces
  and said so. Creating the administrator wraps it for that account and deletes the open
  wrap; from then on the file alone does not reveal the seed.
* An administrator can reveal the seed and re-derive the allocation list
  (``gisttracker allocation reveal``); each reveal is a recorded security event.

What this does not protect against: someone who knows a randomizing account's password
(they can sign in), malware running as a signed-in user (the key is in memory), and a weak
password (the Argon2id cost slows guessing, it cannot make a guessable password safe).
Losing every randomizing account's password loses the key, and with it the rest of the
allocation list: keep two administrator accounts.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from typing import Any

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gisttracker.i18n import _
from gisttracker.services.base import PermissionDenied, ServiceError, Tracker, Writer
from gisttracker.services.policy import Actor, Permission
from gisttracker.store.models_accounts import Account, KeyWrap
from gisttracker.store.models_patients import RandomizationSeed

PURPOSE = "allocation"
OPEN_PREFIX = "open:"


@dataclass(frozen=True)
class KdfParams:
    """Argon2id parameters for the key-encryption key (memory in KiB)."""

    time_cost: int = 3
    memory_cost: int = 65536
    parallelism: int = 4


# RFC 9106's second recommended option (64 MiB, 3 passes), as argon2-cffi's default.
KDF = KdfParams()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def new_kdf(params: KdfParams | None = None) -> str:
    """A fresh KDF description: ``argon2id$t=..,m=..,p=..$<salt>``."""
    p = params or KDF
    return f"argon2id$t={p.time_cost},m={p.memory_cost},p={p.parallelism}${_b64(os.urandom(16))}"


def derive_kek(password: str, kdf: str) -> bytes:
    """The 256-bit key-encryption key for ``password`` under the KDF description ``kdf``."""
    name, params, salt = kdf.split("$")
    if name != "argon2id":
        raise ValueError(f"unknown key derivation {name!r}")
    values = dict(part.split("=") for part in params.split(","))
    return hash_secret_raw(password.encode("utf-8"), _unb64(salt),
                           time_cost=int(values["t"]), memory_cost=int(values["m"]),
                           parallelism=int(values["p"]), hash_len=32, type=Type.ID)


def _aad(account_uid: str) -> bytes:
    return f"gisttracker key wrap v1:{PURPOSE}:{account_uid}".encode()


def wrap_key(key: bytes, password: str, account_uid: str) -> tuple[str, str]:
    """``(kdf, wrapped)`` for storing ``key`` for the account with ``password``."""
    kdf = new_kdf()
    nonce = os.urandom(12)
    sealed = AESGCM(derive_kek(password, kdf)).encrypt(nonce, key, _aad(account_uid))
    return kdf, "v1:" + _b64(nonce + sealed)


def unwrap_key(wrapped: str, kdf: str | None, password: str, account_uid: str) -> bytes | None:
    """The key, or None when the password (or the stored wrap) does not open it."""
    if not wrapped.startswith("v1:") or not kdf:
        return None
    blob = _unb64(wrapped[3:])
    try:
        return AESGCM(derive_kek(password, kdf)).decrypt(blob[:12], blob[12:],
                                                          _aad(account_uid))
    except (InvalidTag, ValueError):
        return None


def seed_commitment(study_key: str, seed: str) -> str:
    """SHA-256 digest committing to ``seed`` (the same as migration 8 computes)."""
    return hashlib.sha256(
        f"gisttracker seed commitment v1:{study_key}:{seed}".encode()).hexdigest()


def seal_seed(key: bytes, study_key: str, seed: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, seed.encode("utf-8"),
                                 f"gisttracker seed v1:{study_key}".encode())
    return "v1:" + _b64(nonce + sealed)


def open_seed(key: bytes, study_key: str, sealed: str) -> str:
    if not sealed.startswith("v1:"):
        raise ServiceError(_("the sealed seed of {study} is not in a known format").format(
            study=study_key))
    blob = _unb64(sealed[3:])
    try:
        return AESGCM(key).decrypt(blob[:12], blob[12:],
                                   f"gisttracker seed v1:{study_key}".encode()).decode("utf-8")
    except InvalidTag:
        raise ServiceError(_("the seed of {study} cannot be opened with this allocation key; "
                             "the file may have been altered").format(study=study_key)) from None


class Keyring:
    """The allocation key of one open site, as the acting account may use it."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    @staticmethod
    def has_accounts() -> bool:
        return bool(Account.select().exists())

    @staticmethod
    def open_wrap() -> KeyWrap | None:
        return KeyWrap.get_or_none((KeyWrap.purpose == PURPOSE) & KeyWrap.account.is_null())

    @staticmethod
    def any_wrap() -> bool:
        return bool(KeyWrap.select().where(KeyWrap.purpose == PURPOSE).exists())

    def key(self, actor: Actor | None = None, *, create: bool = False) -> bytes:
        """The allocation key for ``actor`` (default: the signed-in one).

        An account uses the key it unwrapped at sign-in. Code (trusted, bootstrap) uses the
        open key of a site without accounts; with ``create`` such a site gets one when it
        has none. Anything else is refused with a message saying what to do.
        """
        who = actor or self.tracker.actor
        if who is None:
            raise PermissionDenied(_("nobody is signed in: sign in first"))
        if not who.can(Permission.RANDOMIZE):
            raise PermissionDenied(_("{user} ({role}) may not enroll or randomize "
                                     "patients").format(user=who.name, role=who.role_label))
        if who.allocation_key is not None:
            return who.allocation_key
        if who.is_account:
            raise ServiceError(_(
                "{user} does not hold the allocation key yet: ask the administrator to reset "
                "your password, which grants it").format(user=who.name))
        wrap = self.open_wrap()
        if wrap is not None:
            return _unb64(wrap.wrapped[len(OPEN_PREFIX):])
        if self.has_accounts() or self.any_wrap():
            raise ServiceError(_("the allocation key of this site is sealed: sign in with an "
                                 "account that may randomize"))
        if not create:
            raise ServiceError(_("this site has no allocation key yet"))
        key = AESGCM.generate_key(bit_length=256)
        with self.tracker.transaction(_("allocation key created (no accounts yet: stored "
                                        "open until the administrator is created)")) as w:
            w.insert(KeyWrap, purpose=PURPOSE, kdf=None,
                     wrapped=OPEN_PREFIX + _b64(key), created_at=w.at)
        return key

    def seed(self, study_key: str) -> str | None:
        """The clear seed of ``study_key`` (None if the study has none yet)."""
        record = RandomizationSeed.get_or_none(RandomizationSeed.study_key == study_key)
        if record is None:
            return None
        return open_seed(self.key(), study_key, str(record.sealed))

    def sealed_row(self, study_key: str, seed: str) -> dict[str, str]:
        """The columns of a new ``randomization_seed`` row for ``seed``."""
        key = self.key(create=True)
        return {"study_key": study_key, "sealed": seal_seed(key, study_key, seed),
                "commitment": seed_commitment(study_key, seed)}

    # ----- wraps for accounts (the accounts service calls these) ---------------------------
    @staticmethod
    def store_wrap(w: Writer, account: Account, key: bytes, password: str) -> None:
        """Wrap ``key`` for ``account`` with ``password``, replacing its old wrap."""
        kdf, wrapped = wrap_key(key, password, str(account.uid))
        old = KeyWrap.get_or_none((KeyWrap.purpose == PURPOSE)
                                  & (KeyWrap.account == account.id))
        if old is None:
            w.insert(KeyWrap, account=account.id, purpose=PURPOSE, kdf=kdf, wrapped=wrapped,
                     created_at=w.at)
        else:
            w.update(old, {"kdf": kdf, "wrapped": wrapped, "created_at": w.at})

    @staticmethod
    def drop_wrap(w: Writer, account: Account) -> None:
        old = KeyWrap.get_or_none((KeyWrap.purpose == PURPOSE)
                                  & (KeyWrap.account == account.id))
        if old is not None:
            w.delete(old)

    @staticmethod
    def unwrap_for(account: Account, password: str) -> bytes | None:
        wrap = KeyWrap.get_or_none((KeyWrap.purpose == PURPOSE)
                                   & (KeyWrap.account == account.id))
        if wrap is None:
            return None
        return unwrap_key(str(wrap.wrapped), wrap.kdf, password, str(account.uid))


@dataclass(frozen=True)
class RevealedSlot:
    stratum: str
    position: int
    arm_code: str
    number: str | None  # the randomization made at this position, if any
    patient: str | None
    made_arm: str | None  # the arm recorded for it (differs from arm_code: tampering)


@dataclass(frozen=True)
class AllocationReveal:
    study_key: str
    seed: str
    commitment: str
    commitment_ok: bool
    slots: tuple[RevealedSlot, ...]

    @property
    def mismatches(self) -> tuple[RevealedSlot, ...]:
        return tuple(s for s in self.slots if s.made_arm is not None
                     and s.made_arm != s.arm_code)


def reveal(session: object, study_key: str, *, ahead: int = 0) -> AllocationReveal:
    """The administrator opens a study's seed, checks it against its commitment, and
    re-derives its allocation list: every position made so far (with the arm recorded
    for it) and ``ahead`` positions more per stratum. Recorded as a security event."""
    from gisttracker.domain import allocation as alloc
    from gisttracker.session import Session
    from gisttracker.store.models_accounts import SecurityEvent

    assert isinstance(session, Session)
    tracker = session.tracker
    tracker.require(Permission.REVEAL_ALLOCATION)
    if ahead < 0 or ahead > 10_000:
        raise ServiceError(_("look ahead 0 to 10,000 positions"))
    try:
        study = session.studies[study_key]
    except KeyError:
        raise ServiceError(_("unknown study {key!r}").format(key=study_key)) from None
    record = RandomizationSeed.get_or_none(RandomizationSeed.study_key == study_key)
    if record is None:
        raise ServiceError(_("{study} has no randomization yet").format(study=study_key))
    keyring = Keyring(tracker)
    seed = open_seed(keyring.key(), study_key, str(record.sealed))
    made: dict[str, dict[int, tuple[str, str, str]]] = {}
    rows: list[tuple[Any, ...]] = session.db.execute_sql(
        "SELECT r.stratum, r.position, r.arm_code, r.number, p.study_id FROM randomization r "
        "JOIN patient p ON p.id = r.patient_id WHERE r.study_key = ?", (study_key,)).fetchall()
    for stratum, position, arm_code, number, study_id in rows:
        made.setdefault(str(stratum), {})[int(position)] = (str(arm_code), str(number),
                                                            str(study_id))
    arms = [a.code for a in study.arms]
    slots: list[RevealedSlot] = []
    for stratum in sorted(made):
        length = max(made[stratum]) + 1 + ahead
        codes = alloc.generate_list(arms, study.allocation.ratio, study.allocation.block_sizes,
                                    seed=alloc.stratum_seed(seed, stratum), length=length)
        for position in range(length):
            found = made[stratum].get(position)
            slots.append(RevealedSlot(stratum, position, codes[position],
                                      found[1] if found else None,
                                      found[2] if found else None,
                                      found[0] if found else None))
    with tracker.transaction(_("allocation list revealed")) as w:
        w.insert(SecurityEvent, kind="allocation_revealed",
                 detail=f"{study_key}; {ahead} positions ahead per stratum", at=w.at,
                 account=w.user)
    return AllocationReveal(study_key, seed, str(record.commitment),
                            seed_commitment(study_key, seed) == record.commitment,
                            tuple(slots))
