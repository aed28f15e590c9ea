"""``gisttracker export analysis --study KEY [--as-of DATE] -o FILE.csv``: the analysis data set.

One row per patient (study identifier, group, covariates, and for each endpoint its origin,
time in days and months, event flag and what decided it), with the questionnaire scores in
``FILE.scores.csv``, the data dictionary in ``FILE.dictionary.csv`` and an R script
reproducing the survival figures in ``FILE.R`` (:mod:`gisttracker.outcomes.dataset`).
Pseudonymous: patients are named by their study identifier only. Nothing is overwritten.

The ``analysis`` kind of the ``export`` command family is registered by
:func:`gisttracker.cli.outcomes.register_export_kind` (so building the parser does not load
this module); this is its handler.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gisttracker.i18n import _, ngettext


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
