"""``gisttracker centre …``: the coordinating centre's side of site packages.

``trust SITE KEYFILE`` registers a site's public key; ``sites`` lists them; ``import
PACKAGE…`` merges packages (all of each or nothing); ``conflicts`` lists fields changed both
at a site and here; ``resolve ID --keep site|centre --reason TEXT`` settles one.
"""

from __future__ import annotations

import argparse
from typing import Any

from gisttracker.cli.common import add_json_flag
from gisttracker.i18n import _


def register(sub: Any) -> None:
    parser = sub.add_parser("centre", help=_(
        "coordinating centre: register sites, import their packages, resolve conflicts"))
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True,
                                    parser_class=type(parser))
    trust = actions.add_parser("trust", help=_("register a site's public key"))
    trust.add_argument("site", metavar="SITE", help=_("the site code, e.g. ZJU"))
    trust.add_argument("keyfile", metavar="KEYFILE", help=_(
        "the site's public key file (gisttracker export key at the site)"))
    trust.add_argument("--replace", action="store_true", help=_(
        "replace the key registered for this site (needs --reason)"))
    trust.add_argument("--reason", help=_("why the key is replaced"))
    sites = actions.add_parser("sites", help=_("the registered sites"))
    add_json_flag(sites)
    imp = actions.add_parser("import", help=_("import site packages"))
    imp.add_argument("packages", nargs="+", metavar="PACKAGE", help=_("package files"))
    conflicts = actions.add_parser("conflicts", help=_(
        "fields changed both at a site and at the centre"))
    conflicts.add_argument("--all", action="store_true", help=_("resolved ones too"))
    add_json_flag(conflicts)
    resolve = actions.add_parser("resolve", help=_("settle a conflict"))
    resolve.add_argument("conflict", type=int, metavar="ID", help=_("the conflict's number"))
    resolve.add_argument("--keep", required=True, choices=("site", "centre"), help=_(
        "whose value stays"))
    resolve.add_argument("--reason", required=True, help=_("why (kept in the audit trail)"))
    for p in (trust, sites, imp, conflicts, resolve):
        p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from gisttracker.cli.common import session

    s = session(args)
    try:
        return int(_ACTIONS[args.action](s, args))
    finally:
        s.close()


def _trust(s: Any, args: argparse.Namespace) -> int:
    from pathlib import Path

    from gisttracker.cli import fail
    from gisttracker.services.exchange.centre import trust_site

    try:
        text = Path(args.keyfile).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(_("cannot read {path}: {error}").format(path=args.keyfile, error=exc))
    key, changed = trust_site(s, args.site, text, replace=args.replace, reason=args.reason)
    if changed:
        print(_("Site {site} registered (key fingerprint {fp}: check it with the site by "
                "telephone)").format(site=key.site_code, fp=key.fingerprint))
    else:
        print(_("Site {site} was already registered with this key").format(site=key.site_code))
    return 0


def _sites(s: Any, args: argparse.Namespace) -> int:
    from gisttracker.cli.common import print_json, print_table
    from gisttracker.exchange.keys import PublicKey
    from gisttracker.services.exchange.centre import trusted_sites

    rows = [[str(x.site_code), str(x.site_name or ""), str(x.trusted_on),
             PublicKey(x.site_code, bytes.fromhex(x.public_key)).fingerprint]
            for x in trusted_sites()]
    if args.json:
        print_json([dict(zip(("site", "name", "since", "fingerprint"), r, strict=True))
                    for r in rows])
    else:
        print_table([_("Site"), _("Name"), _("Registered"), _("Key fingerprint")], rows)
    return 0


def _import(s: Any, args: argparse.Namespace) -> int:
    from pathlib import Path

    from gisttracker.services.exchange.centre import import_package

    for name in args.packages:
        result = import_package(s, Path(name).expanduser())
        if result.superseded_by is not None:
            print(_("{file}: package {site} #{seq} is older than #{later}, which was imported "
                    "already; nothing changed").format(file=name, site=result.site_code,
                                                       seq=result.seq, later=result.superseded_by))
            continue
        if result.already:
            print(_("{file}: package {site} #{seq} was imported before; nothing changed").format(
                file=name, site=result.site_code, seq=result.seq))
            continue
        print(_("{file}: package {site} #{seq} imported: {added} records added, {updated} "
                "updated, {deleted} deleted, {audit} audit rows, {conflicts} conflicts").format(
            file=name, site=result.site_code, seq=result.seq,
            added=sum(result.added.values()), updated=sum(result.updated.values()),
            deleted=result.deleted, audit=result.audit_rows, conflicts=result.conflicts))
    return 0


def _conflicts(s: Any, args: argparse.Namespace) -> int:
    from gisttracker.cli.common import print_json, print_table
    from gisttracker.services.exchange.centre import list_conflicts

    rows = list_conflicts(open_only=not args.all)
    if args.json:
        print_json([r.__dict__ for r in rows])
        return 0
    if not rows:
        print(_("No open conflicts."))
        return 0
    print_table([_("ID"), _("Site"), _("Patient"), _("Table"), _("Field"), _("Site's value"),
                 _("Centre's value"), _("State")],
                [[str(r.id), f"{r.site_code} #{r.package_seq}", r.patient or "", r.table_name,
                  r.field, _show(r.site_value), _show(r.centre_value),
                  r.state if r.kept is None else f"{r.state} ({r.kept})"] for r in rows])
    return 0


def _show(value: Any) -> str:
    return "—" if value is None else str(value)


def _resolve(s: Any, args: argparse.Namespace) -> int:
    from gisttracker.services.exchange.centre import resolve_conflict

    resolve_conflict(s, args.conflict, args.keep, args.reason)
    text = (_("Conflict {id} resolved: the site's value is kept") if args.keep == "site"
            else _("Conflict {id} resolved: the centre's value is kept"))
    print(text.format(id=args.conflict))
    return 0


_ACTIONS = {"trust": _trust, "sites": _sites, "import": _import, "conflicts": _conflicts,
            "resolve": _resolve}
