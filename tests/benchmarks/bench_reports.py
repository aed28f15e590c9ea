"""Benchmark: the printed reports, each next to reportlab's own time for a bare table.

Run by hand: ``.venv/bin/python tests/benchmarks/bench_reports.py [--rebuild]``.

Builds (once, cached under ``/tmp/gisttracker-bench-reports/``) two sites with the demo
generator: one with about 1,000 active (enrolled, not ended) patients for the calendar, one
with 10,000 patients for the screening log and the enrollment report. The demo leaves every
visit planned; so that the calendar looks like a real site's, the setup marks 95 % of the
visits whose window has closed as done on their target date (raw SQL: benchmark data only).

Prints, for each report: the time to gather + lay out + render (best of 3), its target, the
row count, and the time reportlab takes to lay out a bare ``Table`` of the same number of
rows and columns (Helvetica strings, header repeated) — the ratio is what our code costs.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from reportlab.lib.pagesizes import A4  # noqa: E402
from reportlab.platypus import SimpleDocTemplate, Table  # noqa: E402

from gisttracker.demo import generate  # noqa: E402
from gisttracker.reports import ReportRequest, build  # noqa: E402
from gisttracker.session import Session, open_session  # noqa: E402
from gisttracker.store.models_patients import Patient  # noqa: E402

CACHE = Path("/tmp/gisttracker-bench-reports")
TODAY = date(2026, 3, 14)
MADE = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)


def site(name: str, patients: int, rebuild: bool) -> Session:
    path = CACHE / f"{name}.db"
    if rebuild and path.exists():
        shutil.rmtree(CACHE)
    CACHE.mkdir(exist_ok=True)
    fresh = not path.exists()
    session = open_session(path, user="bench", clock=lambda: MADE)
    if fresh:
        started = time.perf_counter()
        generate(session, patients=patients, seed=2026, today=TODAY)
        rng = random.Random(1)
        cursor = session.db.execute_sql(
            "SELECT id, planned_on FROM visit WHERE state = 'planned' AND window_end < ?",
            [TODAY.isoformat()])
        done = [(on, vid) for vid, on in cursor.fetchall() if rng.random() < 0.95]
        with session.db.atomic():
            session.db.connection().executemany(
                "UPDATE visit SET state = 'done', done_on = ? WHERE id = ?", done)
        print(f"built {path} ({patients} patients) in {time.perf_counter() - started:.1f} s")
    return session


def best(fn: Callable[[], object], repeat: int = 3) -> tuple[float, object]:
    times, result = [], None
    for _i in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), result


def bare_table(rows: int, cols: int) -> float:
    """reportlab alone: a Table of ``rows`` x ``cols`` short strings, header repeated."""
    data = [[f"h{c}" for c in range(cols)]] + [
        [f"r{r}c{c} 2026-03-14" for c in range(cols)] for r in range(rows)]

    def run() -> None:
        doc = SimpleDocTemplate(BytesIO(), pagesize=A4)
        doc.build([Table(data, repeatRows=1)])

    return best(run)[0]


def report(session: Session, label: str, target: float, request: ReportRequest,
           rows: int, cols: int) -> None:
    def run() -> bytes:
        return build(session, request, today=TODAY, generated_at=MADE).render()

    seconds, pdf = best(run)
    assert isinstance(pdf, bytes)
    bare = bare_table(rows, cols)
    verdict = "ok" if seconds < target else "SLOW"
    print(f"{label:<44} {seconds:7.3f} s  (target < {target:g} s, {verdict})  "
          f"{rows:6d} rows  bare reportlab table {bare:7.3f} s  ratio {seconds / bare:5.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rebuild", action="store_true", help="build the sites again")
    args = parser.parse_args()
    # Fonts are registered on the first render; best of 3 leaves that out of the figures.
    small = site("site-1000", 1800, args.rebuild)
    active = Patient.select().where(Patient.status == "enrolled").count()
    patient = Patient.select().where(Patient.status == "enrolled").first()
    from gisttracker.services.visits import VisitService

    n_sched = len(VisitService(small).schedule(patient.uid, today=TODAY))
    print(f"site 1: {active} active patients")
    report(small, f"patient schedule ({patient.study_id})", 0.2,
           ReportRequest("schedule", patient=patient.study_id), n_sched, 9)
    from gisttracker.reports.calendar import gather_calendar

    cal = gather_calendar(small, date(2026, 3, 1), date(2026, 3, 31), today=TODAY)
    n_cal = cal.due_count + len(cal.days) + len(cal.overdue) + len(cal.done_out_of_window)
    report(small, "site calendar, March 2026, all studies", 3.0,
           ReportRequest("calendar", start=date(2026, 3, 1), end=date(2026, 3, 31)), n_cal, 6)
    small.close()

    big = site("site-10000", 10_000, args.rebuild)
    print(f"site 2: {Patient.select().count()} patients")
    from gisttracker.services.patients import PatientService

    for key in ("NCT03862768", "NCT04933669"):
        n_log = len(PatientService(big).screening_log(key).entries)
        report(big, f"screening log + CONSORT, {key}", 5.0,
               ReportRequest("screening", study_key=key), n_log, 5)
        n_months = len(PatientService(big).accrual(key).by_month)
        report(big, f"enrollment and accrual, {key}", 5.0,
               ReportRequest("enrollment", study_key=key), n_months, 5)
    big.close()


if __name__ == "__main__":
    main()
