"""The screening log of a study and its CONSORT counts, with a CONSORT-style flow diagram
drawn in the PDF (boxes and arrows: assessed → excluded by reason → enrolled → allocated
per arm → how participation went on in each arm).

Counts come from :meth:`PatientService.screening_log` and :meth:`PatientService.accrual`;
patients appear by study identifier only unless identifiers are asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from reportlab.graphics.shapes import Drawing, Line, Polygon, Rect
from reportlab.lib import colors
from reportlab.platypus import Flowable

from gisttracker.domain import eligibility
from gisttracker.i18n import N_, _, join_sentences, local
from gisttracker.reports.base import (
    HEADER_RULE,
    Report,
    ReportContext,
    add_text,
    wrap_text,
)
from gisttracker.reports.common import day
from gisttracker.services.patients import STATUS_LABELS, PatientService
from gisttracker.session import Session

__all__ = ["ConsortCounts", "ScreeningData", "ScreeningReport", "ScreeningRow",
           "gather_screening"]

OUTCOMES = {eligibility.ELIGIBLE: N_("eligible"), eligibility.INELIGIBLE: N_("not eligible"),
            eligibility.INCOMPLETE: N_("incomplete")}


@dataclass(frozen=True)
class ScreeningRow:
    patient: str
    screened_on: date
    outcome: str  # translated
    status: str  # translated
    reasons: tuple[str, ...]
    name: str | None = None  # only when identifiers were asked for


@dataclass(frozen=True)
class ConsortCounts:
    assessed: int
    excluded: int
    excluded_by_reason: tuple[tuple[str, int], ...]
    not_yet_decided: int
    enrolled: int
    # arm code, arm name, allocated, ongoing, completed, discontinued
    arms: tuple[tuple[str, str, int, int, int, int], ...]


@dataclass(frozen=True)
class ScreeningData:
    study_key: str
    study_title: str
    rows: tuple[ScreeningRow, ...]
    counts: ConsortCounts


def gather_screening(session: Session, study_key: str, *,
                     include_identifiers: bool = False) -> ScreeningData:
    """Every screening episode of the study with outcome and reasons, and the CONSORT
    counts. ServiceError for an unknown study."""
    service = PatientService(session)
    study = service.study(study_key)
    log = service.screening_log(study_key)
    accrual = service.accrual(study_key)
    names: dict[str, str] = {}
    if include_identifiers:
        cursor = session.db.execute_sql(
            "SELECT p.study_id, i.name FROM patient p JOIN patient_identity i "
            "ON i.patient_id = p.id WHERE p.study_key = ?", [study_key])
        names = {sid: name or "" for sid, name in cursor.fetchall()}
    short = {c.id: local(c.short or c.text) for c in study.criteria}
    rows = tuple(ScreeningRow(
        patient=e.patient, screened_on=e.screened_on,
        outcome=_(OUTCOMES.get(e.outcome, e.outcome)),
        status=_(STATUS_LABELS.get(e.status, e.status)),
        # TRANSLATORS: a criterion id and why it failed, in a screening log ("I3: age 84 > 75").
        reasons=tuple(_("{criterion}: {reason}").format(criterion=c, reason=r) if c else r
                      for c, r in e.reasons),
        name=names.get(e.patient) if include_identifiers else None) for e in log.entries)
    by_reason = sorted(((f"{k} {short[k]}" if k in short else _("other reasons"), n)
                        for k, n in log.failures_by_criterion.items()), key=lambda x: -x[1])
    ended: dict[tuple[str, str], int] = {}
    cursor = session.db.execute_sql(
        "SELECT arm_code, status, count(*) FROM patient WHERE study_key = ? AND "
        "enrolled_on IS NOT NULL GROUP BY arm_code, status", [study_key])
    for arm, status, n in cursor.fetchall():
        ended[(arm or "—", status)] = int(n)
    arms = []
    for arm in study.arms:
        n = accrual.by_arm.get(arm.code, 0)
        completed = ended.get((arm.code, "completed"), 0)
        stopped = sum(ended.get((arm.code, s), 0)
                      for s in ("withdrawn", "lost_to_follow_up", "died"))
        arms.append((arm.code, local(arm.name), n, n - completed - stopped, completed, stopped))
    counts = ConsortCounts(
        assessed=log.screened, excluded=log.screen_failed, excluded_by_reason=tuple(by_reason),
        not_yet_decided=max(0, log.screened - log.screen_failed - log.enrolled),
        enrolled=log.enrolled, arms=tuple(arms))
    return ScreeningData(study.key, local(study.short_title or study.title), rows, counts)


# Lines one text may take in a box of the CONSORT diagram (a drawing cannot break across
# pages, so its text is bounded; the whole reason is in the "Excluded, by reason" table).
MAX_BOX_LINES = 3


class ScreeningReport(Report):
    """Screening log and CONSORT flow of one study."""

    title = "Screening log and CONSORT flow"

    def __init__(self, context: ReportContext, data: ScreeningData) -> None:
        super().__init__(context)
        self.data = data

    def subtitle(self) -> str:
        return self.data.study_key

    # ----- the diagram --------------------------------------------------------------------
    def _box(self, drawing: Drawing, x: float, y_top: float, w: float, lines: list[str],
             bold_first: bool = True) -> float:
        """Draw a box whose top edge is at ``y_top``; returns its height."""
        size, leading = 7.5, 9.5
        height = leading * len(lines) + 8
        drawing.add(Rect(x, y_top - height, w, height, strokeColor=HEADER_RULE,
                         fillColor=colors.HexColor("#f4f8fb"), strokeWidth=0.8))
        for i, text in enumerate(lines):
            font = self.fonts.bold if bold_first and i == 0 else self.fonts.regular
            add_text(drawing, x + 5, y_top - 4 - leading * (i + 1) + 2.5, text, font,
                     self.fonts.cjk_for(text), size)
        return height

    @staticmethod
    def _arrow(drawing: Drawing, x1: float, y1: float, x2: float, y2: float) -> None:
        drawing.add(Line(x1, y1, x2, y2, strokeColor=colors.black, strokeWidth=0.8))
        if x1 == x2:  # downward
            drawing.add(Polygon([x2 - 3, y2 + 5, x2 + 3, y2 + 5, x2, y2],
                                fillColor=colors.black, strokeColor=None))
        else:  # to the right
            drawing.add(Polygon([x2 - 5, y2 - 3, x2 - 5, y2 + 3, x2, y2],
                                fillColor=colors.black, strokeColor=None))

    def diagram(self) -> Drawing:
        c = self.data.counts
        width = self.width
        font = self.fonts.regular

        def lines(head: str, body: list[str], w: float) -> list[str]:
            out = wrap_text(head, self.fonts.bold, self.fonts.cjk_for(head), 7.5, w - 10,
                            max_lines=MAX_BOX_LINES)
            for b in body:
                out += wrap_text(b, font, self.fonts.cjk_for(b), 7.5, w - 10,
                                 max_lines=MAX_BOX_LINES)
            return out

        main_w, side_w = width * 0.42, width * 0.46
        main_x, side_x = 0.0, width - side_w
        assessed = lines(_("Assessed for eligibility (n = {n})").format(n=c.assessed), [],
                         main_w)
        excluded = lines(_("Excluded (n = {n})").format(n=c.excluded),
                         [f"• {r} (n = {n})" for r, n in c.excluded_by_reason[:8]]
                         + ([_("• {k} more reasons").format(k=len(c.excluded_by_reason) - 8)]
                            if len(c.excluded_by_reason) > 8 else [])
                         + ([_("Not yet decided or not enrolled (n = {n})").format(
                             n=c.not_yet_decided)] if c.not_yet_decided else []), side_w)
        enrolled = lines(_("Enrolled (n = {n})").format(n=c.enrolled), [], main_w)
        n_arms = max(1, len(c.arms))
        gap = 8.0
        arm_w = (width - gap * (n_arms - 1)) / n_arms
        arm_boxes = [lines(_("Allocated to {code} (n = {n})").format(code=code, n=n),
                           [name], arm_w) for code, name, n, _o, _c, _d in c.arms]
        follow = [lines(_("Participation"), [
            _("ongoing: {n}").format(n=ongoing), _("completed: {n}").format(n=done),
            _("discontinued: {n}").format(n=stopped)], arm_w)
            for _code, _name, _n, ongoing, done, stopped in c.arms]
        leading = 9.5
        h_assessed = leading * len(assessed) + 8
        h_excl = leading * len(excluded) + 8
        h_enrolled = leading * len(enrolled) + 8
        h_arm = leading * max((len(b) for b in arm_boxes), default=1) + 8
        h_follow = leading * max((len(b) for b in follow), default=1) + 8
        step = 22.0
        total = h_assessed + max(h_excl, step * 2) + step + h_enrolled + step + h_arm \
            + step + h_follow + 4
        d = Drawing(width, total)
        y = total - 2
        center = main_x + main_w / 2
        self._box(d, main_x, y, main_w, assessed)
        y -= h_assessed
        mid = y - max(h_excl, step * 2) / 2 - step / 2
        self._box(d, side_x, mid + h_excl / 2, side_w, excluded)
        self._arrow(d, center, mid, side_x, mid)
        y_enrolled = y - max(h_excl, step * 2) - step
        self._arrow(d, center, y, center, y_enrolled)
        self._box(d, main_x, y_enrolled, main_w, enrolled)
        y = y_enrolled - h_enrolled
        y_arms = y - step
        if c.arms:
            branch = y - step / 2
            d.add(Line(center, y, center, branch, strokeWidth=0.8))
            xs = [i * (arm_w + gap) + arm_w / 2 for i in range(n_arms)]
            d.add(Line(min(xs[0], center), branch, max(xs[-1], center), branch,
                       strokeWidth=0.8))
            for i, (box, fbox) in enumerate(zip(arm_boxes, follow, strict=True)):
                x = i * (arm_w + gap)
                self._arrow(d, xs[i], branch, xs[i], y_arms)
                self._box(d, x, y_arms, arm_w, box)
                self._arrow(d, xs[i], y_arms - h_arm, xs[i], y_arms - h_arm - step)
                self._box(d, x, y_arms - h_arm - step, arm_w, fbox)
        return d

    # ----- the report ---------------------------------------------------------------------
    def story(self) -> list[Flowable]:
        d, c = self.data, self.data.counts
        out: list[Flowable] = [
            self.para(_("Screening log — {study}").format(study=d.study_key), "title"),
            self.para(d.study_title), self.spacer(2),
            self.key_values([
                (_("Assessed for eligibility"), str(c.assessed)),
                (_("Excluded (screen failures)"), str(c.excluded)),
                (_("Enrolled"), str(c.enrolled)),
                *[(_("Allocated to {code}").format(code=code), f"{n} — {name}")
                  for code, name, n, _o, _c, _s in c.arms]]),
            self.heading(_("CONSORT flow")), self.diagram()]
        if c.excluded_by_reason:
            out += [self.heading(_("Excluded, by reason")), self.table(
                [_("Criterion"), _("Patients")], [[r, str(n)] for r, n in c.excluded_by_reason],
                [6, 1]), self.para(_(
                    "A patient who failed several criteria is counted under each of them."),
                    "small")]
        out.append(self.heading(_("Screening log")))
        if not d.rows:
            out.append(self.para(_("Nobody has been screened for this study yet.")))
            return out
        with_names = any(r.name is not None for r in d.rows)
        header = [_("Patient"), *([_("Name")] if with_names else []), _("Screened on"),
                  _("Outcome"), _("Status"), _("Reasons")]
        widths = [1.0, *([1.3] if with_names else []), 1.2, 1.0, 1.1, 4.0]
        rows = [[r.patient, *([r.name or ""] if with_names else []), day(r.screened_on),
                 r.outcome, r.status, join_sentences(r.reasons)] for r in d.rows]
        out.append(self.table(header, rows, widths,
                              continued=_("Screening log (continued)")))
        return out
