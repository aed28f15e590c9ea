"""Accounts: the first administrator, signing in (with lockout), passwords, roles.

Passwords are hashed with Argon2id (argon2-cffi's :class:`PasswordHasher`, parameters kept
in each hash). After ``sign_in_attempts`` wrong passwords in a row (a site setting, default
5) an account is locked for ``lockout_minutes`` (default 15); an administrator can unlock it
sooner. A wrong user name and a wrong password get the same message, and an unknown name
still costs one hash, so neither reveals which accounts exist.

Signing in also unwraps the site's allocation key for accounts that may randomize, and
creates or re-wraps it where needed (see :mod:`gisttracker.services.concealment`).

Every change here is an audited write like any other; sign-in bookkeeping is written as a
*system* actor with only the permission it needs, named ``(sign-in)`` for a failure (the
person typing is not known to be the account holder) and by the account for a success.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gisttracker.i18n import _
from gisttracker.services.base import PermissionDenied, ServiceError, Tracker, Writer, service
from gisttracker.services.claims import claim
from gisttracker.services.common import fk_id
from gisttracker.services.concealment import OPEN_PREFIX, Keyring, _unb64
from gisttracker.services.policy import (
    ROLE_LABELS,
    ROLE_PERMISSIONS,
    Actor,
    Permission,
    Role,
    account_actor,
    system_actor,
)
from gisttracker.services.settings import SettingsService
from gisttracker.store.models_accounts import Account

# argon2-cffi's defaults: RFC 9106's second recommended option (t=3, 64 MiB, p=4).
HASHER = PasswordHasher()
NAME_PATTERN = re.compile(r"[a-z][a-z0-9._-]{1,31}")
MIN_PASSWORD = 10
SIGN_IN_ACTOR = "(sign-in)"


class SignInError(ServiceError):
    """Wrong name or password, a locked or deactivated account."""


@dataclass(frozen=True)
class AccountRow:
    uid: str
    name: str
    full_name: str
    role: Role
    active: bool
    locked_until: str | None
    holds_allocation_key: bool
    version: int

    @property
    def role_label(self) -> str:
        return _(ROLE_LABELS[self.role])


def check_password(password: str) -> None:
    """ServiceError unless ``password`` is acceptable as a new password."""
    if len(password) < MIN_PASSWORD:
        raise ServiceError(_("a password needs at least {n} characters").format(
            n=MIN_PASSWORD))
    if password.strip() != password:
        raise ServiceError(_("a password may not begin or end with a space"))


def _check_name(name: str) -> str:
    clean = name.strip().lower()
    if not NAME_PATTERN.fullmatch(clean):
        raise ServiceError(_("a user name is 2–32 lower-case letters, digits, '.', '_' or "
                             "'-', starting with a letter"))
    return clean


def _role(role: str | Role) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise ServiceError(_("unknown role {role!r} (roles: {known})").format(
            role=role, known=", ".join(r.value for r in Role))) from None


def _system(name: str, *permissions: Permission) -> Actor:
    return system_actor(name, *permissions)


@service
class AccountService:
    """Accounts of one open site."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self.keyring = Keyring(tracker)

    # ----- reading -------------------------------------------------------------------
    @staticmethod
    def has_accounts() -> bool:
        return bool(Account.select().exists())

    def accounts(self) -> list[AccountRow]:
        """Every account, by name (administrators only: who may do what is not public)."""
        self.tracker.require(Permission.MANAGE_USERS)
        from gisttracker.store.models_accounts import KeyWrap

        holders = {fk_id(k, "account") for k in KeyWrap.select(KeyWrap.account).where(
            KeyWrap.account.is_null(False))}
        return [AccountRow(str(a.uid), str(a.name), str(a.full_name), Role(a.role),
                           bool(a.active), a.locked_until, a.id in holders, int(a.version))
                for a in Account.select().order_by(Account.name)]

    @staticmethod
    def _find(name: str) -> Account | None:
        return Account.get_or_none(Account.name == name.strip().lower())

    def _get(self, name: str) -> Account:
        account = self._find(name)
        if account is None:
            raise ServiceError(_("no account {name!r}").format(name=name))
        return account

    def _setting(self, key: str) -> int:
        return int(SettingsService(self.tracker).get(key))

    # ----- the first administrator -------------------------------------------------------
    def create_first_administrator(self, name: str, full_name: str, password: str) -> Actor:
        """Create the administrator of a site without accounts and sign them in.

        The site's allocation key (open until now, or new) is wrapped for this account and
        the open copy removed. Refused once the site has an account.
        """
        name = _check_name(name)
        check_password(password)
        if not full_name.strip():
            raise ServiceError(_("give the administrator's full name"))
        already = ServiceError(_("this site already has accounts; an administrator adds new "
                                 "ones"))
        if self.has_accounts():
            raise already
        writer_actor = _system(name, Permission.MANAGE_USERS)
        key: bytes | None = None
        with self.tracker.transaction(_("first administrator created"),
                                      actor=writer_actor) as w:
            # Again under the claim: two workstations opening a new site at once would
            # otherwise make two first administrators, each sealing a new allocation key.
            claim(w, "administrators")
            if self.has_accounts():
                raise already
            account = w.insert(Account, name=name, full_name=full_name.strip(),
                               role=Role.ADMINISTRATOR.value,
                               password_hash=HASHER.hash(password), active=True,
                               failed_sign_ins=0, password_changed_at=w.at, created_at=w.at)
            open_wrap = self.keyring.open_wrap()
            if open_wrap is not None:
                key = _unb64(str(open_wrap.wrapped)[len(OPEN_PREFIX):])
            elif not self.keyring.any_wrap():
                key = AESGCM.generate_key(bit_length=256)
            if key is not None:
                self.keyring.store_wrap(w, account, key, password)
            if open_wrap is not None:
                w.delete(open_wrap, reason=_("allocation key sealed for the administrator; "
                                             "the open copy is removed"))
        actor = account_actor(name, str(account.full_name), Role.ADMINISTRATOR.value,
                              str(account.uid), key)
        self.tracker.sign_in(actor)
        return actor

    # ----- signing in ----------------------------------------------------------------
    def sign_in(self, name: str, password: str, *, switch: bool = True) -> Actor:
        """Check ``name`` and ``password``; the signed-in actor (also made the tracker's
        actor unless ``switch`` is False). :class:`SignInError` otherwise."""
        now = self.tracker.now()
        account = self._find(name) if name.strip() else None
        wrong = SignInError(_("the user name or the password is wrong"))
        if account is None:
            # The same work as for a real account, so timing tells nothing.
            with contextlib.suppress(VerificationError):
                HASHER.verify(_dummy_hash(), password)
            raise wrong
        if account.locked_until and datetime.fromisoformat(account.locked_until) > now:
            raise SignInError(_("{name} is locked after too many wrong passwords until {when} "
                                "(UTC); an administrator can unlock it sooner").format(
                name=account.name, when=account.locked_until[:16].replace("T", " ")))
        if not self._password_ok(account, password):
            self._failed(account, now)
            raise wrong
        if not account.active:
            raise SignInError(_("{name} is deactivated; ask the administrator").format(
                name=account.name))
        key = self._unlock_key(account, password)
        actor = account_actor(str(account.name), str(account.full_name), str(account.role),
                              str(account.uid), key)
        # A read-only copy (an archive, a network share) is signed into without a write:
        # nothing to reset there, and nothing could be.
        if not self.tracker.read_only and (
                account.failed_sign_ins or account.locked_until
                or HASHER.check_needs_rehash(str(account.password_hash))):
            with self.tracker.transaction(_("signed in"), actor=_system(
                    str(account.name), Permission.MANAGE_USERS)) as w:
                changes: dict[str, object] = {"failed_sign_ins": 0, "locked_until": None}
                if HASHER.check_needs_rehash(str(account.password_hash)):
                    changes["password_hash"] = HASHER.hash(password)
                w.update(account, changes, expected_version=None)
        if switch:
            self.tracker.sign_in(actor)
        return actor

    @staticmethod
    def _password_ok(account: Account, password: str) -> bool:
        try:
            return bool(HASHER.verify(str(account.password_hash), password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def _failed(self, account: Account, now: datetime) -> None:
        if self.tracker.read_only:
            return  # a read-only copy cannot count; it cannot be changed either
        limit = self._setting("sign_in_attempts")
        minutes = self._setting("lockout_minutes")
        with self.tracker.transaction(_("wrong password"), actor=_system(
                SIGN_IN_ACTOR, Permission.MANAGE_USERS)) as w:
            fresh = Account.get_by_id(account.id)  # counted inside the write lock
            attempts = int(fresh.failed_sign_ins) + 1
            if attempts >= limit:
                until = (now + timedelta(minutes=minutes)).isoformat(timespec="seconds")
                w.update(fresh, {"failed_sign_ins": 0, "locked_until": until},
                         reason=_("locked after {limit} wrong passwords").format(limit=limit))
            else:
                w.update(fresh, {"failed_sign_ins": attempts},
                         reason=_("wrong password ({n} of {limit})").format(
                             n=attempts, limit=limit))

    def _unlock_key(self, account: Account, password: str) -> bytes | None:
        """The allocation key for an account that may randomize: unwrapped, or created or
        taken over from the open copy when the site has none sealed yet."""
        if Permission.RANDOMIZE not in ROLE_PERMISSIONS[Role(account.role)]:
            return None
        key = self.keyring.unwrap_for(account, password)
        if key is not None or self.tracker.read_only:
            return key
        open_wrap = self.keyring.open_wrap()
        if open_wrap is None and self.keyring.any_wrap():
            return None  # sealed for others: an administrator grants it with a new password
        with self.tracker.transaction(_("allocation key sealed at sign-in"), actor=_system(
                str(account.name), Permission.MANAGE_USERS)) as w:
            # Looked at again under the claim: two accounts signing in at once on a site
            # without a sealed key would otherwise each make a key of their own.
            claim(w, "allocation_key")
            open_wrap = self.keyring.open_wrap()
            if open_wrap is None and self.keyring.any_wrap():
                return None  # sealed meanwhile, for another account
            if open_wrap is not None:
                key = _unb64(str(open_wrap.wrapped)[len(OPEN_PREFIX):])
                w.delete(open_wrap)
            else:
                key = AESGCM.generate_key(bit_length=256)
            self.keyring.store_wrap(w, account, key, password)
        return key

    def verify_password(self, password: str) -> Actor:
        """Re-check the signed-in account's password (an electronic signature); a wrong one
        counts towards the lockout. Returns the actor."""
        actor = self.tracker.actor
        if actor is None or not actor.is_account:
            raise PermissionDenied(_("a signature needs a signed-in account"))
        account = self._get(actor.name)
        if not account.active:
            raise SignInError(_("{name} is deactivated").format(name=account.name))
        now = self.tracker.now()
        if account.locked_until and datetime.fromisoformat(account.locked_until) > now:
            raise SignInError(_("{name} is locked after too many wrong passwords").format(
                name=account.name))
        if not self._password_ok(account, password):
            self._failed(account, now)
            raise SignInError(_("the password is wrong"))
        return actor

    # ----- administration ------------------------------------------------------------
    def create(self, name: str, full_name: str, role: str | Role, password: str) -> AccountRow:
        """A new account (administrator only). An account that may randomize receives the
        allocation key, wrapped with ``password``."""
        admin = self.tracker.require(Permission.MANAGE_USERS)
        name = _check_name(name)
        new_role = _role(role)
        check_password(password)
        if not full_name.strip():
            raise ServiceError(_("give the person's full name"))
        with self.tracker.transaction(_("account created")) as w:
            # Checked under the claim of the name: on SQLite a second workstation's insert
            # would otherwise end in the unique index's raw error.
            claim(w, "account_name", name)
            if self._find(name) is not None:
                raise ServiceError(_("an account {name!r} exists already").format(name=name))
            account = w.insert(Account, name=name, full_name=full_name.strip(),
                               role=new_role.value, password_hash=HASHER.hash(password),
                               active=True, failed_sign_ins=0, password_changed_at=w.at,
                               created_at=w.at)
            self._grant(w, admin, account, new_role, password)
        return self._row(account)

    def _grant(self, w: Writer, admin: Actor, account: Account, role: Role,
               password: str) -> None:
        if Permission.RANDOMIZE in ROLE_PERMISSIONS[role]:
            key = admin.allocation_key
            if key is None and not admin.is_account and self.keyring.open_wrap() is not None:
                wrap = self.keyring.open_wrap()
                assert wrap is not None
                key = _unb64(str(wrap.wrapped)[len(OPEN_PREFIX):])
            if key is not None:
                self.keyring.store_wrap(w, account, key, password)
        else:
            self.keyring.drop_wrap(w, account)

    def _row(self, account: Account) -> AccountRow:
        fresh = Account.get_by_id(account.id)
        return next(r for r in self.accounts() if r.uid == fresh.uid)

    def change_password(self, old: str, new: str) -> None:
        """The signed-in account changes its own password; its allocation key is re-wrapped."""
        actor = self.tracker.actor
        if actor is None or not actor.is_account:
            raise PermissionDenied(_("sign in with your account to change its password"))
        account = self._get(actor.name)
        if not self._password_ok(account, old):
            self._failed(account, self.tracker.now())
            raise SignInError(_("the current password is wrong"))
        check_password(new)
        if new == old:
            raise ServiceError(_("the new password is the same as the old one"))
        with self.tracker.transaction(_("password changed by its owner"), actor=_system(
                actor.name, Permission.MANAGE_USERS)) as w:
            w.update(account, {"password_hash": HASHER.hash(new), "password_changed_at": w.at,
                               "failed_sign_ins": 0, "locked_until": None})
            if actor.allocation_key is not None:
                self.keyring.store_wrap(w, account, actor.allocation_key, new)

    def reset_password(self, name: str, new: str, *, reason: str | None = None) -> None:
        """An administrator sets another account's password (and grants the allocation key
        to an account that may randomize)."""
        admin = self.tracker.require(Permission.MANAGE_USERS)
        account = self._get(name)
        check_password(new)
        with self.tracker.transaction(reason or _("password reset by an administrator")) as w:
            w.update(account, {"password_hash": HASHER.hash(new), "password_changed_at": w.at,
                               "failed_sign_ins": 0, "locked_until": None})
            self._grant(w, admin, account, Role(account.role), new)

    def set_role(self, name: str, role: str | Role, *, reason: str | None = None) -> None:
        """Change an account's role. The last active administrator keeps that role. An
        account that may no longer randomize loses its copy of the allocation key; one that
        now may receives it with its next password reset."""
        self.tracker.require(Permission.MANAGE_USERS)
        account = self._get(name)
        new_role = _role(role)
        with self.tracker.transaction(reason or _("role changed")) as w:
            if account.role == Role.ADMINISTRATOR.value and new_role != Role.ADMINISTRATOR:
                self._keep_an_administrator(w, account)
            w.update(account, {"role": new_role.value})
            if Permission.RANDOMIZE not in ROLE_PERMISSIONS[new_role]:
                self.keyring.drop_wrap(w, account)

    def set_active(self, name: str, active: bool, *, reason: str | None = None) -> None:
        """Deactivate (or reactivate) an account; a deactivated account cannot sign in and
        loses its copy of the allocation key."""
        self.tracker.require(Permission.MANAGE_USERS)
        account = self._get(name)
        with self.tracker.transaction(reason or (_("account reactivated") if active
                                                 else _("account deactivated"))) as w:
            if not active and account.role == Role.ADMINISTRATOR.value:
                self._keep_an_administrator(w, account)
            w.update(account, {"active": active})
            if not active:
                self.keyring.drop_wrap(w, account)

    def unlock(self, name: str, *, reason: str | None = None) -> None:
        """Lift a lockout after wrong passwords."""
        self.tracker.require(Permission.MANAGE_USERS)
        account = self._get(name)
        with self.tracker.transaction(reason or _("account unlocked by an administrator")) as w:
            w.update(account, {"failed_sign_ins": 0, "locked_until": None})

    @staticmethod
    def _keep_an_administrator(w: Writer, account: Account) -> None:
        """Refuse to demote or deactivate ``account`` when it is the last active
        administrator. Inside the transaction that writes, after the claim every demotion and
        deactivation of an administrator takes (:mod:`~gisttracker.services.claims`): two
        administrators demoting each other at once cannot both see the other one still
        active. (``account`` itself is written with its version checked, so a change to it
        meanwhile is refused as stale.)"""
        claim(w, "administrators")
        others = Account.select().where(
            (Account.role == Role.ADMINISTRATOR.value) & (Account.active == True)  # noqa: E712 (a comparison: the server wants a boolean)
            & (Account.id != account.id)).count()
        if not others:
            raise ServiceError(_("{name} is the last active administrator; make another "
                                 "administrator first").format(name=account.name))


_DUMMY: dict[str, str] = {}


def _dummy_hash() -> str:
    """A valid hash (with today's parameters) verified against for an unknown user name."""
    params = f"{HASHER.time_cost},{HASHER.memory_cost},{HASHER.parallelism}"
    if params not in _DUMMY:
        _DUMMY[params] = HASHER.hash("not a password: unknown user name padding")
    return _DUMMY[params]
