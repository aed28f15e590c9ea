"""``gisttracker export KIND -o PATH``: data leaves the workstation.

Kinds: ``csv`` (a folder: one file per form and table, a wide file per study, a data
dictionary, import scripts for R, SPSS and Stata), ``odm`` (CDISC ODM 1.3.2: ``--type
snapshot`` clinical data, ``transactional`` with the audit trail, ``metadata`` only),
``package`` (the site's signed package for the coordinating centre: what changed since the
last one, or ``--full``), ``key`` (the site's public key, for the centre to register; with
``--private`` its signing key for another workstation of the site, encrypted with a
passphrase; with ``--new`` a new key replacing a lost one) and
``analysis`` (the analysis data set of a study's endpoints, :mod:`gisttracker.cli.export_analysis`).
Pseudonymous unless ``--include-identifiers``; a file that failed half-way is never left
under the name asked for.
"""

from __future__ import annotations

import argparse
from typing import Any

from gisttracker.i18n import _


def register(sub: Any) -> None:
    parser = sub.add_parser("export", help=_(
        "export data: CSV with import scripts, CDISC ODM, a site package, the site key"))
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True,
                                  parser_class=type(parser))
    csv = kinds.add_parser("csv", help=_(
        "CSV files per form and table, a wide file per study, a data dictionary and import "
        "scripts for R, SPSS and Stata"))
    csv.add_argument("--study", metavar="KEY", help=_("only this study (default: all)"))
    csv.add_argument("--no-bom", action="store_true", help=_(
        "write plain UTF-8 (by default files start with a byte-order mark so that Excel "
        "shows Chinese text correctly)"))
    odm = kinds.add_parser("odm", help=_("CDISC ODM 1.3.2 (XML)"))
    odm.add_argument("--study", metavar="KEY", help=_("only this study (default: all)"))
    odm.add_argument("--type", dest="odm_type", default="snapshot",
                     choices=("snapshot", "transactional", "metadata"), help=_(
                         "snapshot: the data as they are now (default); transactional: every "
                         "change with its audit record; metadata: the study definitions only"))
    package = kinds.add_parser("package", help=_(
        "the site's signed package for the coordinating centre"))
    package.add_argument("--full", action="store_true", help=_(
        "everything, not only what changed since the last package"))
    key = kinds.add_parser("key", help=_(
        "the site's public key, for the centre to register (or, with --private, its signing "
        "key for another workstation of this site)"))
    which = key.add_mutually_exclusive_group()
    which.add_argument("--private", action="store_true", help=_(
        "the site's private signing key, encrypted with a passphrase you type, so that "
        "another workstation of this site can sign its packages (administrators only)"))
    which.add_argument("--new", action="store_true", help=_(
        "make a new signing key for this site, replacing a lost one (administrators only; "
        "needs --reason; the centre must register the new key)"))
    key.add_argument("--reason", metavar="TEXT", help=_("why the site needs a new key"))
    key.add_argument("--passphrase-fd", type=int, metavar="N", help=_(
        "read the key file's passphrase from file descriptor N (one line) instead of the "
        "terminal"))
    for p in (csv, odm, package):
        p.add_argument("--include-identifiers", action="store_true", help=_(
            "include names, record numbers and dates of birth (left out by default)"))
    for p in (csv, odm, package, key):
        p.add_argument("-o", "--output", required=True, metavar="PATH", help=_(
            "where to write (for csv: a new folder)"))
        p.set_defaults(handler=run)
    from gisttracker.cli import outcomes

    outcomes.register_export_kind(kinds)  # its own handler: it derives the endpoints first


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gisttracker.cli import fail
    from gisttracker.cli.common import session

    target = Path(args.output).expanduser()
    if target.exists() and not (args.kind == "csv" and target.is_dir()
                                and not any(target.iterdir())):
        fail(_("{path} already exists; choose a new name (an export never replaces another "
               "file)").format(path=target))
    if not target.parent.is_dir():
        fail(_("the folder {folder} does not exist").format(folder=target.parent))
    s = session(args)
    try:
        return int(_KINDS[args.kind](s, args, target))
    finally:
        s.close()


def _package(s: Any, args: argparse.Namespace, target: Any) -> int:
    from gisttracker.services.exchange.packages import make_package

    made = make_package(s, target, full=args.full, identifiers=args.include_identifiers)
    m = made.manifest
    if m.base_seq is None:
        text = _("Site {site}: full package #{seq} written to {path}: {records} records, "
                 "{audit} audit rows; signed with the key in {key}")
    else:
        text = _("Site {site}: package #{seq} of the changes since #{base} written to {path}: "
                 "{records} records, {deleted} deletions, {audit} audit rows; signed with the "
                 "key in {key}")
    print(text.format(site=m.site_code, seq=m.seq, base=m.base_seq, path=made.path,
                      records=sum(m.tables.values()), deleted=m.deleted, audit=m.audit_rows,
                      key=made.public_key_file))
    return 0


def _key(s: Any, args: argparse.Namespace, target: Any) -> int:
    from gisttracker.atomic import atomic_open
    from gisttracker.cli import fail
    from gisttracker.cli.auth import read_password
    from gisttracker.exchange.keys import public_of
    from gisttracker.services.exchange.packages import site_identity
    from gisttracker.services.exchange.site_keys import (
        export_private_key,
        new_site_key,
        signing_key,
    )

    if args.reason and not args.new:
        fail(_("--reason goes with --new"))
    if args.private:
        secret = read_password(args, _("Passphrase for the key file: "),
                               fd_option="passphrase_fd")
        if args.passphrase_fd is None and secret != read_password(
                args, _("The same passphrase again: "), fd_option="passphrase_fd"):
            fail(_("the two passphrases differ; nothing was written"))
        public = export_private_key(s, target, secret)
        print(_("The signing key of site {site} (fingerprint {fp}) written to {path}, "
                "encrypted. Carry it to the other workstation, install it there with "
                "gisttracker import key {path}, then delete the file.").format(
            site=public.site_code, fp=public.fingerprint, path=target))
        return 0
    if args.new:
        public = new_site_key(s, args.reason or "")
    else:
        code, _name = site_identity(s)
        public = public_of(code, signing_key(s, code))
    with atomic_open(target, "w", encoding="utf-8") as handle:
        handle.write(public.text())
    if args.new:
        print(_("A new signing key for site {site} (fingerprint {fp}); its public key is in "
                "{path}. The coordinating centre must register it (gisttracker centre trust "
                "{site} FILE --replace --reason …) before it accepts this site's next "
                "package.").format(site=public.site_code, fp=public.fingerprint, path=target))
        return 0
    print(_("Public key of site {site} written to {path} (fingerprint {fp}). Send it to the "
            "coordinating centre and read the fingerprint to them by telephone.").format(
        site=public.site_code, path=target, fp=public.fingerprint))
    return 0


def _csv(s: Any, args: argparse.Namespace, target: Any) -> int:
    from gisttracker.exchange.csv_export import export_csv

    result = export_csv(s, target, study=args.study, identifiers=args.include_identifiers,
                        bom=not args.no_bom)
    print(_("{files} CSV files ({rows} rows), a data dictionary and import scripts for R, SPSS "
            "and Stata written to {path}").format(files=result.files, rows=result.rows,
                                                  path=target))
    return 0


def _odm(s: Any, args: argparse.Namespace, target: Any) -> int:
    from gisttracker.exchange.odm.export import export_odm

    result = export_odm(s, target, kind=args.odm_type, study=args.study,
                        identifiers=args.include_identifiers)
    texts = {
        "snapshot": _("CDISC ODM 1.3.2 snapshot written to {path}: {subjects} subjects, "
                      "validated against the ODM schema"),
        "transactional": _("CDISC ODM 1.3.2 file of every change with its audit record "
                           "written to {path}: {subjects} subjects, validated against the ODM "
                           "schema"),
        "metadata": _("CDISC ODM 1.3.2 study definitions written to {path}, validated "
                      "against the ODM schema"),
    }
    print(texts[args.odm_type].format(path=target, subjects=result.subjects))
    return 0


_KINDS = {"package": _package, "key": _key, "csv": _csv, "odm": _odm}
