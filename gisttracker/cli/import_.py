"""``gisttracker import odm FILE``: subjects, visits and form data from a CDISC ODM 1.3.2
snapshot, checked against this site's protocols; all of it or nothing (``--dry-run`` only
checks, ``--skip-refused`` imports the subjects that pass and lists the others).

``gisttracker import key FILE``: the site's signing key, exported on another workstation of
the same site (``export key --private``), so this one can sign the site's packages."""

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
    key = kinds.add_parser("key", help=_(
        "the site's private signing key, exported on another workstation of this site"))
    key.add_argument("file", metavar="FILE", help=_("the key file (export key --private)"))
    key.add_argument("--passphrase-fd", type=int, metavar="N", help=_(
        "read the key file's passphrase from file descriptor N (one line) instead of the "
        "terminal"))
    key.set_defaults(handler=run_key)


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


def run_key(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gisttracker.cli.auth import read_password
    from gisttracker.cli.common import session
    from gisttracker.services.exchange.site_keys import install_private_key

    s = session(args)  # signs in first: the password comes before the passphrase
    try:
        secret = read_password(args, _("Passphrase of the key file: "),
                               fd_option="passphrase_fd")
        public, changed = install_private_key(s, Path(args.file).expanduser(), secret)
    finally:
        s.close()
    if changed:
        print(_("The signing key of site {site} (fingerprint {fp}) is installed: this "
                "workstation can now make the site's packages. Delete the key file.").format(
            site=public.site_code, fp=public.fingerprint))
    else:
        print(_("This workstation already has the signing key of site {site} (fingerprint "
                "{fp}); nothing changed.").format(site=public.site_code, fp=public.fingerprint))
    return 0
