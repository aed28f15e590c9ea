"""Who may do what: roles, permissions, and the one table that says which permission each
kind of write needs.

The check is central. :class:`gisttracker.services.base.Writer` asks :func:`write_permissions`
before every insert, update and delete, so a service written by anyone is covered without a
line of its own; services whose tables hold several kinds of action (queries: raise, answer,
close) also call :func:`require` for the one they do. The window reads the same table
(:meth:`Actor.can`) to hide or disable what a role cannot do — for convenience only: the
services refuse regardless.

Actors. A signed-in :class:`Actor` comes from :meth:`AccountService.sign_in` and carries its
role. Two kinds exist for code, never for people:

* ``trusted`` — :func:`gisttracker.session.open_session` given a plain user name by Python
  code that already holds the file (tests, scripts, migrations). It may do everything: code
  with the file in hand could write it directly anyway, so a check would protect nothing.
  The command line and the window never create one.
* ``bootstrap`` — the command line on a site that has no accounts yet (before
  ``gisttracker users init``); named ``(site setup)`` in the audit trail. Once the site has
  an account, every command signs in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from gisttracker.i18n import N_, _


class Role(StrEnum):
    ADMINISTRATOR = "administrator"
    INVESTIGATOR = "investigator"
    NURSE = "nurse"
    MONITOR = "monitor"
    READ_ONLY = "read_only"


ROLE_LABELS: Mapping[Role, str] = {
    Role.ADMINISTRATOR: N_("Administrator"),
    Role.INVESTIGATOR: N_("Investigator"),
    Role.NURSE: N_("Research nurse / data entry"),
    Role.MONITOR: N_("Monitor"),
    Role.READ_ONLY: N_("Read only"),
}


class Permission(StrEnum):
    VIEW_DATA = "view_data"
    VIEW_IDENTIFIERS = "view_identifiers"  # names, record numbers, dates of birth
    VIEW_AUDIT = "view_audit"
    ENTER_DATA = "enter_data"
    RANDOMIZE = "randomize"  # holds the allocation key
    SIGN = "sign"
    UNLOCK = "unlock"  # remove a signature, with a reason
    VERIFY = "verify"  # source data verification
    RAISE_QUERY = "raise_query"
    ANSWER_QUERY = "answer_query"
    CLOSE_QUERY = "close_query"
    MANAGE_USERS = "manage_users"
    MANAGE_SETTINGS = "manage_settings"
    REVEAL_ALLOCATION = "reveal_allocation"


PERMISSION_LABELS: Mapping[Permission, str] = {
    Permission.VIEW_DATA: N_("see study data"),
    Permission.VIEW_IDENTIFIERS: N_("see names, record numbers and dates of birth"),
    Permission.VIEW_AUDIT: N_("see the audit trail"),
    Permission.ENTER_DATA: N_("enter and correct data"),
    Permission.RANDOMIZE: N_("enroll and randomize patients"),
    Permission.SIGN: N_("sign visits, forms and casebooks"),
    Permission.UNLOCK: N_("unlock signed data"),
    Permission.VERIFY: N_("mark data as source-verified"),
    Permission.RAISE_QUERY: N_("raise queries"),
    Permission.ANSWER_QUERY: N_("answer queries"),
    Permission.CLOSE_QUERY: N_("close queries"),
    Permission.MANAGE_USERS: N_("manage user accounts"),
    Permission.MANAGE_SETTINGS: N_("change site settings"),
    Permission.REVEAL_ALLOCATION: N_("reveal the allocation list"),
}

P = Permission
_READ = frozenset({P.VIEW_DATA, P.VIEW_AUDIT})

ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    # The administrator runs the site: accounts, settings, the allocation key. At a small
    # site the same person coordinates the study, so data entry is allowed too; signing is
    # the investigator's alone.
    Role.ADMINISTRATOR: _READ | {P.VIEW_IDENTIFIERS, P.ENTER_DATA, P.RANDOMIZE, P.UNLOCK,
                                 P.MANAGE_USERS, P.MANAGE_SETTINGS, P.REVEAL_ALLOCATION},
    Role.INVESTIGATOR: _READ | {P.VIEW_IDENTIFIERS, P.ENTER_DATA, P.RANDOMIZE, P.SIGN,
                                P.UNLOCK, P.ANSWER_QUERY},
    Role.NURSE: _READ | {P.VIEW_IDENTIFIERS, P.ENTER_DATA, P.RANDOMIZE, P.ANSWER_QUERY},
    # A monitor compares the record with the hospital's source documents, so sees
    # identifiers, but changes no study data.
    Role.MONITOR: _READ | {P.VIEW_IDENTIFIERS, P.VERIFY, P.RAISE_QUERY, P.CLOSE_QUERY},
    Role.READ_ONLY: _READ,
}

ALL_PERMISSIONS = frozenset(Permission)

# Which permission a write of each table needs, per action ("*" = any action). A table not
# listed is study data: ENTER_DATA. A set means any one of them will do (the service then
# requires the precise one itself).
TABLE_WRITES: Mapping[str, Mapping[str, frozenset[Permission]]] = {
    "setting": {"*": frozenset({P.MANAGE_SETTINGS})},
    "account": {"*": frozenset({P.MANAGE_USERS})},
    "key_wrap": {"*": frozenset({P.MANAGE_USERS})},
    "randomization": {"*": frozenset({P.RANDOMIZE})},
    "randomization_seed": {"*": frozenset({P.RANDOMIZE})},
    "signature": {"insert": frozenset({P.SIGN}), "update": frozenset({P.SIGN}),
                  "delete": frozenset({P.UNLOCK})},
    "source_verification": {"*": frozenset({P.VERIFY})},
    "data_query": {"*": frozenset({P.RAISE_QUERY, P.ANSWER_QUERY, P.CLOSE_QUERY})},
    "security_event": {"*": ALL_PERMISSIONS},  # whoever triggers the event records it
    # Data exchange: registering a site's key is the administrator's; a package sent is
    # recorded by whoever makes it; a package received (a centre's import, which merges
    # a site's records) needs the administrator; resolving a conflict changes study data.
    "exchange_site": {"*": frozenset({P.MANAGE_SETTINGS})},
    "exchange_package": {"*": frozenset({P.ENTER_DATA, P.MANAGE_SETTINGS})},
    "exchange_conflict": {"insert": frozenset({P.MANAGE_SETTINGS}),
                          "*": frozenset({P.ENTER_DATA})},
}
STUDY_DATA = frozenset({P.ENTER_DATA})


def write_permissions(table: str, action: str) -> frozenset[Permission]:
    """The permissions, any one of which allows ``action`` (insert/update/delete) on
    ``table``."""
    rule = TABLE_WRITES.get(table)
    if rule is None:
        return STUDY_DATA
    return rule.get(action) or rule.get("*") or STUDY_DATA


class PermissionDenied(Exception):
    """Placeholder replaced below (kept for the type checker's forward reference)."""


@dataclass(frozen=True)
class Actor:
    """Who is acting. ``kind``: ``account`` (signed in), ``trusted`` or ``bootstrap``
    (see the module docstring), or ``system`` (bookkeeping of sign-ins, limited to
    ``permissions``). ``allocation_key`` is the unwrapped allocation key of an account that
    may randomize (held in memory only; never shown)."""

    name: str
    full_name: str = ""
    role: Role | None = None
    kind: str = "account"
    account_uid: str | None = None
    permissions: frozenset[Permission] = field(default=frozenset())
    allocation_key: bytes | None = field(default=None, repr=False, compare=False)

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    def can_any(self, permissions: frozenset[Permission]) -> bool:
        return bool(self.permissions & permissions)

    @property
    def is_account(self) -> bool:
        return self.kind == "account"

    @property
    def role_label(self) -> str:
        return _(ROLE_LABELS[self.role]) if self.role is not None else self.kind

    def with_key(self, key: bytes | None) -> Actor:
        return Actor(self.name, self.full_name, self.role, self.kind, self.account_uid,
                     self.permissions, key)


def account_actor(name: str, full_name: str, role: str, account_uid: str,
                  allocation_key: bytes | None = None) -> Actor:
    r = Role(role)
    return Actor(name, full_name, r, "account", account_uid, ROLE_PERMISSIONS[r],
                 allocation_key)


def trusted_actor(name: str) -> Actor:
    """For Python code that already holds the file (tests, scripts): may do everything."""
    return Actor(name, name, None, "trusted", None, ALL_PERMISSIONS)


def system_actor(name: str, *permissions: Permission) -> Actor:
    """A step of the program's own bookkeeping, allowed only ``permissions`` (the sign-in
    counters, recording the protocol file in force at open)."""
    return Actor(name, name, None, "system", None, frozenset(permissions))


# Who records, at open, which protocol file is in force when nobody is signed in yet.
REGISTRATION = "(protocol registration)"

BOOTSTRAP_NAME = "(site setup)"


def bootstrap_actor() -> Actor:
    """The command line on a site with no accounts yet."""
    return Actor(BOOTSTRAP_NAME, BOOTSTRAP_NAME, None, "bootstrap", None, ALL_PERMISSIONS)


def describe(permission: Permission) -> str:
    return _(PERMISSION_LABELS[permission])
