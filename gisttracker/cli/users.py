"""``gisttracker users …``: the first administrator, and accounts for an administrator.

``users init`` creates the administrator of a new site (asking for the password twice at
the terminal, or reading it once from ``--password-fd``). The other subcommands sign in as
``--user`` first, like every command; new passwords are asked for at the terminal or read
from ``--new-password-fd`` — never given as an argument.
"""

from __future__ import annotations

import argparse
from typing import Any

from gisttracker.cli import fail
from gisttracker.cli.auth import read_password
from gisttracker.cli.common import add_json_flag, print_json, print_table, session
from gisttracker.i18n import _

# The roles' names (gisttracker.services.policy.Role, which the service checks), here so
# that building the parser imports no service (tests/core/test_cli_imports.py).
ROLE_NAMES = ("administrator", "investigator", "nurse", "monitor", "read_only")


def register(sub: Any) -> None:
    parser = sub.add_parser("users", help=_("create the administrator; manage accounts"))
    users = parser.add_subparsers(dest="users_command", metavar="ACTION",
                                  parser_class=type(parser))
    users.required = True
    roles = ", ".join(ROLE_NAMES)

    p = users.add_parser("init", help=_("create the administrator of a site without accounts"))
    p.add_argument("--name", required=True, help=_("the administrator's user name"))
    p.add_argument("--full-name", required=True, help=_("the administrator's full name"))
    p.set_defaults(handler=run_init)

    p = users.add_parser("list", help=_("list the accounts"))
    add_json_flag(p)
    p.set_defaults(handler=run_list)

    p = users.add_parser("add", help=_("add an account (the password is asked for)"))
    p.add_argument("name")
    p.add_argument("--full-name", required=True)
    p.add_argument("--role", required=True, help=_("one of: {roles}").format(roles=roles))
    _new_password_fd(p)
    p.set_defaults(handler=run_add)

    p = users.add_parser("passwd", help=_("change your password, or (administrator) reset "
                                          "another account's"))
    p.add_argument("name", nargs="?", help=_("the account to reset (default: your own)"))
    _new_password_fd(p)
    p.set_defaults(handler=run_passwd)

    p = users.add_parser("set-role", help=_("change an account's role"))
    p.add_argument("name")
    p.add_argument("role", help=_("one of: {roles}").format(roles=roles))
    p.set_defaults(handler=run_set_role)

    for action, text in (("deactivate", _("stop an account from signing in")),
                         ("activate", _("let a deactivated account sign in again")),
                         ("unlock", _("lift a lockout after wrong passwords"))):
        p = users.add_parser(action, help=text)
        p.add_argument("name")
        p.set_defaults(handler=run_state, action=action)


def _new_password_fd(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--new-password-fd", type=int, metavar="N", help=_(
        "read the new password from file descriptor N (one line) instead of the terminal"))


def _new_password(args: argparse.Namespace, fd_option: str = "new_password_fd") -> str:
    first = read_password(args, _("New password: "), fd_option=fd_option)
    if getattr(args, fd_option, None) is None:
        again = read_password(args, _("The new password again: "), fd_option=fd_option)
        if again != first:
            fail(_("the two passwords differ; nothing was changed"))
    return first


def run_init(args: argparse.Namespace) -> int:
    from gisttracker.services.accounts import AccountService

    s = session(args, sign_in=False)
    try:
        service = AccountService(s.tracker)
        if service.has_accounts():
            fail(_("this site already has accounts; an administrator adds new ones with "
                   "`gisttracker users add`"))
        password = _new_password(args, "password_fd")
        actor = service.create_first_administrator(args.name, args.full_name, password)
    finally:
        s.close()
    print(_("administrator {name} created; from now on every command signs in "
            "(--user {name})").format(name=actor.name))
    return 0


def run_list(args: argparse.Namespace) -> int:
    from gisttracker.services.accounts import AccountService

    s = session(args)
    try:
        rows = AccountService(s.tracker).accounts()
    finally:
        s.close()
    if args.json:
        print_json([{"name": r.name, "full_name": r.full_name, "role": r.role.value,
                     "active": r.active, "locked_until": r.locked_until,
                     "holds_allocation_key": r.holds_allocation_key} for r in rows])
        return 0
    print_table([_("name"), _("full name"), _("role"), _("state"), _("allocation key")],
                [[r.name, r.full_name, r.role_label,
                  (_("active") if r.active else _("deactivated"))
                  + (" · " + _("locked until {when}").format(when=r.locked_until[:16])
                     if r.locked_until else ""),
                  _("yes") if r.holds_allocation_key else "—"] for r in rows])
    return 0


def run_add(args: argparse.Namespace) -> int:
    from gisttracker.services.accounts import AccountService

    s = session(args)
    try:
        password = _new_password(args)
        row = AccountService(s.tracker).create(args.name, args.full_name, args.role, password)
    finally:
        s.close()
    print(_("account {name} ({role}) created").format(name=row.name, role=row.role_label))
    return 0


def run_passwd(args: argparse.Namespace) -> int:
    from gisttracker.services.accounts import AccountService

    s = session(args)
    try:
        service = AccountService(s.tracker)
        actor = s.tracker.actor
        assert actor is not None
        if args.name and args.name.strip().lower() != actor.name:
            service.reset_password(args.name, _new_password(args))
            message = _("password of {name} reset").format(name=args.name)
        else:
            if not actor.is_account:
                fail(_("this site has no accounts yet: create the administrator with "
                       "`gisttracker users init`"))
            old = getattr(args, "signed_in_password", None) or read_password(
                args, _("Current password: "))
            service.change_password(old, _new_password(args))
            message = _("your password was changed")
    finally:
        s.close()
    print(message)
    return 0


def run_set_role(args: argparse.Namespace) -> int:
    from gisttracker.services.accounts import AccountService

    s = session(args)
    try:
        AccountService(s.tracker).set_role(args.name, args.role)
    finally:
        s.close()
    print(_("{name} is now {role}").format(name=args.name, role=args.role))
    return 0


def run_state(args: argparse.Namespace) -> int:
    from gisttracker.services.accounts import AccountService

    s = session(args)
    try:
        service = AccountService(s.tracker)
        if args.action == "unlock":
            service.unlock(args.name)
        else:
            service.set_active(args.name, args.action == "activate")
    finally:
        s.close()
    print(_("{name}: done").format(name=args.name))
    return 0
