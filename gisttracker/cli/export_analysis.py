"""``gisttracker export analysis --study KEY [--as-of DATE] -o FILE.csv``: the analysis data set.

One row per patient (study identifier, group, covariates, and for each endpoint its origin,
time in days and months, event flag and what decided it), with the questionnaire scores in
``FILE.scores.csv``, the data dictionary in ``FILE.dictionary.csv`` and an R script
reproducing the survival figures in ``FILE.R`` (:mod:`gisttracker.outcomes.dataset`).
Pseudonymous: patients are named by their study identifier only. Nothing is overwritten.

This module adds the ``analysis`` kind to the ``export`` command family
(:func:`register_kind`), so it sits beside the other export kinds.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gisttracker.i18n import _, ngettext


def register_kind(kinds: Any) -> None:
    """Add ``analysis`` to the ``export`` command's kinds."""
    from gisttracker.cli.outcomes import add_outcome_options

    parser = kinds.add_parser("analysis", help=_(
        "the analysis data set of a study's endpoints (CSV, data dictionary, R script)"))
    add_outcome_options(parser)
    parser.add_argument("--no-bom", action="store_true", help=_(
        "write plain UTF-8 (by default files start with a byte-order mark so that Excel "
        "shows Chinese text correctly)"))
    parser.add_argument("-o", "--output", required=True, metavar="FILE.csv", help=_(
        "where to write the data set (the dictionary, the scores and the R script go beside "
        "it)"))
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from gisttracker.cli import fail
    from gisttracker.cli.common import session
    from gisttracker.cli.outcomes import as_of_of
    from gisttracker.outcomes import OutcomeError, compute
    from gisttracker.outcomes.dataset import write_dataset

    target = Path(args.output).expanduser()
    as_of = as_of_of(args)
    s = session(args)
    try:
        try:
            outcomes = compute(s, args.study, as_of=as_of)
            files = write_dataset(outcomes, target, bom=not args.no_bom)
        except OutcomeError as exc:
            fail(str(exc))
        except OSError as exc:
            fail(_("cannot write {path}: {error}").format(path=target,
                                                          error=exc.strerror or exc))
    finally:
        s.close()
    print(ngettext("{n} patient written to {data}; scores in {scores}, the data dictionary in "
                   "{dictionary}, an R script in {script}",
                   "{n} patients written to {data}; scores in {scores}, the data dictionary "
                   "in {dictionary}, an R script in {script}", files.patients).format(
        n=files.patients, data=files.data, scores=files.scores,
        dictionary=files.dictionary, script=files.script))
    return 0
