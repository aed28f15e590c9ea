"""``gisttracker export KIND …``: data leaves the workstation, one subcommand per kind.

Kinds: ``analysis`` (the analysis data set of a study's endpoints,
:mod:`gisttracker.cli.export_analysis`). Each kind's module adds its own parser with
``register_kind(kinds)``; exports are pseudonymous and never replace an existing file.
"""

from __future__ import annotations

from typing import Any

from gisttracker.i18n import _


def register(sub: Any) -> None:
    parser = sub.add_parser("export", help=_("export data (the analysis data set of a study)"))
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True,
                                  parser_class=type(parser))
    from gisttracker.cli import export_analysis

    export_analysis.register_kind(kinds)
