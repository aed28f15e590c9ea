"""Checking and converting the inputs every analysis shares (times, events, groups).

Each check raises :class:`~gisttracker.analysis.AnalysisError` with a sentence for the user
that names what is wrong and, where it helps, how many subjects are affected; nothing is
silently dropped or coerced (a ``None`` time is an error, not a censoring).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from numbers import Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gisttracker.analysis import AnalysisError
from gisttracker.i18n import _, ngettext

Label = Hashable


def as_times(times: ArrayLike, what: str = "") -> NDArray[np.float64]:
    """``times`` as a 1-D float array: finite and not negative (any unit; R's ``Surv``)."""
    name = what or _("times")
    try:
        arr = np.asarray(times, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise AnalysisError(
            _("The {name} must all be numbers (a value is missing or is not a number).").format(
                name=name
            )
        ) from exc
    if arr.ndim != 1:
        raise AnalysisError(_("The {name} must be one list of numbers.").format(name=name))
    bad = int(np.count_nonzero(~np.isfinite(arr)))
    if bad:
        raise AnalysisError(
            ngettext(
                "{count} of the {name} is missing or not a finite number.",
                "{count} of the {name} are missing or not finite numbers.",
                bad,
            ).format(count=bad, name=name)
        )
    negative = int(np.count_nonzero(arr < 0))
    if negative:
        raise AnalysisError(
            ngettext(
                "{count} of the {name} is negative; a time to event cannot be.",
                "{count} of the {name} are negative; a time to event cannot be.",
                negative,
            ).format(count=negative, name=name)
        )
    return arr


def as_events(events: ArrayLike, n: int) -> NDArray[np.float64]:
    """``events`` as a float array of 0 (censored) and 1 (event), of length ``n``."""
    try:
        arr = np.asarray(events, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise AnalysisError(
            _("Events must be 1 (event) or 0 (censored); a value is missing or not a number.")
        ) from exc
    check_length(arr, n, _("events"))
    bad = int(np.count_nonzero((arr != 0) & (arr != 1)))
    if bad:
        raise AnalysisError(
            ngettext(
                "Events must be 1 (event) or 0 (censored); {count} value is neither.",
                "Events must be 1 (event) or 0 (censored); {count} values are neither.",
                bad,
            ).format(count=bad)
        )
    return arr


def check_length(arr: NDArray[Any] | Sequence[object], n: int, name: str) -> None:
    """Raise unless ``arr`` is one-dimensional with one value per subject."""
    if isinstance(arr, np.ndarray):
        ok = arr.ndim == 1 and arr.shape[0] == n
        found = arr.shape[0] if arr.ndim else 1
    else:
        ok = len(arr) == n
        found = len(arr)
    if not ok:
        raise AnalysisError(
            _("There are {n} times but {found} {name}; each subject needs one of each.").format(
                n=n, found=found, name=name
            )
        )


def survival_data(
    times: ArrayLike, events: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Checked ``(times, events)``; at least one subject."""
    t = as_times(times)
    if t.size == 0:
        raise AnalysisError(_("There are no subjects to analyse."))
    e = as_events(events, t.size)
    return t, e


def group_codes(
    groups: Sequence[Label] | NDArray[np.generic],
    n: int,
    levels: Sequence[Label] | None = None,
    what: str = "",
) -> tuple[tuple[Label, ...], NDArray[np.intp]]:
    """The group labels in order and each subject's 0-based group index.

    Without ``levels`` the labels are sorted (R orders a factor's levels alphabetically;
    numbers sort numerically); labels that cannot be compared keep their order of first
    appearance. With ``levels`` every subject's label must be one of them, and every level
    must have at least one subject.
    """
    name = what or _("groups")
    values = list(groups.tolist() if isinstance(groups, np.ndarray) else groups)
    check_length(values, n, name)
    missing = sum(1 for v in values if _is_missing(v))
    if missing:
        raise AnalysisError(
            ngettext(
                "{count} subject has no value for the {name}.",
                "{count} subjects have no value for the {name}.",
                missing,
            ).format(count=missing, name=name)
        )
    if levels is None:
        seen = list(dict.fromkeys(values))
        try:
            order: list[Label] = sorted(seen)
        except TypeError:
            order = seen
    else:
        order = list(dict.fromkeys(levels))
        unknown = sorted({str(v) for v in values if v not in set(order)})
        if unknown:
            raise AnalysisError(
                _("Unknown {name}: {values}.").format(name=name, values=", ".join(unknown))
            )
        used = set(values)
        empty = [str(level) for level in order if level not in used]
        if empty:
            raise AnalysisError(
                _("No subjects in the {name} {labels}; leave out a group with no patients.")
                .format(name=name, labels=", ".join(empty))
            )
    index = {label: i for i, label in enumerate(order)}
    codes = np.fromiter((index[v] for v in values), dtype=np.intp, count=n)
    return tuple(order), codes


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    if type(value) is str:  # a group's label, most of the time: answered without the ABC
        return False
    return isinstance(value, Real) and not isinstance(value, bool) and math.isnan(float(value))


def z_value(conf_level: float) -> float:
    """The two-sided normal quantile for ``conf_level`` (0.95 gives 1.959964)."""
    if not 0 < conf_level < 1:
        raise AnalysisError(
            _("The confidence level must be between 0 and 1, not {level}.").format(
                level=conf_level
            )
        )
    from scipy.stats import norm

    return float(norm.ppf(1 - (1 - conf_level) / 2))


def opt(value: float) -> float | None:
    """A float for the user, with NaN (R's NA) as None."""
    v = float(value)
    return None if math.isnan(v) else v
