"""Cumulative incidence with competing risks (Aalen–Johansen), as cmprsk::cuminc.

Point estimates: R's ``cuminc(ftime, fstat)`` on the small data set below, as quoted in
statsmodels' test suite (duration/tests/test_survfunc.py, ``test_incidence``), the same
values as its Stata check. Variances: cmprsk's ``cinc`` routine, worked by hand for the
first time point below; no published R variance of a typeable data set was found, so the
variance is otherwise checked for its properties (see the report).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gisttracker.analysis import AnalysisError, survival

FTIME = [1, 1, 2, 4, 4, 4, 6, 6, 7, 8, 9, 9, 9, 1, 2, 2, 4, 4]
FSTAT = [1, 1, 1, 2, 2, 2, 3, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0]


def test_point_estimates_equal_r_cuminc() -> None:
    cif = survival.cumulative_incidence(FTIME, FSTAT)
    assert list(cif.causes) == [1, 2, 3]
    expected = {
        1: [0.11111111, 0.17037037, 0.17037037, 0.17037037, 0.17037037, 0.17037037,
            0.17037037],
        2: [0.0, 0.0, 0.20740741, 0.20740741, 0.20740741, 0.20740741, 0.20740741],
        3: [0.0, 0.0, 0.0, 0.17777778, 0.26666667, 0.26666667, 0.26666667],
    }
    for cause, values in expected.items():
        assert cif.causes[cause].time.tolist() == [1, 2, 4, 6, 7, 8, 9]
        np.testing.assert_allclose(cif.causes[cause].estimate, values, atol=5e-9)


def test_variance_is_cmprsk_cinc() -> None:
    cif = survival.cumulative_incidence(FTIME, FSTAT)
    # first time: 18 at risk, 2 events of cause 1 and 1 censored. cinc: t5 = 1 - 1/17,
    # t6 = t5 * 2 / 18^2, fkn = 16/18, t3 = 1/fkn, t4 = 1 + t3 * F, F = 2/18;
    # v = t4^2 t6 + F^2 t3^2 t6 - 2 F t3 t4 t6
    f = 2 / 18
    t6 = (1 - 1 / 17) * 2 / 18**2
    t3 = 18 / 16
    t4 = 1 + t3 * f
    v = t4 * t4 * t6 + f * f * t3 * t3 * t6 - 2 * f * t3 * t4 * t6
    assert cif.causes[1].variance[0] == pytest.approx(v, rel=1e-12)
    # the variance of a cause changes only at its own event times, as in cuminc
    cause2 = cif.causes[2].variance
    assert cause2[0] == cause2[1] == 0 and cause2[3] == cause2[2]
    # log-log limits contain the estimate; None beyond follow-up
    est, lower, upper = cif.causes[1].at(5)
    assert lower is not None and upper is not None and lower < est < upper  # type: ignore[operator]
    assert cif.causes[1].at(10) == (None, None, None)


def test_without_competing_events_the_incidence_is_one_minus_kaplan_meier() -> None:
    rng = np.random.default_rng(5)
    t = np.ceil(rng.exponential(10, 80))
    e = (rng.uniform(size=80) < 0.6).astype(int)
    cif = survival.cumulative_incidence(t, e).causes[1]
    km = survival.kaplan_meier(t, e)
    np.testing.assert_allclose(cif.estimate, 1 - km.survival, atol=1e-12)
    assert math.isclose(sum(c.events for c in [cif]), int(e.sum()))


def test_bad_causes_get_a_clear_message() -> None:
    with pytest.raises(AnalysisError, match="1 value is not"):
        survival.cumulative_incidence([1, 2, 3], [0, 1, -1])
    with pytest.raises(AnalysisError, match="no events"):
        survival.cumulative_incidence([1, 2, 3], [0, 0, 0])
    with pytest.raises(AnalysisError, match="3 times but 2 causes"):
        survival.cumulative_incidence([1, 2, 3], [0, 1])
