"""The statistics engine: study outcomes analysed as R's ``survival`` package would.

Pure functions over plain sequences or numpy arrays (no database, no clock, no I/O); the
endpoint derivation, the window, the PDF and the command line build on them. The
submodules are:

- :mod:`gisttracker.analysis.survival` — Kaplan–Meier estimates with Greenwood standard
  errors, confidence intervals, medians and landmark survival; the log-rank test; and, from
  :mod:`.cox` and :mod:`.competing`, the Cox model, its proportional-hazards test and the
  Aalen–Johansen cumulative incidence with competing risks;
- :mod:`gisttracker.analysis.proportions` — a proportion with its exact (Clopper–Pearson)
  confidence interval, Pearson's chi-square and Fisher's exact test between groups;
- :mod:`gisttracker.analysis.repeated` — questionnaire scores per timepoint, change from
  baseline, and category counts (LARS).

R's defaults are the reference everywhere; each module's docstring states the conventions
it pins and where it differs from the library it calls. This package module imports
nothing heavy: numpy, scipy and statsmodels load only when a submodule is used, so the
other commands start as fast as before.

Bad input (mismatched lengths, negative or missing times, events other than 0/1, an empty
group, a model that cannot be fitted) raises :class:`AnalysisError`, whose message is
written for the user.
"""

from __future__ import annotations

from gisttracker.services.base import ServiceError

__all__ = ["AnalysisError"]


class AnalysisError(ServiceError):
    """Data that cannot be analysed as asked; the message says why, for the user."""
