"""Cox models and cox.zph against R's printed output on published data sets.

Sources of the R numbers (cited per test):
- [surv-ex] therneau/survival, tests/Examples/survival-Ex.Rout.save (R 2023-01):
  summary(coxph(Surv(time, status) ~ age + sex, lung)); coxph(... ~ ph.ecog + age, lung)
  (pspline example, fit0); coxph(... ~ x + strata(sex), test1); coxph(Surv(futime,
  fustat) ~ age + strata(rx), ovarian); anova(coxph(...), ovarian) log-likelihoods;
  cox.zph(coxph(Surv(futime, fustat) ~ age + ecog.ps, ovarian)).
- [doaml] therneau/survival, tests/doaml.Rout.save: coxph(..., method = "breslow") on aml.
- [aml-efron] R ≥ 4 print of coxph(Surv(time, status) ~ x, data = aml), reproduced in
  published R course notes: coef 0.9155, exp(coef) 2.4981, se 0.5119, z 1.788,
  p 0.0737, LR 3.38 p = 0.06581 (the figures the issue quotes).
- [freireich] R output on the Freireich 6-MP remission data (Group 1 = 6-MP,
  Group 2 = placebo): summary(coxph(... ~ Group)) and cox.zph as printed in published
  course material. (The same material's models with logWBC use a copy of logWBC that
  differs from Kleinbaum's published values, so they are not used here.)
- [lung-zph] the same course material: coxph and cox.zph on lung with
  catage (age <= 47: 1, 48-71: 2, >= 72: 3), ph.karno and sex, after na.omit.
- [rossi] Fox & Weisberg's Cox-regression appendix model mod.allison on carData::Rossi,
  summary(coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio)) as
  printed in published course material (R factors: fin yes, race other, mar not married).
"""

from __future__ import annotations

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


def _check_term(term: survival.CoxTerm, coef: str, hr: str, se: str, z: str, p: str) -> None:
    check(term.coef, coef, "coef")
    check(term.hr, hr, "exp(coef)")
    check(term.se, se, "se(coef)")
    check(term.z, z, "z")
    check(term.p, p, "p")


def test_aml_cox_efron_and_breslow_equal_r() -> None:
    cx = survival.cox(AML_TIME, AML_STATUS, {"x": AML_X})
    assert list(cx.terms) == ["xNonmaintained"]  # R's name for the factor's column
    term = cx.terms["xNonmaintained"]
    _check_term(term, "0.9155", "2.4981", "0.5119", "1.788", "0.0737")  # [aml-efron]
    check(cx.lr_chi2, "3.38")
    check(cx.lr_p, "0.06581")
    assert (cx.n, cx.n_events, cx.df, cx.ties) == (23, 18, 1, "efron")
    breslow = survival.cox(AML_TIME, AML_STATUS, {"x": AML_X}, ties="breslow")
    # [doaml] coef 0.904 exp(coef) 2.470 se(coef) 0.512 z 1.77 p 0.078; LR 3.3, p = 0.07
    _check_term(breslow.terms["xNonmaintained"], "0.904", "2.470", "0.512", "1.77", "0.078")
    check(breslow.lr_chi2, "3.3")
    check(breslow.lr_p, "0.07")


def test_freireich_cox_models_equal_r() -> None:
    t, e = column(FREIREICH, 0), column(FREIREICH, 1)
    group = ["1" if row[3] == 0 else "2" for row in FREIREICH]
    cx = survival.cox(t, e, {"Group": group})
    # [freireich] Group2 1.5721 4.8169 0.4124 3.812 0.000138; LR 16.35 p = 5.261e-05;
    # Wald 14.53 p = 0.0001378; Score 17.25 p = 3.283e-05; HR of 6-MP vs placebo
    # exp(-1.5721) = 0.2076 with 95 % CI 0.09251 - 0.4659
    _check_term(cx.terms["Group2"], "1.5721", "4.8169", "0.4124", "3.812", "0.000138")
    check(cx.lr_chi2, "16.35")
    check(cx.lr_p, "5.261e-05")
    check(cx.wald_chi2, "14.53")
    check(cx.wald_p, "0.0001378")
    check(cx.score_chi2, "17.25")
    check(cx.score_p, "3.283e-05")
    check(1 / cx.terms["Group2"].upper, "0.09251")
    check(1 / cx.terms["Group2"].lower, "0.4659")


def test_freireich_cox_zph_equals_r() -> None:
    t, e = column(FREIREICH, 0), column(FREIREICH, 1)
    group = ["1" if row[3] == 0 else "2" for row in FREIREICH]
    zph = survival.cox_zph(survival.cox(t, e, {"Group": group}))
    # [freireich] cox.zph(model5.2_Group): Group 0.0229 1 0.88; GLOBAL 0.0229 1 0.88
    check(zph.terms["Group"].chisq, "0.0229")
    check(zph.terms["Group"].p, "0.88")
    check(zph.global_test.chisq, "0.0229")


def _ovarian() -> tuple[list[float], list[float]]:
    return column(OVARIAN, 0), column(OVARIAN, 1)


def test_ovarian_models_log_likelihoods_and_stratified_fit_equal_r() -> None:
    t, e = _ovarian()
    age, resid, rx, ecog = (column(OVARIAN, i) for i in (2, 3, 4, 5))
    # [surv-ex] coxph(Surv(futime, fustat) ~ age + strata(rx)): 0.13735 1.14723 0.04741
    # 2.897 0.00376; LR 12.69 p = 0.0003678
    strat = survival.cox(t, e, {"age": age}, strata=rx)
    _check_term(strat.terms["age"], "0.13735", "1.14723", "0.04741", "2.897", "0.00376")
    check(strat.lr_chi2, "12.69")
    check(strat.lr_p, "0.0003678")
    # [surv-ex] anova(coxph(... ~ resid.ds * rx + ecog.ps)): loglik NULL -34.985,
    # resid.ds -33.105, + rx -32.269, + ecog.ps -31.970
    m1 = survival.cox(t, e, {"resid.ds": resid})
    check(m1.loglik[0], "-34.985")
    check(m1.loglik[1], "-33.105")
    check(survival.cox(t, e, {"resid.ds": resid, "rx": rx}).loglik[1], "-32.269")
    check(survival.cox(t, e, {"resid.ds": resid, "rx": rx, "ecog.ps": ecog}).loglik[1],
          "-31.970")


def test_ovarian_cox_zph_equals_r() -> None:
    t, e = _ovarian()
    fit = survival.cox(t, e, {"age": column(OVARIAN, 2), "ecog.ps": column(OVARIAN, 5)})
    zph = survival.cox_zph(fit)
    # [surv-ex] print(cox.zph(fit)): age 0.698 1 0.40; ecog.ps 2.371 1 0.12; GLOBAL 3.633 2 0.16
    check(zph.terms["age"].chisq, "0.698")
    check(zph.terms["age"].p, "0.40")
    check(zph.terms["ecog.ps"].chisq, "2.371")
    check(zph.terms["ecog.ps"].p, "0.12")
    check(zph.global_test.chisq, "3.633")
    check(zph.global_test.p, "0.16")
    assert zph.global_test.df == 2 and zph.transform == "km"


def test_stratified_cox_on_the_smallest_data_set_equals_r() -> None:
    # [surv-ex] coxph(Surv(time, status) ~ x + strata(sex), test1): x 0.8023 2.2307 0.8224
    # 0.976 0.329; LR 1.09, p = 0.2971
    cx = survival.cox([4, 3, 1, 1, 2, 2, 3], [1, 1, 1, 0, 1, 1, 0], {"x": [0, 2, 1, 1, 1, 0, 0]},
                      strata=[0, 0, 0, 0, 1, 1, 1])
    _check_term(cx.terms["x"], "0.8023", "2.2307", "0.8224", "0.976", "0.329")
    check(cx.lr_chi2, "1.09")
    check(cx.lr_p, "0.2971")


def _lung_complete(columns: tuple[str, ...]) -> list[dict[str, str]]:
    return [r for r in read_csv("lung.csv") if all(r[c] for c in columns)]


def test_lung_models_equal_r() -> None:
    rows = read_csv("lung.csv")
    t = [float(r["time"]) for r in rows]
    e = [int(r["status"]) for r in rows]
    cx = survival.cox(t, e, {"age": [float(r["age"]) for r in rows],
                             "sex": [float(r["sex"]) for r in rows]})
    # [surv-ex] summary(coxph(Surv(time, status) ~ age + sex, lung))
    _check_term(cx.terms["age"], "0.017045", "1.017191", "0.009223", "1.848", "0.06459")
    _check_term(cx.terms["sex"], "-0.513219", "0.598566", "0.167458", "-3.065", "0.00218")
    check(cx.terms["age"].lower, "0.9990")
    check(cx.terms["age"].upper, "1.0357")
    check(cx.terms["sex"].lower, "0.4311")
    check(cx.terms["sex"].upper, "0.8311")
    check(cx.lr_chi2, "14.12")
    check(cx.wald_chi2, "13.47")
    check(cx.score_chi2, "13.72")
    check(cx.lr_p, "9e-04")
    assert (cx.n, cx.n_events) == (228, 165)

    sub = _lung_complete(("ph.ecog",))
    fit0 = survival.cox([float(r["time"]) for r in sub], [int(r["status"]) for r in sub],
                        {"ph.ecog": [float(r["ph.ecog"]) for r in sub],
                         "age": [float(r["age"]) for r in sub]})
    # [surv-ex] fit0: ph.ecog 0.443485 1.558128 0.115831 3.829 0.000129;
    # age 0.011281 1.011345 0.009319 1.211 0.226082; LR 19.06, p = 7.279e-05; n = 227
    _check_term(fit0.terms["ph.ecog"], "0.443485", "1.558128", "0.115831", "3.829", "0.000129")
    _check_term(fit0.terms["age"], "0.011281", "1.011345", "0.009319", "1.211", "0.226082")
    check(fit0.lr_chi2, "19.06")
    check(fit0.lr_p, "7.279e-05")
    assert (fit0.n, fit0.n_events) == (227, 164)


def test_lung_stratified_models_and_cox_zph_equal_r() -> None:
    sub = _lung_complete(("time", "status", "sex", "age", "ph.karno"))
    assert len(sub) == 227
    t = [float(r["time"]) for r in sub]
    e = [int(r["status"]) for r in sub]
    age = [int(r["age"]) for r in sub]
    catage = [1 if a <= 47 else 2 if a <= 71 else 3 for a in age]
    karno = [float(r["ph.karno"]) for r in sub]
    sex = [r["sex"] for r in sub]  # text: a factor with reference level "1"
    full = survival.cox(t, e, {"catage": catage, "ph.karno": karno, "sex": sex})
    zph = survival.cox_zph(full)
    # [lung-zph] cox.zph(coxph(... ~ catage + ph.karno + sex)): catage 2.35 0.1255;
    # ph.karno 7.93 0.0049; sex 3.27 0.0705; GLOBAL 10.70 3 0.0135
    for name, chisq, p in [("catage", "2.35", "0.1255"), ("ph.karno", "7.93", "0.0049"),
                           ("sex", "3.27", "0.0705")]:
        check(zph.terms[name].chisq, chisq, name)
        check(zph.terms[name].p, p, name)
    check(zph.global_test.chisq, "10.70")
    check(zph.global_test.p, "0.0135")

    strat = survival.cox(t, e, {"sex": sex, "ph.karno": karno}, strata=catage)
    # [lung-zph] sex2 -0.509868 0.600575 0.167606 -3.042 0.00235;
    # ph.karno -0.014729 0.985378 0.005946 -2.477 0.01324; LR 15.82; loglik -630.8648
    _check_term(strat.terms["sex2"], "-0.509868", "0.600575", "0.167606", "-3.042", "0.00235")
    _check_term(strat.terms["ph.karno"], "-0.014729", "0.985378", "0.005946", "-2.477",
                "0.01324")
    check(strat.lr_chi2, "15.82")
    check(strat.loglik[1], "-630.8648")
    only = survival.cox(t, e, {"ph.karno": karno}, strata=catage)
    check(only.terms["ph.karno"].coef, "-0.015318")
    check(only.terms["ph.karno"].se, "0.006108")
    check(only.loglik[1], "-635.7295")

    zph = survival.cox_zph(survival.cox(t, e, {"sex": sex, "catage": catage}, strata=karno))
    # [lung-zph] cox.zph(coxph(... ~ sex + strata(ph.karno) + catage)): sex 2.1090,
    # catage 0.0199, GLOBAL 2.1123 on 2 df
    check(zph.terms["sex"].chisq, "2.1090")
    check(zph.terms["catage"].chisq, "0.0199")
    check(zph.global_test.chisq, "2.1123")


def test_rossi_seven_covariate_model_equals_r() -> None:
    rows = read_csv("rossi.csv")
    t = [float(r["week"]) for r in rows]
    e = [int(r["arrest"]) for r in rows]
    covariates = {
        "fin": ["yes" if r["fin"] == "1" else "no" for r in rows],
        "age": [float(r["age"]) for r in rows],
        "race": ["black" if r["race"] == "1" else "other" for r in rows],
        "wexp": ["yes" if r["wexp"] == "1" else "no" for r in rows],
        "mar": ["married" if r["mar"] == "1" else "not married" for r in rows],
        "paro": ["yes" if r["paro"] == "1" else "no" for r in rows],
        "prio": [float(r["prio"]) for r in rows],
    }
    cx = survival.cox(t, e, covariates)
    assert list(cx.terms) == ["finyes", "age", "raceother", "wexpyes", "marnot married",
                              "paroyes", "prio"]
    assert (cx.n, cx.n_events) == (432, 114)
    for name, coef, hr, se, z, p, lower, upper in [
        ("finyes", "-0.37942", "0.68426", "0.19138", "-1.983", "0.04742", "0.4702", "0.9957"),
        ("age", "-0.05744", "0.94418", "0.02200", "-2.611", "0.00903", "0.9043", "0.9858"),
        ("raceother", "-0.31390", "0.73059", "0.30799", "-1.019", "0.30812", "0.3995",
         "1.3361"),
        ("wexpyes", "-0.14980", "0.86088", "0.21222", "-0.706", "0.48029", "0.5679", "1.3049"),
        ("marnot married", "0.43370", "1.54296", "0.38187", "1.136", "0.25606", "0.7300",
         "3.2614"),
        ("paroyes", "-0.08487", "0.91863", "0.19576", "-0.434", "0.66461", "0.6259", "1.3482"),
        ("prio", "0.09150", "1.09581", "0.02865", "3.194", "0.00140", "1.0360", "1.1591"),
    ]:
        _check_term(cx.terms[name], coef, hr, se, z, p)
        check(cx.terms[name].lower, lower, name)
        check(cx.terms[name].upper, upper, name)
    check(cx.lr_chi2, "33.27")
    check(cx.lr_p, "2.362e-05")
    check(cx.wald_chi2, "32.11")
    check(cx.wald_p, "3.871e-05")
    check(cx.score_chi2, "33.53")
    assert cx.notes == ()  # 114 events for 7 coefficients: enough by the 10-per rule


def test_reference_level_and_logical_covariates_are_named_like_r() -> None:
    cx = survival.cox(AML_TIME, AML_STATUS, {"x": AML_X}, reference={"x": "Nonmaintained"})
    assert list(cx.terms) == ["xMaintained"]
    check(cx.terms["xMaintained"].coef, "-0.9155")
    logical = survival.cox(AML_TIME, AML_STATUS, {"m": [x == "Maintained" for x in AML_X]})
    assert list(logical.terms) == ["mTRUE"]
    assert logical.covariates == {"m": ("mTRUE",)}


def test_models_that_cannot_be_fitted_get_a_clear_message() -> None:
    t, e = AML_TIME, AML_STATUS
    with pytest.raises(AnalysisError, match="no events"):
        survival.cox(t, [0] * len(t), {"x": AML_X})
    with pytest.raises(AnalysisError, match="Too few events for a model: 1 event for 1"):
        survival.cox([1, 2, 3, 4], [1, 0, 0, 0], {"x": [0, 1, 0, 1]})
    with pytest.raises(AnalysisError, match="same value for every subject"):
        survival.cox(t, e, {"x": ["A"] * len(t)})
    with pytest.raises(AnalysisError, match="collinear"):
        survival.cox(t, e, {"a": list(range(len(t))), "b": [2 * v for v in range(len(t))]})
    with pytest.raises(AnalysisError, match="no value for x"):
        survival.cox(t, e, {"x": [None, *AML_X[1:]]})
    with pytest.raises(AnalysisError, match="all numbers, all yes/no, or all text"):
        survival.cox(t, e, {"x": [1, *AML_X[1:]]})
    with pytest.raises(AnalysisError, match="reference level C"):
        survival.cox(t, e, {"x": AML_X}, reference={"x": "C"})
    # one group has no events: the hazard ratio is infinite, R only warns
    group = ["A"] * 10 + ["B"] * 10
    times = list(range(1, 21))
    status = [0] * 10 + [1] * 10
    with pytest.raises(AnalysisError, match="separates the events completely"):
        survival.cox(times, status, {"group": group})


def test_few_events_per_coefficient_is_noted_not_refused() -> None:
    cx = survival.cox(AML_TIME, AML_STATUS, {"x": AML_X, "t": [v % 3 for v in AML_TIME]})
    assert cx.notes and "18 events for 2 coefficients" in cx.notes[0]


def test_cox_agrees_with_lifelines_on_random_data() -> None:
    import pandas as pd
    from lifelines import CoxPHFitter

    rng = np.random.default_rng(7)
    for _ in range(5):
        n = 200
        x = rng.normal(size=(n, 3))
        t = np.ceil(rng.exponential(10, n) * np.exp(-x @ np.array([0.5, -0.3, 0.1])))
        e = (rng.uniform(size=n) < 0.75).astype(int)
        ours = survival.cox(t, e, {"a": x[:, 0], "b": x[:, 1], "c": x[:, 2]})
        frame = pd.DataFrame({"t": t, "e": e, "a": x[:, 0], "b": x[:, 1], "c": x[:, 2]})
        theirs = CoxPHFitter().fit(frame, "t", "e")  # Efron ties, like R and ours
        for name in "abc":
            assert ours.terms[name].coef == pytest.approx(theirs.params_[name], abs=1e-5)
            assert ours.terms[name].se == pytest.approx(
                theirs.standard_errors_[name], rel=1e-4)
        assert ours.lr_chi2 == pytest.approx(
            theirs.log_likelihood_ratio_test().test_statistic, rel=1e-5)
