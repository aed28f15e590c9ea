"""``gisttracker import odm FILE``: subjects, visits and form data from a CDISC ODM 1.3.2
snapshot, checked against this site's protocols; all of it or nothing (``--dry-run`` only
checks, ``--skip-refused`` imports the subjects that pass and lists the others)."""

from __future__ import annotations

import argparse
from typing import Any

from gisttracker.i18n import _


def register(sub: Any) -> None:
    parser = sub.add_parser("import", help=_("import clinical data from a CDISC ODM file"))
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True,
                                  parser_class=type(parser))
    odm = kinds.add_parser("odm", help=_("a CDISC ODM 1.3.2 snapshot file"))
    odm.add_argument("file", metavar="FILE", help=_("the ODM file"))
    odm.add_argument("--dry-run", action="store_true", help=_(
        "check everything, write nothing"))
    odm.add_argument("--skip-refused", action="store_true", help=_(
        "import the subjects that pass; list the refused ones (default: import nothing "
        "unless every subject passes)"))
    odm.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from gisttracker.cli.common import session
    from gisttracker.services.exchange.odm_import import import_odm, summary

    s = session(args)
    try:
        report = import_odm(s, Path(args.file).expanduser(), dry_run=args.dry_run,
                            skip_refused=args.skip_refused)
    finally:
        s.close()
    for refusal in report.refused:
        print(_("refused: {what}").format(what=refusal), file=sys.stderr)
    print(summary(report))
    return 1 if report.refused and not report.written else 0
