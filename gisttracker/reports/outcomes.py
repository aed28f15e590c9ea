"""Study outcomes as PDF: every computed endpoint of a study, derived and analysed as of the
data cut-off, with its definition in words, Kaplan–Meier (or cumulative incidence) curves
drawn as vector graphics with the numbers at risk under the axis, tables of medians, rates,
tests and Cox models, proportions with their exact intervals, and questionnaire scores over
time. Pseudonymous: no patient is named.

Gathering is :func:`gisttracker.outcomes.compute` with the Cox models
(:func:`gather_outcomes`); the layout below reads only its results. Curves come from
:mod:`gisttracker.outcomes.curves`, the same geometry the window draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from reportlab.graphics.shapes import Circle, Drawing, Line, PolyLine
from reportlab.lib import colors
from reportlab.platypus import Flowable, KeepTogether

from gisttracker.i18n import _, local, ngettext
from gisttracker.outcomes import StudyOutcomes, add_models, compute
from gisttracker.outcomes.analyse import (
    Comparison,
    CoxFit,
    DescriptiveResult,
    ProportionResult,
    RepeatedResult,
    ScaleRow,
    SurvivalSummary,
    TimeToEventResult,
)
from gisttracker.outcomes.curves import Curve, curve_of, nice_ticks
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
from gisttracker.reports.base import Report, ReportContext, add_text, text_width, wrap_text
from gisttracker.reports.fonts import markup
from gisttracker.session import Session

__all__ = ["PALETTE", "OutcomesReport", "gather_outcomes"]

#: Group colours (colour-blind safe, Okabe–Ito), in protocol order; the window uses them too.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")


def gather_outcomes(session: Session, study_key: str, *, as_of: date) -> StudyOutcomes:
    """Everything the report shows (Cox models included). OutcomeError as
    :func:`gisttracker.outcomes.compute`."""
    return add_models(compute(session, study_key, as_of=as_of))


class OutcomesReport(Report):
    """A study's outcomes, endpoint after endpoint."""

    title = "Study outcomes"

    def __init__(self, context: ReportContext, data: StudyOutcomes) -> None:
        super().__init__(context)
        self.data = data

    def subtitle(self) -> str:
        return _("{study} · as of {as_of}").format(study=self.data.study.key,
                                                   as_of=self.data.as_of.isoformat())

    # ----- drawings ---------------------------------------------------------------------
    def _colour(self, group: str | None) -> colors.Color:
        codes = [a.code for a in self.data.study.arms]
        index = codes.index(group) if group in codes else len(PALETTE) - 1
        return colors.HexColor(PALETTE[index % len(PALETTE)])

    def curve_chart(self, summaries: Sequence[SurvivalSummary], *, incidence: bool) -> Drawing:
        """Step curves of each group with censoring marks and, under the axis, the numbers
        at risk (vector graphics)."""
        f = self.fonts
        end = max((s.km.time[-1] for s in summaries if s.km is not None and s.km.time.size),
                  default=1.0)
        ticks = nice_ticks(float(end))
        curves = [c for s in summaries
                  if (c := curve_of(s, incidence=incidence, ticks=ticks)) is not None]
        rows = len(curves)
        names = [group_label(self.data.study, c.group) for c in curves]
        widest = max([text_width(n, f.regular, f.cjk, 6.5) for n in names]
                     + [text_width(_("Number at risk"), f.bold, f.cjk, 7)], default=0.0)
        left, right, top = min(max(62.0, widest + 10), 150.0), 12.0, 16.0
        risk_height = 12.0 * (rows + 1) + 6
        width, plot_h = self.width, 150.0
        height = top + plot_h + 22 + risk_height
        d = Drawing(width, height)
        x0, y0 = left, risk_height + 22
        plot_w = width - left - right
        tmax = ticks[-1] or 1.0

        def px(t: float) -> float:
            return x0 + plot_w * min(t, tmax) / tmax

        def py(v: float) -> float:
            return y0 + plot_h * v

        grey = colors.HexColor("#888888")
        d.add(Line(x0, y0, x0 + plot_w, y0, strokeColor=grey, strokeWidth=0.6))
        d.add(Line(x0, y0, x0, y0 + plot_h, strokeColor=grey, strokeWidth=0.6))
        for v in (0.0, 0.25, 0.5, 0.75, 1.0):
            d.add(Line(x0 - 3, py(v), x0, py(v), strokeColor=grey, strokeWidth=0.6))
            d.add(Line(x0, py(v), x0 + plot_w, py(v), strokeColor=colors.HexColor("#e6e6e6"),
                       strokeWidth=0.4))
            label = f"{100 * v:.0f}%"
            add_text(d, x0 - 5 - text_width(label, f.regular, f.cjk, 7), py(v) - 2.5, label,
                     f.regular, f.cjk, 7)
        for t in ticks:
            d.add(Line(px(t), y0, px(t), y0 - 3, strokeColor=grey, strokeWidth=0.6))
            label = f"{t:g}"
            add_text(d, px(t) - text_width(label, f.regular, f.cjk, 7) / 2, y0 - 11, label,
                     f.regular, f.cjk, 7)
        axis = _("Months from the origin")
        add_text(d, x0 + plot_w - text_width(axis, f.regular, f.cjk, 7), y0 - 20, axis,
                 f.regular, f.cjk, 7)
        for curve in curves:
            colour = self._colour(curve.group)
            self._draw_curve(d, curve, colour, px, py)
        # Numbers at risk, one row per group, under the axis.
        add_text(d, 0, risk_height - 10, _("Number at risk"), f.bold, f.cjk, 7)
        for i, curve in enumerate(curves):
            y = risk_height - 10 - 12 * (i + 1)
            name = group_label(self.data.study, curve.group)
            short = name if text_width(name, f.regular, f.cjk, 6.5) < left - 6 else (
                curve.group or name[:8])
            add_text(d, 0, y, short, f.regular, f.cjk, 6.5, fillColor=self._colour(curve.group))
            for t, n in zip(curve.ticks, curve.at_risk, strict=True):
                label = str(n)
                add_text(d, px(t) - text_width(label, f.regular, f.cjk, 6.5) / 2, y, label,
                         f.regular, f.cjk, 6.5)
        # Legend, top right.
        x = x0 + 6
        for curve in curves:
            name = group_label(self.data.study, curve.group)
            d.add(Line(x, height - 8, x + 14, height - 8, strokeColor=self._colour(curve.group),
                       strokeWidth=1.6))
            add_text(d, x + 17, height - 10.5, name, f.regular, f.cjk, 7)
            x += 24 + text_width(name, f.regular, f.cjk, 7)
        return d

    @staticmethod
    def _draw_curve(d: Drawing, curve: Curve, colour: colors.Color, px: object,
                    py: object) -> None:
        assert callable(px) and callable(py)
        points: list[float] = []
        for t, v in curve.steps:
            points += [px(t), py(v)]
        d.add(PolyLine(points, strokeColor=colour, strokeWidth=1.3))
        for t, v in curve.marks:
            d.add(Line(px(t), py(v) - 2.2, px(t), py(v) + 2.2, strokeColor=colour,
                       strokeWidth=0.8))

    def score_chart(self, rows: Sequence[ScaleRow]) -> Drawing:
        """Mean score with its 95% interval (t) at each visit, for one scale."""
        f = self.fonts
        width, height = self.width, 136.0
        d = Drawing(width, height)
        x0, y0, plot_w, plot_h = 40.0, 42.0, width - 60.0, height - 56.0
        visits = [r for r in rows]
        top = 42.0 if rows and rows[0].instrument == "lars" else 100.0
        grey = colors.HexColor("#888888")
        d.add(Line(x0, y0, x0 + plot_w, y0, strokeColor=grey, strokeWidth=0.6))
        d.add(Line(x0, y0, x0, y0 + plot_h, strokeColor=grey, strokeWidth=0.6))
        for v in (0.0, top / 2, top):
            y = y0 + plot_h * v / top
            label = f"{v:g}"
            add_text(d, x0 - 4 - text_width(label, f.regular, f.cjk, 7), y - 2.5, label,
                     f.regular, f.cjk, 7)
            d.add(Line(x0, y, x0 + plot_w, y, strokeColor=colors.HexColor("#e6e6e6"),
                       strokeWidth=0.4))
        step = plot_w / max(len(visits), 1)
        points: list[float] = []
        colour = colors.HexColor(PALETTE[0])
        for i, r in enumerate(visits):
            x = x0 + step * (i + 0.5)
            name = self.data.study.visit_name(r.visit, r.visit)
            lines = wrap_text(name, f.regular, f.cjk, 6.5, step - 4)
            for i, line in enumerate(lines[:3]):
                add_text(d, x - text_width(line, f.regular, f.cjk, 6.5) / 2, y0 - 10 - 8 * i,
                         line, f.regular, f.cjk, 6.5)
            label = _("n = {n}").format(n=r.n)
            add_text(d, x - text_width(label, f.regular, f.cjk, 6.5) / 2,
                     y0 - 12 - 8 * min(len(lines), 3), label, f.regular, f.cjk, 6.5)
            if r.mean is None:
                continue
            y = y0 + plot_h * r.mean / top
            points += [x, y]
            d.add(Circle(x, y, 2.2, fillColor=colour, strokeColor=colour))
            if r.mean_lower is not None and r.mean_upper is not None:
                lo = y0 + plot_h * max(0.0, r.mean_lower) / top
                hi = y0 + plot_h * min(top, r.mean_upper) / top
                d.add(Line(x, lo, x, hi, strokeColor=colour, strokeWidth=0.8))
        if len(points) >= 4:
            d.add(PolyLine(points, strokeColor=colour, strokeWidth=1.1))
        return d

    # ----- tables -----------------------------------------------------------------------
    def _lines(self, *lines: str) -> Flowable:
        """A table cell of several lines."""
        return self.rich("<br/>".join(markup(line) for line in lines), "cell")

    def _survival_table(self, summaries: Sequence[SurvivalSummary], landmarks: Sequence[float],
                        incidence: bool) -> Flowable:
        study = self.data.study
        header = [_("Group"), _("Patients"), _("Events"), _("Censored")]
        if incidence:
            header.append(_("Competing"))
        header.append(_("Median, months (95% CI)"))
        header += [landmark_name(m) for m in landmarks]
        rows = []
        for s in summaries:
            row = [group_label(study, s.group), str(s.n), str(s.events), str(s.censored)]
            if incidence:
                row.append(str(s.competing))
            if s.km is None:
                row += [s.note] + [""] * len(landmarks)
            else:
                row.append(months_ci(s.median, s.median_lower, s.median_upper))
                points = s.incidence if incidence else s.landmarks
                row += [percent_ci(p.estimate, p.lower, p.upper) for p in points]
                row += [""] * (len(landmarks) - len(points))
            rows.append(row)
        widths = [2.2, 1.1, 0.9, 1.1] + ([1.2] if incidence else []) + [1.5] + \
            [1.6] * len(landmarks)
        return self.table(header, rows, widths)

    def _tests(self, result: TimeToEventResult) -> list[Flowable]:
        out: list[Flowable] = []
        study = self.data.study

        def line(label: str, c: Comparison) -> str:
            if c.chi2 is None:
                return _("{label}: {note}").format(label=label, note=c.note)
            return _("{label}: chi-square {chi2} on {df} df, p = {p}").format(
                label=label, chi2=f"{c.chi2:.2f}", df=c.df, p=p_value(c.p))

        if result.log_rank is not None:
            out.append(self.para(line(_("Log-rank test, all groups"), result.log_rank), "small"))
            for c in result.pairwise:
                out.append(self.para(line(_("{group} against {reference}").format(
                    group=group_label(study, c.groups[-1]),
                    reference=group_label(study, result.reference)), c), "small"))
        return out

    def _cox_table(self, fits: Sequence[CoxFit], title: str) -> list[Flowable]:
        study = self.data.study
        rows: list[list[str]] = []
        notes: list[str] = []
        for fit in fits:
            if fit.note:
                notes.append(_("{terms}: {note}").format(
                    terms=", ".join(term_label(study, t) for t in fit.terms), note=fit.note))
                continue
            ph = {r.covariate: r for r in fit.ph}
            for r in fit.rows:
                test = ph.get(r.covariate)
                rows.append([level_text(study, r.covariate, r.level),
                             hr_ci(r.hr, r.lower, r.upper), number(r.coef, 3),
                             number(r.se, 3), p_value(r.p),
                             _("{n} / {events}").format(n=fit.n, events=fit.events),
                             p_value(test.p) if test else "—"])
            notes.extend(fit.cautions)
            if len(fits) == 1 and fit.lr_p is not None:
                glob = ph.get(None)
                notes.append(_("Likelihood-ratio test {chi2} on {df} df, p = {p}; "
                               "proportional hazards (global) p = {ph}.").format(
                    chi2=number(fit.lr_chi2), df=fit.lr_df, p=p_value(fit.lr_p),
                    ph=p_value(glob.p) if glob else "—"))
            if fit.missing:
                notes.append(ngettext("{n} patient left out: a term not recorded.",
                                      "{n} patients left out: a term not recorded.",
                                      fit.missing).format(n=fit.missing))
        out: list[Flowable] = [self.heading(title, 3)]
        if rows:
            out.append(self.table([_("Term"), _("HR (95% CI)"), _("coef"), _("SE"), _("p"),
                                   _("Patients / events"), _("PH test p")], rows,
                                  [3, 1.7, 0.8, 0.8, 0.7, 1.1, 0.9]))
        out += [self.para(n, "small") for n in dict.fromkeys(notes)]
        return out

    def _time_to_event(self, r: TimeToEventResult) -> list[Flowable]:
        summaries = [*r.groups] if len(r.groups) > 1 else [r.overall]
        table_rows = [r.overall, *r.groups] if len(r.groups) > 1 else [r.overall]
        out: list[Flowable] = []
        if any(s.km is not None for s in summaries):
            out.append(KeepTogether([self.curve_chart(summaries, incidence=False)]))
        out.append(self._survival_table(table_rows, r.landmarks, False))
        if r.competing:
            out.append(self.heading(_("Cumulative incidence (competing events)"), 3))
            if any(s.cif is not None for s in summaries):
                out.append(KeepTogether([self.curve_chart(summaries, incidence=True)]))
            out.append(self._survival_table(table_rows, r.landmarks, True))
        out += self._tests(r)
        if r.univariate:
            out += self._cox_table(r.univariate, _("Cox models, one term at a time"))
        if r.multivariable is not None:
            out += self._cox_table([r.multivariable], _("Cox model, all terms together"))
        if r.subgroups:
            out.append(self.heading(_("Subgroups"), 3))
            rows = []
            for sub in r.subgroups:
                level = _("yes") if sub.level else _("no")
                name = _("{covariate}: {level}").format(
                    covariate=term_label(self.data.study, sub.covariate), level=level)
                p = p_value(sub.log_rank.p) if sub.log_rank and sub.log_rank.p is not None \
                    else (sub.log_rank.note if sub.log_rank else "—")
                for s in sub.summaries:
                    last = s.landmarks[-1] if s.landmarks else None
                    rows.append([name, group_label(self.data.study, s.group), str(s.n),
                                 str(s.events),
                                 percent_ci(last.estimate, last.lower, last.upper)
                                 if last else "—", p])
                    name, p = "", ""
            header = [_("Subgroup"), _("Group"), _("Patients"), _("Events"),
                      landmark_name(r.landmarks[-1]) if r.landmarks else "",
                      _("Log-rank p")]
            out.append(self.table(header, rows, [2.4, 2.2, 0.8, 0.8, 1.6, 1.0]))
        return out

    def _proportion(self, r: ProportionResult) -> list[Flowable]:
        study = self.data.study
        rows = [r.overall, *r.groups] if len(r.groups) > 1 else [r.overall]
        out: list[Flowable] = [self.table(
            [_("Group"), _("Yes"), _("Evaluable"), _("Rate (95% CI)"), _("Not yet evaluable"),
             _("Found")],
            [[group_label(study, x.group), str(x.successes), str(x.total),
              percent_ci(x.estimate, x.lower, x.upper), str(len(x.pending_patients)),
              ", ".join(f"{found_label(k)} {len(v)}" for k, v in x.found)] for x in rows],
            [2.4, 0.7, 0.9, 1.7, 1.1, 2.2])]
        if r.test is not None:
            name = _("Fisher's exact test") if r.test == "fisher" else _("Chi-square test")
            out.append(self.para(_("{test}: p = {p}").format(test=name, p=p_value(r.p))))
        if r.note:
            out.append(self.para(r.note, "small"))
        return out

    def _repeated(self, r: RepeatedResult) -> list[Flowable]:
        """A chart of the headline scale of each questionnaire, then one row per scale and
        one column per visit: mean (SD), median [IQR] and n; then the change from the
        first visit with its 95% interval."""
        study = self.data.study
        if r.note:
            return [self.para(r.note)]
        out: list[Flowable] = []
        headline = {"qlq_c30": "QL2", "qlq_cr29": "BI", "lars": "total"}
        visits = list(r.endpoint.visits)
        names = [study.visit_name(v, v) for v in visits]
        for instrument in r.endpoint.instruments:
            mine = [x for x in r.scales if x.instrument == instrument]
            rows = [x for x in mine if x.scale == headline.get(instrument)]
            if rows and any(x.n for x in rows):
                out.append(KeepTogether([self.heading(_(rows[0].label), 3),
                                         self.score_chart(rows)]))
            by_scale: dict[str, dict[str, ScaleRow]] = {}
            labels: dict[str, str] = {}
            for x in mine:
                by_scale.setdefault(x.scale, {})[x.visit] = x
                labels[x.scale] = _(x.label)
            scores, changes = [], []
            for scale, cells in by_scale.items():
                if not any(c.n for c in cells.values()):
                    continue
                scores.append([labels[scale], *[
                    self._lines(_("{mean} ({sd})").format(mean=number(c.mean, 1),
                                                          sd=number(c.sd, 1)),
                                _("{median} [{q1}–{q3}]").format(
                                    median=number(c.median, 1), q1=number(c.q1, 1),
                                    q3=number(c.q3, 1)),
                                _("n = {n}").format(n=c.n))
                    if (c := cells.get(v)) is not None and c.n else "—" for v in visits]])
                changes.append([labels[scale], *[
                    self._lines(_("{mean} ({lower} to {upper})").format(
                        mean=number(c.change_mean, 1), lower=number(c.change_lower, 1),
                        upper=number(c.change_upper, 1)), _("n = {n}").format(n=c.change_n))
                    if (c := cells.get(v)) is not None and c.change_mean is not None else "—"
                    for v in visits[1:]]])
            if scores:
                out.append(self.para(_("Scores: mean (SD), median [IQR] and n at each visit."),
                                     "small"))
                # Visit columns wide enough for "83.3 [50.0–100.0]" on one line.
                out.append(self.table([_("Scale"), *names], scores,
                                      [1.7] + [1.45] * len(visits)))
                out.append(self.para(_("Change from the first visit: mean (95% CI) of the "
                                       "patients with both."), "small"))
                out.append(self.table([_("Scale"), *names[1:]], changes,
                                      [1.7] + [1.45] * (len(visits) - 1)))
        if r.categories:
            categories = [name for name, _count, _who in r.categories[0].counts]
            out.append(self.table(
                [_("Visit"), _("n"), *[_(n) for n in categories]],
                [[study.visit_name(c.visit, c.visit), str(c.n),
                  *[f"{count} ({100 * count / c.n:.0f}%)" if c.n else "0"
                    for _name, count, _who in c.counts]] for c in r.categories],
                [2.4, 0.6] + [1.2] * len(categories)))
        return out

    def _descriptive(self, r: DescriptiveResult) -> list[Flowable]:
        study = self.data.study
        out: list[Flowable] = []
        if r.numbers:
            out.append(self.table(
                [_("Measure"), _("Group"), _("n"), _("Mean (SD)"), _("Median (IQR)"),
                 _("Range")],
                [[measure_label(x.measure), group_label(study, x.group), str(x.n),
                  _("{mean} ({sd})").format(mean=number(x.mean, 1), sd=number(x.sd, 1)),
                  _("{median} ({q1}–{q3})").format(median=number(x.median, 1),
                                                  q1=number(x.q1, 1), q3=number(x.q3, 1)),
                  _("{low}–{high}").format(low=number(x.minimum, 1),
                                           high=number(x.maximum, 1))]
                 for x in r.numbers], [2.6, 2.2, 0.5, 1.1, 1.3, 1.0]))
        if r.counts:
            out.append(self.table(
                [_("Measure"), _("Value"), _("Group"), _("Patients")],
                [[measure_label(x.measure), found_label(x.value), group_label(study, x.group),
                  str(x.count)] for x in r.counts], [2.6, 1.6, 2.4, 0.8]))
        return out

    # ----- the story --------------------------------------------------------------------
    def story(self) -> list[Flowable]:
        o = self.data
        study = o.study
        out: list[Flowable] = [
            self.para(_("Study outcomes — {study}").format(study=study.key), "title"),
            self.para(local(study.title)), self.spacer(2),
            self.key_values([
                (_("Data cut-off"), o.as_of.isoformat()),
                (_("Patients"), ngettext("{n} enrolled by the cut-off (first enrollment {first})",
                                         "{n} enrolled by the cut-off (first enrollment {first})",
                                         len(o.patients)).format(n=len(o.patients),
                                                                 first=o.first_enrollment)),
                (_("Groups"), ", ".join(
                    f"{group_label(study, g)} ({sum(p.group == g for p in o.patients)})"
                    for g in o.groups) or "—"),
                (_("Methods"), _("Times in months (days / 30.4375). Kaplan–Meier with "
                                 "Greenwood's variance and {kind} 95% confidence intervals; "
                                 "log-rank tests; Cox models with Efron's ties; "
                                 "Clopper–Pearson intervals; chi-square or Fisher's exact "
                                 "test.").format(kind=conf_label(o.conf_type))),
                (_("Patients named"), _("none: the report is pseudonymous"))])]
        for result in o.results.values():
            endpoint = result.endpoint
            role = _("primary") if endpoint.kind == "primary" else _("secondary")
            out.append(self.heading(_("{name} ({role}, {type})").format(
                name=local(endpoint.name), role=role, type=type_label(endpoint))))
            out.append(self.para(local(endpoint.definition), "small"))
            out.append(self.para(" ".join(endpoint_sentences(study, endpoint)), "small"))
            out.append(self.spacer(1.5))
            if isinstance(result, TimeToEventResult):
                out += self._time_to_event(result)
            elif isinstance(result, ProportionResult):
                out += self._proportion(result)
            elif isinstance(result, RepeatedResult):
                out += self._repeated(result)
            elif isinstance(result, DescriptiveResult):
                out += self._descriptive(result)
            reasons: dict[str, int] = {}
            for _uid, reason in getattr(result, "excluded", ()):
                reasons[reason] = reasons.get(reason, 0) + 1
            for reason, count in reasons.items():
                out.append(self.para(ngettext("{n} patient left out: {reason}.",
                                              "{n} patients left out: {reason}.", count).format(
                    n=count, reason=exclusion_text(reason)), "small"))
        return out
