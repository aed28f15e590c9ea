"""Study outcomes as text tables for the terminal (``gisttracker outcomes``).

The same figures as the window and the PDF, laid out with the command line's plain aligned
tables; times in months, 95% intervals, patients never named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gisttracker.cli.common import print_table
from gisttracker.i18n import _, local, ngettext
from gisttracker.outcomes import StudyOutcomes
from gisttracker.outcomes.analyse import (
    DescriptiveResult,
    ProportionResult,
    RepeatedResult,
    TimeToEventResult,
)
from gisttracker.outcomes.text import (
    conf_label,
    endpoint_sentences,
    exclusion_text,
    found_label,
    group_label,
    hr_ci,
    landmark_name,
    level_text,
    measure_label,
    months_ci,
    number,
    p_value,
    percent_ci,
    term_label,
    type_label,
)

if TYPE_CHECKING:
    from gisttracker.outcomes.analyse import Comparison, CoxFit, SurvivalSummary

__all__ = ["print_outcomes"]


def print_outcomes(o: StudyOutcomes) -> None:
    """Every endpoint of ``o``: its definition in words, then its tables and tests."""
    print(_("{study}: outcomes as of {as_of}").format(study=o.study.key,
                                                     as_of=o.as_of.isoformat()))
    print(ngettext("{n} patient enrolled by then (first enrollment {first}).",
                   "{n} patients enrolled by then (first enrollment {first}).",
                   len(o.patients)).format(n=len(o.patients), first=o.first_enrollment))
    print(_("Times in months; 95% confidence intervals ({kind} for survival curves).").format(
        kind=conf_label(o.conf_type)))
    for result in o.results.values():
        endpoint = result.endpoint
        print()
        print(_("== {name} ({type}) ==").format(name=local(endpoint.name),
                                               type=type_label(endpoint)))
        for sentence in endpoint_sentences(o.study, endpoint):
            print(f"   {sentence}")
        print()
        if isinstance(result, TimeToEventResult):
            _time_to_event(o, result)
        elif isinstance(result, ProportionResult):
            _proportion(o, result)
        elif isinstance(result, RepeatedResult):
            _repeated(o, result)
        elif isinstance(result, DescriptiveResult):
            _descriptive(o, result)
        excluded = getattr(result, "excluded", ())
        if excluded:
            reasons: dict[str, int] = {}
            for _uid, reason in excluded:
                reasons[reason] = reasons.get(reason, 0) + 1
            for reason, count in reasons.items():
                print(ngettext("{n} patient left out: {reason}.",
                               "{n} patients left out: {reason}.", count).format(
                    n=count, reason=exclusion_text(reason)))


def _survival_rows(o: StudyOutcomes, summaries: list[SurvivalSummary],
                   landmarks: tuple[float, ...], incidence: bool) -> None:
    header = [_("Group"), _("Patients"), _("Events"), _("Censored")]
    if incidence:
        header.append(_("Competing"))
    header.append(_("Median (95% CI)"))
    header += [landmark_name(m) for m in landmarks]
    rows = []
    for s in summaries:
        row = [group_label(o.study, s.group), str(s.n), str(s.events), str(s.censored)]
        if incidence:
            row.append(str(s.competing))
        if s.note and s.km is None:
            rows.append([*row, s.note])
            continue
        row.append(months_ci(s.median, s.median_lower, s.median_upper))
        points = s.incidence if incidence else s.landmarks
        row += [percent_ci(p.estimate, p.lower, p.upper) for p in points]
        rows.append(row)
    width = max(len(r) for r in rows)
    print_table(header[:width] + [""] * (width - len(header)),
                [r + [""] * (width - len(r)) for r in rows])


def _test_line(o: StudyOutcomes, label: str, c: Comparison) -> None:
    if c.chi2 is None:
        print(_("{label}: {note}").format(label=label, note=c.note))
    else:
        print(_("{label}: chi-square {chi2} on {df} df, p = {p}").format(
            label=label, chi2=f"{c.chi2:.2f}", df=c.df, p=p_value(c.p)))


def _cox(o: StudyOutcomes, title: str, fit: CoxFit) -> None:
    terms = ", ".join(term_label(o.study, t) for t in fit.terms)
    print(_("{title}: {terms}").format(title=title, terms=terms))
    if fit.note:
        print("   " + fit.note)
        return
    print_table([_("Term"), _("HR (95% CI)"), _("coef"), _("SE"), _("z"), _("p")],
                [[level_text(o.study, r.covariate, r.level), hr_ci(r.hr, r.lower, r.upper),
                  number(r.coef, 3), number(r.se, 3), number(r.z, 2), p_value(r.p)]
                 for r in fit.rows])
    print(_("n = {n}, events = {events}; likelihood-ratio test {chi2} on {df} df, p = {p}"
            ).format(n=fit.n, events=fit.events, chi2=number(fit.lr_chi2),
                     df=fit.lr_df, p=p_value(fit.lr_p)))
    glob = next((r for r in fit.ph if r.covariate is None), None)
    if glob is not None:
        print(_("Proportional hazards (cox.zph, global): chi-square {chi2} on {df} df, "
                "p = {p}").format(chi2=number(glob.chisq), df=glob.df, p=p_value(glob.p)))
    for caution in fit.cautions:
        print("   " + caution)
    if fit.missing:
        print(ngettext("{n} patient left out: a term not recorded.",
                       "{n} patients left out: a term not recorded.", fit.missing).format(
            n=fit.missing))


def _time_to_event(o: StudyOutcomes, r: TimeToEventResult) -> None:
    competing = r.competing
    summaries = [r.overall, *r.groups] if len(r.groups) > 1 else [r.overall]
    _survival_rows(o, summaries, r.landmarks, False)
    if competing:
        print()
        print(_("Cumulative incidence of the event, death without it competing:"))
        _survival_rows(o, summaries, r.landmarks, True)
    if r.log_rank is not None:
        print()
        _test_line(o, _("Log-rank test, all groups"), r.log_rank)
        for c in r.pairwise:
            _test_line(o, _("{group} against {reference}").format(
                group=group_label(o.study, c.groups[-1]),
                reference=group_label(o.study, r.reference)), c)
    for fit in r.univariate:
        print()
        _cox(o, _("Cox model, univariate"), fit)
    if r.multivariable is not None:
        print()
        _cox(o, _("Cox model, multivariable"), r.multivariable)
    for sub in r.subgroups:
        print()
        level = _("yes") if sub.level else _("no")
        print(_("Subgroup {covariate} = {level}:").format(
            covariate=term_label(o.study, sub.covariate), level=level))
        _survival_rows(o, list(sub.summaries), r.landmarks, False)
        if sub.log_rank is not None:
            _test_line(o, _("Log-rank test, all groups"), sub.log_rank)


def _proportion(o: StudyOutcomes, r: ProportionResult) -> None:
    rows = [r.overall, *r.groups] if len(r.groups) > 1 else [r.overall]
    print_table([_("Group"), _("Yes"), _("Evaluable"), _("Rate (95% CI)"),
                 _("Not yet evaluable")],
                [[group_label(o.study, x.group), str(x.successes), str(x.total),
                  percent_ci(x.estimate, x.lower, x.upper), str(len(x.pending_patients))]
                 for x in rows])
    if r.test is not None:
        name = _("Fisher's exact test") if r.test == "fisher" else _("Chi-square test")
        print(_("{test}: p = {p}").format(test=name, p=p_value(r.p)))
    if r.note:
        print(r.note)


def _repeated(o: StudyOutcomes, r: RepeatedResult) -> None:
    if r.note:
        print(r.note)
        return
    print_table([_("Scale"), _("Visit"), _("n"), _("Mean (SD)"), _("Median (IQR)"),
                 _("Change from first visit (95% CI)")],
                [[_(x.label), o.study.visit_name(x.visit, x.visit), str(x.n),
                  _("{mean} ({sd})").format(mean=number(x.mean, 1), sd=number(x.sd, 1)),
                  _("{median} ({q1}–{q3})").format(median=number(x.median, 1),
                                                  q1=number(x.q1, 1), q3=number(x.q3, 1)),
                  "" if x.change_mean is None else _("{mean} ({lower} to {upper})").format(
                      mean=number(x.change_mean, 1), lower=number(x.change_lower, 1),
                      upper=number(x.change_upper, 1))]
                 for x in r.scales if x.n])
    for c in r.categories:
        counts = ", ".join(f"{_(name)} {count}" for name, count, _who in c.counts)
        print(_("{visit}: {counts} (n = {n})").format(
            visit=o.study.visit_name(c.visit, c.visit), counts=counts, n=c.n))


def _descriptive(o: StudyOutcomes, r: DescriptiveResult) -> None:
    if r.numbers:
        print_table([_("Measure"), _("Group"), _("n"), _("Mean (SD)"), _("Median (IQR)"),
                     _("Range")],
                    [[measure_label(x.measure), group_label(o.study, x.group), str(x.n),
                      _("{mean} ({sd})").format(mean=number(x.mean, 1), sd=number(x.sd, 1)),
                      _("{median} ({q1}–{q3})").format(median=number(x.median, 1),
                                                      q1=number(x.q1, 1), q3=number(x.q3, 1)),
                      _("{low}–{high}").format(low=number(x.minimum, 1),
                                               high=number(x.maximum, 1))]
                     for x in r.numbers])
    if r.counts:
        print_table([_("Measure"), _("Value"), _("Group"), _("Patients")],
                    [[measure_label(x.measure), found_label(x.value),
                      group_label(o.study, x.group), str(x.count)] for x in r.counts])
