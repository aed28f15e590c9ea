"""Benchmark: the site worklist for one week with 100,000 patients and ~1,000,000 visits.

Run by hand: ``.venv/bin/python tests/benchmarks/bench_worklist.py [--rebuild]``.

Builds (once, cached in ``/tmp/gisttracker-bench-worklist/site.db``) a site database with
100,000 enrolled patients over the five studies, enrolled across five years, every anchor
date entered, and their protocol visits planned by the schedule engine: visits before
"today" are mostly done (in window, some out of window), some missed, a few left overdue;
later ones planned. The synthetic rows are written with ``executemany`` (see :func:`build`).

Prints, each next to the 100 ms target: the bare SQL query, the worklist through
:class:`VisitService` (query + engine statuses), the month view query, and the time for the
window's worklist model to show the rows (offscreen).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gisttracker.domain.schedule import plan  # noqa: E402
from gisttracker.services.visits import REASONS, VisitService  # noqa: E402
from gisttracker.session import Session, open_session  # noqa: E402

CACHE = Path("/tmp/gisttracker-bench-worklist/site.db")
TODAY = date(2026, 3, 11)  # a Wednesday
WEEK = (date(2026, 3, 9), date(2026, 3, 15))
PATIENTS = 100_000
TARGET_MS = 100.0
PAGE = 200


def _anchors(study: Any, enrolled: date, rng: random.Random) -> dict[str, date]:
    """Plausible anchor dates for every anchor of the study, counted from enrollment."""
    out: dict[str, date] = {}
    start = enrolled + timedelta(days=rng.randint(0, 14))
    last_dose = start + timedelta(days=rng.randint(95, 360))
    for anchor in study.anchors:
        if anchor.source == "enrollment":
            out[anchor.key] = enrolled
        elif anchor.key == "imatinib_start":
            out[anchor.key] = start
        elif anchor.key == "last_preop_dose":
            out[anchor.key] = last_dose
        elif anchor.key in ("surgery", "local_treatment"):
            out[anchor.key] = last_dose + timedelta(days=rng.randint(1, 7))
        else:  # diagnosis dates lie before enrollment
            out[anchor.key] = enrolled - timedelta(days=rng.randint(5, 60))
    return {k: v for k, v in out.items() if v <= TODAY}


def build(path: Path) -> None:
    """Write the synthetic site with ``executemany`` in a few large transactions.

    Synthetic data only: the audited ``Writer.insert_many`` builds its SQL in Python and
    would take hours for 1.5 million visits and their ~10 million audit rows, and the
    worklist never reads the audit trail.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    session = open_session(path, user="bench", clock=lambda: datetime(2026, 3, 11, tzinfo=UTC))
    conn = session.db.connection()
    rng = random.Random(20260311)
    studies = sorted(session.studies.values(), key=lambda s: s.key)
    t0 = time.perf_counter()
    batch = 10_000
    total_visits = 0
    for first in range(0, PATIENTS, batch):
        patients, anchor_rows, visit_rows = [], [], []
        for n in range(first, min(first + batch, PATIENTS)):
            pid = n + 1
            study = studies[n % len(studies)]
            enrolled = TODAY - timedelta(days=rng.randint(0, 5 * 365))
            patients.append((pid, uuid.uuid4().hex, study.key, f"BEN-{pid:06d}", "BEN", pid,
                             "enrolled", enrolled.isoformat(), enrolled.isoformat()))
            anchors = _anchors(study, enrolled, rng)
            for key, day in anchors.items():
                anchor_rows.append((uuid.uuid4().hex, pid, key, day.isoformat()))
            for seq, pv in enumerate(plan(study, anchors)):
                state, done_on = "planned", None
                if pv.window_end is not None and pv.window_end < TODAY:
                    roll = rng.random()
                    if roll < 0.90 and pv.target is not None:
                        state = "done"
                        done_on = pv.target + timedelta(days=rng.randint(-10, 10))
                        if roll < 0.04:  # out of window
                            done_on = pv.window_end + timedelta(days=rng.randint(1, 20))
                        done_on = min(done_on, TODAY)
                    elif roll < 0.985:
                        state = "missed" if pv.required else "not_applicable"
                visit_rows.append((
                    uuid.uuid4().hex, pid, pv.visit_key, pv.name, pv.anchor, seq,
                    _iso(pv.target), _iso(pv.window_start), _iso(pv.window_end), state,
                    _iso(done_on), "bench" if state in ("missed", "not_applicable") else None))
        with session.db.atomic():
            conn.executemany(
                "INSERT INTO patient (id, uid, study_key, study_id, site_code, seq, status, "
                "enrolled_on, created_on) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", patients)
            conn.executemany("INSERT INTO anchor_date (uid, patient_id, anchor_key, date) "
                             "VALUES (?, ?, ?, ?)", anchor_rows)
            conn.executemany(
                "INSERT INTO visit (uid, patient_id, visit_key, name, anchor_key, seq, "
                "planned_on, window_start, window_end, state, done_on, reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", visit_rows)
        total_visits += len(visit_rows)
        print(f"  {first + len(patients):>7,} patients, {total_visits:>9,} visits "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    session.db.execute_sql("ANALYZE")
    session.close()


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def timed(fn: Any, repeat: int = 7) -> tuple[float, Any]:
    """Median milliseconds of ``fn()`` over ``repeat`` runs (after one warm-up)."""
    result = fn()
    times = []
    for _i in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), result


def report(name: str, ms: float, target: float = TARGET_MS) -> None:
    verdict = "ok" if ms <= target else "SLOW"
    print(f"{name:<46} {ms:8.1f} ms   (target {target:.0f} ms: {verdict})")


def ui_time(session: Session) -> float:
    """Milliseconds from asking for the week to its first page painted in a table view."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication, QTableView

    from ui.calendar import WorklistModel

    app = QApplication.instance() or QApplication([])
    service = VisitService(session)
    view = QTableView()
    model = WorklistModel(view)
    view.setModel(model)
    view.resize(1200, 700)
    view.show()
    times = []
    for _i in range(5):
        t0 = time.perf_counter()
        # The window shows the first page at once; the section counts follow in a second
        # background query and only set the scroll length.
        page = service.worklist(*WEEK, today=TODAY, limit=PAGE)
        model.set_items(page, len(page) + 1)
        app.processEvents()
        view.viewport().repaint()
        times.append((time.perf_counter() - t0) * 1000)
    view.close()
    return statistics.median(times)


def _add_study_column(path: Path) -> None:
    """Bring a cache built before visits carried their study up to today's schema 3."""
    import sqlite3

    con = sqlite3.connect(path)
    columns = {row[1] for row in con.execute("PRAGMA table_info(visit)")}
    if "study_key" not in columns:
        print("adding visit.study_key to the cached database …")
        from gisttracker.store.migrations import m0003_visits

        con.execute("ALTER TABLE visit ADD COLUMN study_key TEXT")
        con.execute("UPDATE visit SET study_key = "
                    "(SELECT study_key FROM patient WHERE patient.id = visit.patient_id)")
        for statement in m0003_visits.STATEMENTS:
            if "visit_study" in statement:
                con.execute(statement)
        con.commit()
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached database")
    args = parser.parse_args()
    if args.rebuild or not CACHE.exists():
        print(f"building {CACHE} …")
        build(CACHE)
    _add_study_column(CACHE)
    session = open_session(CACHE, user="bench")
    db = session.db
    visits = db.execute_sql("SELECT count(*) FROM visit").fetchone()[0]
    patients = db.execute_sql("SELECT count(*) FROM patient").fetchone()[0]
    print(f"{patients:,} patients, {visits:,} visits; week {WEEK[0]} – {WEEK[1]}, "
          f"today {TODAY}")
    service = VisitService(session)
    query = service.worklist_query(*WEEK, today=TODAY)

    def bare() -> list[Any]:
        counts = [db.execute_sql(*query.count(r)).fetchone()[0] for r in REASONS]
        first = db.execute_sql(*query.rows("overdue", 0, PAGE)).fetchall()
        return [counts, first]

    bare_ms, (counts, _first) = timed(bare)
    report(f"bare SQL: section counts + first {PAGE} rows", bare_ms)
    print(f"    sections: {dict(zip(REASONS, counts, strict=True))}")

    def first_screen(study_key: str | None = None) -> list[Any]:
        return [service.worklist_counts(*WEEK, today=TODAY, study_key=study_key),
                service.worklist(*WEEK, today=TODAY, study_key=study_key, limit=PAGE)]

    svc_ms, _page = timed(first_screen)
    report(f"VisitService: counts + first {PAGE} rows", svc_ms)
    page_ms, _page = timed(lambda: service.worklist(*WEEK, today=TODAY, limit=PAGE))
    report(f"VisitService: first {PAGE} rows (what the window waits for)", page_ms)
    page1_ms, _page = timed(lambda: service.worklist(*WEEK, today=TODAY, limit=PAGE,
                                                     study_key="NCT04933669"))
    report(f"VisitService: one study, first {PAGE} rows", page1_ms)
    one_ms, _page = timed(lambda: first_screen("NCT04933669"))
    report(f"VisitService: one study, counts + first {PAGE}", one_ms)
    deep_ms, deep = timed(lambda: service.worklist(*WEEK, today=TODAY, offset=20_000,
                                                   limit=PAGE))
    report(f"VisitService: a page at row 20,000 ({len(deep)} rows)", deep_ms)
    all_ms, items = timed(lambda: service.worklist(*WEEK, today=TODAY), repeat=1)
    print(f"{'whole list at once (CLI, ' + format(len(items), ',') + ' rows)':<46} "
          f"{all_ms:8.1f} ms   (no target: the window pages it)")
    month_ms, _days = timed(lambda: service.month(2026, 3))
    report("VisitService.month (visits per day, March)", month_ms)
    sched_ms, _rows = timed(lambda: service.schedule("BEN-050000", today=TODAY))
    report("VisitService.schedule (one patient)", sched_ms)
    report("window: query to first page painted (offscreen)", ui_time(session))
    for reason in REASONS:
        plan_rows = db.execute_sql("EXPLAIN QUERY PLAN " + query.rows(reason, 0, PAGE)[0],
                                   query.rows(reason, 0, PAGE)[1]).fetchall()
        print(f"plan {reason}:", "; ".join(r[-1] for r in plan_rows))
    session.close()


if __name__ == "__main__":
    main()
