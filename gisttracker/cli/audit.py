"""``gisttracker audit verify`` (the full check of the audit trail) and ``audit log``.

``verify`` recomputes the hash chain and replays the trail against every audited table
(:func:`gisttracker.services.audit.verify`); it prints the head (entry id and hash) to
write down or compare with a signed casebook, and exits 1 naming the first entry or record
that does not match.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from gisttracker.cli.common import add_json_flag, print_json, print_table, session
from gisttracker.i18n import _


def register(sub: Any) -> None:
    parser = sub.add_parser("audit", help=_("verify or list the audit trail"))
    audit = parser.add_subparsers(dest="audit_command", metavar="ACTION",
                                  parser_class=type(parser))
    audit.required = True
    p = audit.add_parser("verify", help=_("check the hash chain and every table against the "
                                          "audit trail"))
    p.add_argument("--all", action="store_true", help=_("list every finding, not the first "
                                                        "ten"))
    add_json_flag(p)
    p.set_defaults(handler=run_verify)
    p = audit.add_parser("log", help=_("the audit trail of a patient or a record"))
    p.add_argument("--patient", metavar="ID", help=_("study identifier, e.g. ZJU-0007"))
    p.add_argument("--record", metavar="UID", help=_("a record's uid"))
    p.add_argument("--limit", type=int, default=200, metavar="N",
                   help=_("at most N entries, newest last (default 200)"))
    add_json_flag(p)
    p.set_defaults(handler=run_log)


def run_verify(args: argparse.Namespace) -> int:
    from gisttracker.services.audit import verify
    from gisttracker.services.policy import Permission

    s = session(args)
    try:
        s.tracker.require(Permission.VIEW_AUDIT)
        report = verify(s.db)
    finally:
        s.close()
    if args.json:
        print_json({"ok": report.ok, "entries": report.entries, "records": report.records,
                    "tables": report.tables, "head": {"id": report.head_id,
                                                      "hash": report.head_hash},
                    "seconds": round(report.seconds, 3),
                    "findings": [{"message": f.message, "entry": f.entry_id,
                                  "table": f.table, "record": f.record_uid}
                                 for f in report.findings]})
        return 0 if report.ok else 1
    print(report.summary())
    if not report.ok:
        shown = report.findings if args.all else report.findings[:10]
        for finding in shown:
            print(f"  {finding.message}")
        if len(shown) < len(report.findings):
            print("  " + _("… {n} more (--all lists them)").format(
                n=len(report.findings) - len(shown)))
        print(_("head #{head} {digest}").format(head=report.head_id, digest=report.head_hash))
        return 1
    print(_("head #{head} {digest}").format(head=report.head_id, digest=report.head_hash))
    return 0


def run_log(args: argparse.Namespace) -> int:
    from gisttracker.cli import fail
    from gisttracker.services.audit import entry_rows

    if not args.patient and not args.record:
        fail(_("give --patient ID or --record UID"))
    s = session(args)
    try:
        rows = entry_rows(s, patient_ref=args.patient, record_uid=args.record,
                          limit=args.limit)
    finally:
        s.close()
    if args.json:
        print_json([r.__dict__ for r in rows])
        return 0
    print_table([_("#"), _("when (UTC)"), _("who"), _("what"), _("field"), _("old"), _("new"),
                 _("reason")],
                [[str(r.entry_id), r.at[:16].replace("T", " "), r.user,
                  f"{r.action} {r.table}", r.field or "", _short(r.old), _short(r.new),
                  r.reason or ""] for r in rows])
    return 0


def _short(value: str | None) -> str:
    if value is None:
        return ""
    text = value if not value.startswith('"') else str(json.loads(value))
    return text if len(text) <= 40 else text[:39] + "…"
