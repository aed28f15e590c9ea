"""``gisttracker settings get [KEY]`` and ``gisttracker settings set KEY VALUE [--reason R]
[--yes]``: the site settings (site code, site name, paper size, language), audited.

Changing the site code once patients exist says what it means — existing patients keep
their identifiers, new ones are numbered under the new code, and a randomization stratified
by site starts a new stratum — and is done only with ``--yes`` and a ``--reason``.
"""

from __future__ import annotations

import argparse
from typing import Any

from gisttracker.cli.common import add_json_flag, print_json, print_table, session
from gisttracker.i18n import _

#: The keys of :data:`gisttracker.services.settings.SPECS`, spelled out here because building
#: the parser may not import the service (and the ORM behind it); a test keeps them equal.
KEYS = ("backup_every_hours", "backup_folder", "backup_keep", "idle_lock_minutes", "language",
        "lockout_minutes", "paper", "sign_in_attempts", "site_code", "site_name")


def register(sub: Any) -> None:
    parser = sub.add_parser("settings", help=_("show or change the site settings"))
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True,
                                    parser_class=type(parser))
    get = actions.add_parser("get", help=_("show one setting, or all of them"))
    get.add_argument("key", nargs="?", choices=KEYS, metavar="KEY",
                     help=_("one of: {keys}").format(keys=", ".join(KEYS)))
    add_json_flag(get)
    get.set_defaults(handler=run_get)
    put = actions.add_parser("set", help=_("change a setting (audited)"))
    put.add_argument("key", choices=KEYS, metavar="KEY",
                     help=_("one of: {keys}").format(keys=", ".join(KEYS)))
    put.add_argument("value", metavar="VALUE")
    put.add_argument("--reason", help=_("why it changes (kept in the audit trail)"))
    put.add_argument("--yes", action="store_true", help=_(
        "confirm a change that concerns data already recorded (the site code once patients "
        "exist)"))
    put.set_defaults(handler=run_set)


def run_get(args: argparse.Namespace) -> int:
    from gisttracker.services.settings import SPECS, SettingsService

    s = session(args)
    try:
        values = SettingsService(s.tracker, s.studies.values()).all()
    finally:
        s.close()
    if args.key:
        print(values[args.key])
        return 0
    if args.json:
        print_json(values)
    else:
        print_table([_("Setting"), _("Key"), _("Value")],
                    [[_(SPECS[k].label), k, v] for k, v in values.items()])
    return 0


def run_set(args: argparse.Namespace) -> int:
    from gisttracker.cli import fail
    from gisttracker.services.settings import SPECS, SettingsService

    s = session(args)
    try:
        service = SettingsService(s.tracker, s.studies.values())
        problem = service.validate(args.key, args.value)
        if problem:
            fail(problem)
        note = service.change_note(args.key, args.value)
        if note is not None and not args.yes:
            fail(note + " " + _("Run again with --yes and --reason to change it."))
        service.set(args.key, args.value, reason=args.reason, confirmed=args.yes)
        print(_("{label} set to {value}").format(label=_(SPECS[args.key].label),
                                                 value=args.value))
    finally:
        s.close()
    return 0
