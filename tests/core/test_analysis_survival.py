"""Kaplan–Meier and log-rank against R's printed output on published data sets.

Sources of the R numbers (cited per test):
- [doaml] therneau/survival, tests/doaml.Rout.save (R 3.4.1): survfit, summary and
  survdiff of `aml` by `x`.
- [surv-ex] therneau/survival, tests/Examples/survival-Ex.Rout.save (R 2023-01): the
  examples of the survival package's help pages (summary.survfit on ovarian, survdiff,
  quantile.survfit and survfit on lung, rttright on aml).
- [quantile] therneau/survival, tests/quantile.Rout.save (R 4.3.2): exact quantiles of a
  small data set with flats at 0.5 and at the end of the curve.
- [freireich] R output of survfit/summary/survdiff/coxph on the Freireich 6-MP data, as
  printed in published course material (pooled KM with 4-decimal lower limits; by group:
  survfit(Surv(t, Status) ~ Group) with 6-MP as Group 1).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gisttracker.analysis import AnalysisError, survival
from tests.core.analysis_reference import (
    AML_STATUS,
    AML_TIME,
    AML_X,
    FREIREICH,
    OVARIAN,
    check,
    column,
    read_csv,
)

# ------------------------------------------------------------------ Kaplan–Meier: aml

# [doaml] summary(survfit(Surv(time, status) ~ x, aml)):
# time, n.risk, n.event, survival, std.err, lower 95% CI, upper 95% CI
AML_MAINTAINED = [
    (9, 11, 1, "0.909", "0.0867", "0.7541", "1.000"),
    (13, 10, 1, "0.818", "0.1163", "0.6192", "1.000"),
    (18, 8, 1, "0.716", "0.1397", "0.4884", "1.000"),
    (23, 7, 1, "0.614", "0.1526", "0.3769", "0.999"),
    (31, 5, 1, "0.491", "0.1642", "0.2549", "0.946"),
    (34, 4, 1, "0.368", "0.1627", "0.1549", "0.875"),
    (48, 2, 1, "0.184", "0.1535", "0.0359", "0.944"),
]
AML_NONMAINTAINED = [
    (5, 12, 2, "0.8333", "0.1076", "0.6470", "1.000"),
    (8, 10, 2, "0.6667", "0.1361", "0.4468", "0.995"),
    (12, 8, 1, "0.5833", "0.1423", "0.3616", "0.941"),
    (23, 6, 1, "0.4861", "0.1481", "0.2675", "0.883"),
    (27, 5, 1, "0.3889", "0.1470", "0.1854", "0.816"),
    (30, 4, 1, "0.2917", "0.1387", "0.1148", "0.741"),
    (33, 3, 1, "0.1944", "0.1219", "0.0569", "0.664"),
    (43, 2, 1, "0.0972", "0.0919", "0.0153", "0.620"),
    (45, 1, 1, "0.0000", "NA", "NA", "NA"),  # R prints std.err NaN, limits NA
]


def _check_rows(km: survival.KaplanMeier, expected: list[tuple[object, ...]]) -> None:
    rows = km.event_table
    assert [row.time for row in rows] == [float(str(e[0])) for e in expected]
    for row, (time, n_risk, n_event, surv, se, lower, upper) in zip(rows, expected, strict=True):
        assert (row.n_risk, row.n_event) == (n_risk, n_event), time
        check(row.survival, str(surv), f"survival at {time}")
        check(row.std_err, str(se), f"std.err at {time}")
        check(row.lower, str(lower), f"lower at {time}")
        check(row.upper, str(upper), f"upper at {time}")


def test_aml_kaplan_meier_tables_medians_and_limits_equal_r() -> None:
    curves = survival.kaplan_meier_by_group(AML_TIME, AML_STATUS, AML_X)
    assert list(curves) == ["Maintained", "Nonmaintained"]
    _check_rows(curves["Maintained"], AML_MAINTAINED)
    _check_rows(curves["Nonmaintained"], AML_NONMAINTAINED)
    # [doaml] print(fit): median 0.95LCL 0.95UCL — 31 18 NA and 23 8 NA
    m, n = curves["Maintained"], curves["Nonmaintained"]
    assert (m.median, m.median_lower, m.median_upper) == (31, 18, None)
    assert (n.median, n.median_lower, n.median_upper) == (23, 8, None)
    assert (m.events, n.events) == (7, 11)


def test_aml_pooled_kaplan_meier_equals_r_to_eight_digits() -> None:
    # [surv-ex] rttright example: cbind(time = afit$time, KM = afit$surv)
    expected = [
        (5, 0.91304348), (8, 0.82608696), (9, 0.78260870), (12, 0.73913043),
        (13, 0.69565217), (16, 0.69565217), (18, 0.64596273), (23, 0.54658385),
        (27, 0.49689441), (28, 0.49689441), (30, 0.44168392), (31, 0.38647343),
        (33, 0.33126294), (34, 0.27605245), (43, 0.22084196), (45, 0.16563147),
        (48, 0.08281573), (161, 0.08281573),
    ]
    km = survival.kaplan_meier(AML_TIME, AML_STATUS)
    assert [row.time for row in km.table] == [t for t, _ in expected]
    for row, (time, surv) in zip(km.table, expected, strict=True):
        check(row.survival, f"{surv:.8f}", f"KM at {time}")
    # censored at 13 is counted at risk at 13, and leaves after it
    at13 = km.table[4]
    assert (at13.n_risk, at13.n_event, at13.n_censor) == (17, 1, 1)


def test_ovarian_kaplan_meier_equals_r() -> None:
    # [surv-ex] summary(survfit(Surv(futime, fustat) ~ 1, data = ovarian))
    expected = [
        (59, 26, "0.962", "0.0377", "0.890", "1.000"),
        (115, 25, "0.923", "0.0523", "0.826", "1.000"),
        (156, 24, "0.885", "0.0627", "0.770", "1.000"),
        (268, 23, "0.846", "0.0708", "0.718", "0.997"),
        (329, 22, "0.808", "0.0773", "0.670", "0.974"),
        (353, 21, "0.769", "0.0826", "0.623", "0.949"),
        (365, 20, "0.731", "0.0870", "0.579", "0.923"),
        (431, 17, "0.688", "0.0919", "0.529", "0.894"),
        (464, 15, "0.642", "0.0965", "0.478", "0.862"),
        (475, 14, "0.596", "0.0999", "0.429", "0.828"),
        (563, 12, "0.546", "0.1032", "0.377", "0.791"),
        (638, 11, "0.497", "0.1051", "0.328", "0.752"),
    ]
    km = survival.kaplan_meier(column(OVARIAN, 0), column(OVARIAN, 1))
    _check_rows(km, [(t, n, 1, s, se, lo, up) for t, n, s, se, lo, up in expected])
    # the curve first drops below 0.5 at 638 and is never flat at 0.5
    assert km.median == 638


def test_freireich_kaplan_meier_pooled_and_by_group_equal_r() -> None:
    t, e = column(FREIREICH, 0), column(FREIREICH, 1)
    # [freireich] summary(survfit(Surv(T, delta) ~ 1)): time, n.risk, n.event, surv,
    # std.err, lower (4 decimals), upper
    pooled = [
        (1, 42, 2, "0.952", "0.0329", "0.8901", "1.000"),
        (2, 40, 2, "0.905", "0.0453", "0.8202", "0.998"),
        (3, 38, 1, "0.881", "0.0500", "0.7883", "0.985"),
        (4, 37, 2, "0.833", "0.0575", "0.7279", "0.954"),
        (5, 35, 2, "0.786", "0.0633", "0.6709", "0.920"),
        (6, 33, 3, "0.714", "0.0697", "0.5899", "0.865"),
        (7, 29, 1, "0.690", "0.0715", "0.5628", "0.845"),
        (8, 28, 4, "0.591", "0.0764", "0.4588", "0.762"),
        (10, 23, 1, "0.565", "0.0773", "0.4325", "0.739"),
        (11, 21, 2, "0.512", "0.0788", "0.3783", "0.692"),
        (12, 18, 2, "0.455", "0.0796", "0.3227", "0.641"),
        (13, 16, 1, "0.426", "0.0795", "0.2958", "0.615"),
        (15, 15, 1, "0.398", "0.0791", "0.2694", "0.588"),
        (16, 14, 1, "0.369", "0.0784", "0.2437", "0.560"),
        (17, 13, 1, "0.341", "0.0774", "0.2186", "0.532"),
        (22, 9, 2, "0.265", "0.0765", "0.1507", "0.467"),
        (23, 7, 2, "0.189", "0.0710", "0.0909", "0.395"),
    ]
    _check_rows(survival.kaplan_meier(t, e), pooled)
    groups = ["6-MP" if row[3] == 0 else "placebo" for row in FREIREICH]
    curves = survival.kaplan_meier_by_group(t, e, groups)
    six_mp = [
        (6, 21, 3, "0.857", "0.0764", "0.720", "1.000"),
        (7, 17, 1, "0.807", "0.0869", "0.653", "0.996"),
        (10, 15, 1, "0.753", "0.0963", "0.586", "0.968"),
        (13, 12, 1, "0.690", "0.1068", "0.510", "0.935"),
        (16, 11, 1, "0.627", "0.1141", "0.439", "0.896"),
        (22, 7, 1, "0.538", "0.1282", "0.337", "0.858"),
        (23, 6, 1, "0.448", "0.1346", "0.249", "0.807"),
    ]
    _check_rows(curves["6-MP"], six_mp)
    tail = curves["placebo"].event_table[-4:]
    for row, (surv, se, lower, upper) in zip(
        tail,
        [("0.1429", "0.0764", "0.05011", "0.407"), ("0.0952", "0.0641", "0.02549", "0.356"),
         ("0.0476", "0.0465", "0.00703", "0.322"), ("0.0000", "NA", "NA", "NA")],
        strict=True,
    ):
        check(row.survival, surv)
        check(row.std_err, se)
        check(row.lower, lower)
        check(row.upper, upper)
    # published quantile(fit): placebo 25/50/75 = 4, 8, 12; lower 2, 4, 8; upper 8, 12, NA;
    # 6-MP lower limits 6, 16, 23 and no upper limits
    placebo, drug = curves["placebo"], curves["6-MP"]
    assert [placebo.quantile(p) for p in (0.25, 0.5, 0.75)] == [
        (4, 2, 8), (8, 4, 12), (12, 8, None)]
    assert [drug.quantile(p)[1:] for p in (0.25, 0.5, 0.75)] == [
        (6, None), (16, None), (23, None)]
    assert (drug.median, drug.median_lower, drug.median_upper) == (23, 16, None)


def _lung() -> tuple[list[float], list[int], list[dict[str, str]]]:
    rows = read_csv("lung.csv")
    return [float(r["time"]) for r in rows], [int(r["status"]) for r in rows], rows


def test_lung_medians_and_quartiles_by_ecog_equal_r() -> None:
    time, status, rows = _lung()
    assert (len(rows), sum(status)) == (228, 165)
    keep = [i for i, r in enumerate(rows) if r["ph.ecog"]]
    curves = survival.kaplan_meier_by_group(
        [time[i] for i in keep], [status[i] for i in keep],
        [int(rows[i]["ph.ecog"]) for i in keep])
    # [surv-ex] survfit(Surv(time, status) ~ ph.ecog, data = lung): n events median LCL UCL
    expected = {0: (63, 37, 394, 348, 574), 1: (113, 82, 306, 268, 429),
                2: (50, 44, 199, 156, 288), 3: (1, 1, 118, None, None)}
    for ecog, (n, events, median, lcl, ucl) in expected.items():
        km = curves[ecog]
        assert (km.n, km.events) == (n, events)
        assert (km.median, km.median_lower, km.median_upper) == (median, lcl, ucl)
    # [surv-ex] quantile(fit): $quantile, $lower, $upper at 25 and 75
    quartiles = {0: ((285, 189, 350), (655, 558, None)), 1: ((181, 156, 223), (550, 460, 689)),
                 2: ((105, 61, 163), (351, 285, 654)), 3: ((118, None, None), (118, None, None))}
    for ecog, (q25, q75) in quartiles.items():
        assert curves[ecog].quantile(0.25) == q25
        assert curves[ecog].quantile(0.75) == q75


def test_quantiles_and_median_on_flat_segments_follow_r_exactly() -> None:
    # [quantile] test1: survival 6/7 after t=1, 18/35 after 6, 9/35 after 9 (last time 10)
    time = [9, 1, 1, 6, 6, 8, 10]  # the row with status NA is left out, as R does
    status = [1, 1, 0, 1, 1, 0, 0]
    km = survival.kaplan_meier(time, status)
    probs = [1 - q for q in (13 / 14, 6 / 7, 2 / 3, 0.5, 9 / 35, 0.1)]
    # quantile(fit2, 1 - qq): quantile c(1, 3.5, 6, 9, 9.5, NA); lower c(1, 1, 1, 6, 6, 9);
    # upper all NA
    assert [km.quantile(p)[0] for p in probs] == [1, 3.5, 6, 9, 9.5, None]
    assert [km.quantile(p)[1] for p in probs] == [1, 1, 1, 6, 6, 9]
    assert [km.quantile(p)[2] for p in probs] == [None] * 6
    # print.survfit's rule differs from quantile() only for a flat at the end: it takes
    # the time the curve reached the level, not the midpoint to the last follow-up
    curve = survival.kaplan_meier([1, 2, 3, 4], [1, 1, 0, 0])  # S = 0.75, 0.5, 0.5, 0.5
    assert curve.median == 2
    assert curve.quantile(0.5)[0] == 3  # (2 + 4) / 2
    flat = survival.kaplan_meier([1, 2, 3, 4], [1, 1, 1, 1])  # S = 0.75, 0.5, 0.25, 0
    assert flat.median == 2.5  # flat at exactly 0.5 from 2 to 3: the midpoint


def test_landmark_survival_and_numbers_at_risk() -> None:
    km = survival.kaplan_meier(AML_TIME, AML_STATUS)
    # summary(fit, times = 24): the step function at 24 is its value at 23
    at23 = next(row for row in km.table if row.time == 23)
    assert km.at(24) == (at23.survival, at23.lower, at23.upper)
    assert km.std_err_at(24) == at23.std_err
    assert km.at(0) == (1.0, 1.0, 1.0)
    assert km.at(161) == (km.table[-1].survival, km.table[-1].lower, km.table[-1].upper)
    assert km.at(162) == (None, None, None)  # beyond follow-up: R drops the time
    assert km.n_risk_at([0, 5, 6, 13, 14, 161, 200]) == [23, 23, 21, 17, 15, 1, 0]
    with pytest.raises(AnalysisError):
        km.at(-1)


def test_confidence_interval_types_follow_r_formulas() -> None:
    t, e = column(OVARIAN, 0), column(OVARIAN, 1)
    log = survival.kaplan_meier(t, e)
    loglog = survival.kaplan_meier(t, e, conf_type="log-log")
    plain = survival.kaplan_meier(t, e, conf_type="plain")
    z = 1.959963984540054
    for a, b, c in zip(log.event_table, loglog.event_table, plain.event_table, strict=True):
        s, se = a.survival, a.std_err
        assert se is not None and b.lower is not None and b.upper is not None
        sel = se / s
        assert b.lower == pytest.approx(math.exp(-math.exp(math.log(-math.log(s))
                                                           - z * sel / math.log(s))))
        assert b.upper == pytest.approx(math.exp(-math.exp(math.log(-math.log(s))
                                                           + z * sel / math.log(s))))
        assert c.lower == pytest.approx(max(s - z * se, 0))
        assert c.upper == pytest.approx(min(s + z * se, 1))
    # log-log limits are undefined where the curve is still 1
    assert loglog.at(10) == (1.0, None, None)
    with pytest.raises(AnalysisError, match="log-log"):
        survival.kaplan_meier(t, e, conf_type="arcsin")  # type: ignore[arg-type]


def test_edge_cases_all_censored_all_events_single_subject_and_zero() -> None:
    censored = survival.kaplan_meier([3, 5, 7], [0, 0, 0])
    assert censored.survival.tolist() == [1, 1, 1]
    assert censored.median is None and censored.events == 0
    assert censored.at(7) == (1.0, 1.0, 1.0)

    deaths = survival.kaplan_meier([2, 4, 6, 8], [1, 1, 1, 1])
    assert deaths.survival.tolist() == [0.75, 0.5, 0.25, 0.0]
    assert deaths.median == 5  # flat at 0.5 between 4 and 6
    last = deaths.table[-1]
    assert (last.std_err, last.lower, last.upper) == (None, None, None)

    one = survival.kaplan_meier([10], [1])
    assert one.table[0].survival == 0 and one.median == 10
    assert survival.kaplan_meier([10], [0]).median is None

    # ties of events and censorings at one time: the censored count at risk there
    tied = survival.kaplan_meier([5, 5, 5, 9], [1, 1, 0, 1])
    assert (tied.table[0].n_risk, tied.table[0].n_event, tied.table[0].n_censor) == (4, 2, 1)
    assert tied.table[0].survival == 0.5
    assert tied.median == 7  # (5 + 9) / 2: the curve is exactly 0.5 until 9


@pytest.mark.parametrize(
    ("times", "events", "message"),
    [
        ([1, 2], [1], "2 times but 1 events"),
        ([1, -2], [1, 1], "negative"),
        ([1, float("nan")], [1, 1], "1 of the times is missing or not a finite number"),
        ([1, None], [1, 1], "1 of the times is missing"),
        ([1, 2], [1, 2], "1 \\(event\\) or 0"),
        ([], [], "no subjects"),
    ],
)
def test_bad_input_gets_a_clear_message(times: list[object], events: list[object],
                                        message: str) -> None:
    with pytest.raises(AnalysisError, match=message):
        survival.kaplan_meier(times, events)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- log-rank


def test_aml_log_rank_equals_r() -> None:
    # [doaml]/[surv-ex 2.11]: N 11/12, Observed 7/11, Expected 10.69/7.31, (O-E)^2/E
    # 1.27/1.86, (O-E)^2/V 3.40; Chisq = 3.4 on 1 df, p = 0.0653
    lr = survival.log_rank(AML_TIME, AML_STATUS, AML_X)
    assert lr.df == 1 and not lr.stratified
    maintained, non = lr.groups
    assert (maintained.label, maintained.n, maintained.observed) == ("Maintained", 11, 7)
    assert (non.n, non.observed) == (12, 11)
    check(maintained.expected, "10.69")
    check(non.expected, "7.31")
    check((maintained.observed - maintained.expected) ** 2 / maintained.expected, "1.27")
    check((non.observed - non.expected) ** 2 / non.expected, "1.86")
    check((maintained.observed - maintained.expected) ** 2 / maintained.variance, "3.40")
    check(lr.chi2, "3.4")
    check(lr.p, "0.0653")


def test_freireich_log_rank_equals_r() -> None:
    # [freireich] survdiff: Observed 9 / 21, Expected 19.3 / 10.7, (O-E)^2/E 5.46 / 9.77,
    # (O-E)^2/V 16.8; Chisq = 16.8 on 1 df, p = 4.17e-05
    groups = ["6-MP" if row[3] == 0 else "placebo" for row in FREIREICH]
    lr = survival.log_rank(column(FREIREICH, 0), column(FREIREICH, 1), groups)
    drug, placebo = lr.groups
    assert (drug.observed, placebo.observed) == (9, 21)
    check(drug.expected, "19.3")
    check(placebo.expected, "10.7")
    check((drug.observed - drug.expected) ** 2 / drug.expected, "5.46")
    check((placebo.observed - placebo.expected) ** 2 / placebo.expected, "9.77")
    check(lr.chi2, "16.8")
    check(lr.p, "4.17e-05")


def test_ovarian_log_rank_equals_r() -> None:
    # [surv-ex] survdiff(Surv(futime, fustat) ~ rx, data = ovarian): Observed 7 / 5,
    # Expected 5.23 / 6.77, (O-E)^2/E 0.596 / 0.461, (O-E)^2/V 1.06; Chisq = 1.1, p = 0.3
    lr = survival.log_rank(column(OVARIAN, 0), column(OVARIAN, 1), column(OVARIAN, 4))
    one, two = lr.groups
    check(one.expected, "5.23")
    check(two.expected, "6.77")
    check((one.observed - one.expected) ** 2 / one.expected, "0.596")
    check((two.observed - two.expected) ** 2 / two.expected, "0.461")
    check((one.observed - one.expected) ** 2 / one.variance, "1.06")
    check(lr.chi2, "1.1")
    check(lr.p, "0.3")


def test_lung_stratified_seven_sample_log_rank_equals_r() -> None:
    # [surv-ex] survdiff(Surv(time, status) ~ pat.karno + strata(inst), data = lung):
    # n = 224 (4 deleted for missing values); Chisq = 21.4 on 7 df, p = 0.003
    time, status, rows = _lung()
    keep = [i for i, r in enumerate(rows) if r["inst"] and r["pat.karno"]]
    assert len(keep) == 224
    lr = survival.log_rank(
        [time[i] for i in keep], [status[i] for i in keep],
        [int(rows[i]["pat.karno"]) for i in keep],
        strata=[int(rows[i]["inst"]) for i in keep])
    expected = {30: (2, 1, "0.692", "0.15752"), 40: (2, 1, "1.099", "0.00973"),
                50: (4, 4, "1.166", "7.45359"), 60: (30, 27, "16.298", "9.57333"),
                70: (41, 31, "26.358", "1.14774"), 80: (50, 38, "41.938", "0.60032"),
                90: (60, 38, "47.242", "3.23078"), 100: (35, 21, "26.207", "1.44067")}
    assert [g.label for g in lr.groups] == list(expected)
    for g in lr.groups:
        n, observed, e, oe2v = expected[int(str(g.label))]
        assert (g.n, g.observed) == (n, observed)
        check(g.expected, e, f"expected in {g.label}")
        check((g.observed - g.expected) ** 2 / g.variance, oe2v, f"(O-E)^2/V in {g.label}")
    assert lr.df == 7 and lr.stratified
    check(lr.chi2, "21.4")
    check(lr.p, "0.003")


def test_each_group_against_a_reference_uses_only_those_two_groups() -> None:
    t, e, rows = _lung()
    keep = [i for i, r in enumerate(rows) if r["ph.ecog"] in ("0", "1", "2")]
    tt, ee = [t[i] for i in keep], [e[i] for i in keep]
    g = [rows[i]["ph.ecog"] for i in keep]
    pairs = survival.log_rank_vs_reference(tt, ee, g, reference="0")
    assert list(pairs) == ["1", "2"]
    for label, result in pairs.items():
        sub = [j for j, v in enumerate(g) if v in ("0", label)]
        alone = survival.log_rank([tt[j] for j in sub], [ee[j] for j in sub],
                                  [g[j] for j in sub])
        assert result.chi2 == pytest.approx(alone.chi2, rel=1e-12)
        assert result.df == 1
    with pytest.raises(AnalysisError, match="reference group 5"):
        survival.log_rank_vs_reference(tt, ee, g, reference="5")


def test_log_rank_refuses_what_it_cannot_test() -> None:
    with pytest.raises(AnalysisError, match="at least two groups"):
        survival.log_rank([1, 2, 3], [1, 0, 1], ["A", "A", "A"])
    with pytest.raises(AnalysisError, match="no events"):
        survival.log_rank([1, 2, 3], [0, 0, 0], ["A", "B", "A"])
    with pytest.raises(AnalysisError, match="No subjects in the groups C"):
        survival.log_rank([1, 2, 3], [1, 0, 1], ["A", "B", "A"], levels=["A", "B", "C"])
    with pytest.raises(AnalysisError, match="no value for the groups"):
        survival.log_rank([1, 2, 3], [1, 0, 1], ["A", None, "B"])


def test_log_rank_agrees_with_statsmodels_on_random_data() -> None:
    from statsmodels.duration.survfunc import survdiff

    rng = np.random.default_rng(20240611)
    for _ in range(20):
        n = int(rng.integers(20, 300))
        g = rng.integers(0, 3, n)
        t = np.ceil(rng.exponential(10, n) * (1 + 0.3 * g))
        e = (rng.uniform(size=n) < 0.7).astype(int)
        ours = survival.log_rank(t, e, g.tolist())
        chi2, _p = survdiff(t, e, g)
        assert ours.chi2 == pytest.approx(chi2, rel=1e-9)
