"""Enrollment and accrual of a study: enrolled against target, per arm and by month, with a
cumulative accrual chart against the target line (reportlab graphics).

Months are calendar months of the enrollment date (``YYYY-MM``).
"""

from __future__ import annotations

from dataclasses import dataclass

from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.platypus import Flowable

from gisttracker.i18n import _, local
from gisttracker.reports.base import HEADER_RULE, Report, ReportContext, add_text
from gisttracker.services.patients import ENROLLED_STATUSES, PatientService
from gisttracker.session import Session

__all__ = ["EnrollmentData", "EnrollmentReport", "gather_enrollment"]


@dataclass(frozen=True)
class EnrollmentData:
    study_key: str
    study_title: str
    target: int | None
    enrolled: int
    arms: tuple[tuple[str, str, int], ...]  # code, name, enrolled
    # month (YYYY-MM), enrolled per arm (in the order of ``arms``), total, cumulative
    months: tuple[tuple[str, tuple[int, ...], int, int], ...]


def gather_enrollment(session: Session, study_key: str) -> EnrollmentData:
    """Accrual of the study (one grouped query). ServiceError for an unknown study."""
    service = PatientService(session)
    study = service.study(study_key)
    accrual = service.accrual(study_key)
    codes = [a.code for a in study.arms]
    marks = ",".join("?" * len(ENROLLED_STATUSES))
    cursor = session.db.execute_sql(
        "SELECT substr(enrolled_on, 1, 7) AS m, arm_code, count(*) FROM patient "
        f"WHERE study_key = ? AND status IN ({marks}) GROUP BY m, arm_code ORDER BY m",
        [study_key, *ENROLLED_STATUSES])
    by_month: dict[str, dict[str, int]] = {}
    for month, arm, n in cursor.fetchall():
        by_month.setdefault(str(month), {})[arm or "—"] = int(n)
    if by_month:
        # Months without enrollment are shown too, so the chart's x axis is calendar time.
        first, last = min(by_month), max(by_month)
        year, mon = int(first[:4]), int(first[5:7])
        while f"{year:04d}-{mon:02d}" < last:
            by_month.setdefault(f"{year:04d}-{mon:02d}", {})
            year, mon = (year + 1, 1) if mon == 12 else (year, mon + 1)
    months = []
    running = 0
    for month, counts in sorted(by_month.items()):
        total = sum(counts.values())
        running += total
        months.append((month, tuple(counts.get(c, 0) for c in codes), total, running))
    arms = tuple((a.code, local(a.name), accrual.by_arm.get(a.code, 0)) for a in study.arms)
    return EnrollmentData(study.key, local(study.short_title or study.title),
                          study.target_enrollment, accrual.enrolled, arms, tuple(months))


class EnrollmentReport(Report):
    """Enrollment against target, per arm and month, with the accrual chart."""

    title = "Enrollment and accrual"

    def __init__(self, context: ReportContext, data: EnrollmentData) -> None:
        super().__init__(context)
        self.data = data

    def subtitle(self) -> str:
        return self.data.study_key

    def chart(self) -> Drawing:
        """Cumulative enrolled by month (line) against the target (dashed line)."""
        d = self.data
        width, height = self.width, 190.0
        drawing = Drawing(width, height)
        plot = LinePlot()
        plot.x, plot.y, plot.width, plot.height = 40, 30, width - 60, height - 55
        points = [(float(i), float(m[3])) for i, m in enumerate(d.months)]
        series = [points]
        top = max([p[1] for p in points] + [float(d.target or 0), 1.0])
        if d.target:
            series.append([(0.0, float(d.target)), (float(max(len(points) - 1, 1)),
                                                    float(d.target))])
        plot.data = series
        plot.lines[0].strokeColor = HEADER_RULE
        plot.lines[0].strokeWidth = 1.6
        if d.target:
            plot.lines[1].strokeColor = colors.HexColor("#c0392b")
            plot.lines[1].strokeDashArray = [4, 3]
            plot.lines[1].strokeWidth = 1
        plot.yValueAxis.valueMin = 0
        plot.yValueAxis.valueMax = top * 1.1
        plot.xValueAxis.valueMin = 0
        plot.xValueAxis.valueMax = float(max(len(points) - 1, 1))
        labels = [m[0] for m in d.months]
        every = max(1, len(labels) // 8)
        plot.xValueAxis.valueSteps = [float(i) for i in range(0, len(labels), every)]
        plot.xValueAxis.labelTextFormat = (
            lambda v: labels[int(v)] if 0 <= int(v) < len(labels) else "")
        for axis in (plot.xValueAxis, plot.yValueAxis):
            axis.labels.fontName = self.fonts.regular
            axis.labels.fontSize = 7
        drawing.add(plot)
        legend = _("— cumulative enrolled")
        add_text(drawing, 40, height - 12, legend, self.fonts.regular,
                 self.fonts.cjk_for(legend), 7.5, fillColor=HEADER_RULE)
        if d.target:
            target = _("- - target ({n})").format(n=d.target)
            add_text(drawing, 200, height - 12, target, self.fonts.regular,
                     self.fonts.cjk_for(target), 7.5,
                     fillColor=colors.HexColor("#c0392b"))
        return drawing

    def story(self) -> list[Flowable]:
        d = self.data
        share = (f" ({100 * d.enrolled / d.target:.0f} %)" if d.target else "")
        out: list[Flowable] = [
            self.para(_("Enrollment — {study}").format(study=d.study_key), "title"),
            self.para(d.study_title), self.spacer(2),
            self.key_values([
                (_("Target enrollment"), str(d.target) if d.target else _("not stated")),
                (_("Enrolled"), f"{d.enrolled}{share}"),
                (_("Months with enrollment"), str(len(d.months)))]),
            self.heading(_("By arm")),
            self.table([_("Arm"), _("Name"), _("Enrolled"), _("Share")],
                       [[code, name, str(n), f"{100 * n / d.enrolled:.0f} %"
                         if d.enrolled else "—"] for code, name, n in d.arms], [1, 4, 1, 1])]
        if not d.months:
            out.append(self.para(_("Nobody has been enrolled in this study yet.")))
            return out
        out += [self.heading(_("Cumulative accrual")), self.chart(),
                self.heading(_("By month"))]
        header = [_("Month"), *[code for code, _n, _c in d.arms], _("Total"),
                  _("Cumulative")]
        if d.target:
            header.append(_("Of target"))
        rows = []
        for month, per_arm, total, running in d.months:
            row = [month, *[str(n) for n in per_arm], str(total), str(running)]
            if d.target:
                row.append(f"{100 * running / d.target:.0f} %")
            rows.append(row)
        out.append(self.table(header, rows, [1.2] + [1] * (len(header) - 1)))
        return out
