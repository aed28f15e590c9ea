"""Benchmark: the patient list on 100,000 patients, next to the bare SQL for the same query.

Builds (once, cached in /tmp) a database of 100,000 demo patients, then times what the
window does when the list opens (count + first page of 200) and when a filter or search is
applied, through :class:`PatientService` (what the lazy table model calls), and the bare
SQL statement answering the same question. Aim: each within 2× of the bare query and
under 100 ms.

    .venv/bin/python tests/benchmarks/bench_patient_list.py [--patients N] [--rebuild]

The cached database has no planned visits (``plan_visits=False``): the list reads the
patient table and its indexes only, and planning a million visits would make the one-off
build many times longer without changing these figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gisttracker.demo import generate  # noqa: E402
from gisttracker.services.patients import PatientFilter, PatientService  # noqa: E402
from gisttracker.session import Session, open_session  # noqa: E402

TODAY = date(2026, 3, 14)
PAGE = 200


def build(path: Path, patients: int, rebuild: bool) -> Session:
    if rebuild and path.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    fresh = not path.exists()
    session = open_session(path, user="bench")
    if fresh:
        started = time.perf_counter()
        generate(session, patients=patients, seed=1, today=TODAY, plan_visits=False,
                 enrich=False)
        print(f"built {path} with {patients} patients in {time.perf_counter() - started:.0f} s")
    _current_indexes(session)
    session.db.execute_sql("ANALYZE")
    return session


def _current_indexes(session: Session) -> None:
    """Give a cached database the patient indexes schema 2 declares today.

    Schema 2 is not released yet, so its indexes may have changed since the cache was
    built; rebuilding 100,000 patients for that would take many minutes.
    """
    from gisttracker.store.migrations import m0002_patients

    db = session.db
    for statement in m0002_patients.STATEMENTS:
        if not statement.startswith("CREATE INDEX"):
            continue
        name = statement.split()[2]
        row = db.execute_sql("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?",
                             (name,)).fetchone()
        if row is None or row[0] != statement:
            if row is not None:
                db.execute_sql(f"DROP INDEX {name}")
            db.execute_sql(statement)
            print(f"index {name} brought up to date")


def timed(fn: Callable[[], Any], repeat: int = 15) -> float:
    """Median milliseconds of ``fn()`` (after one warm-up call)."""
    fn()
    times = []
    for _i in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    path = Path(f"/tmp/gisttracker-bench-{args.patients}.db")
    session = build(path, args.patients, args.rebuild)
    service = PatientService(session)
    db = session.db
    n = service.count(PatientFilter())
    print(f"{n} patients in {path}")
    cols = ("p.uid, p.study_id, p.study_key, p.arm_code, p.status, p.enrolled_on, "
            "p.randomization_number, p.sex")

    def bare(sql: str, *params: Any) -> Callable[[], Any]:
        return lambda: db.execute_sql(sql, params).fetchall()

    def both(*calls: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            for call in calls:
                call()
        return run

    def bare_search(text: str) -> Callable[[], None]:
        """Any identifier starting with ``text``: study id and record number (case as
        typed, index ranges), name and initials (case-insensitive prefix)."""
        match = ("(p.study_id >= ? AND p.study_id < ? OR p.id IN (SELECT patient_id FROM "
                 "patient_identity WHERE record_number >= ? AND record_number < ? UNION "
                 "SELECT patient_id FROM patient_identity WHERE name LIKE ? UNION "
                 "SELECT patient_id FROM patient_identity WHERE initials LIKE ?))")
        params = (text.upper(), text.upper() + "\U0010ffff", text, text + "\U0010ffff",
                  text + "%", text + "%")
        return both(bare(f"SELECT count(*) FROM patient p WHERE {match}", *params),
                    bare(f"SELECT {cols} FROM patient p WHERE {match} ORDER BY p.study_id "
                         f"LIMIT {PAGE}", *params))

    every = PatientFilter()
    site = f"{session.db.execute_sql('SELECT site_code FROM patient LIMIT 1').fetchone()[0]}"
    cases: list[tuple[str, PatientFilter, str, bool, Callable[[], Any]]] = [
        ("open the list (count + first page)", every, "patient", False, both(
            bare("SELECT count(*) FROM patient p"),
            bare(f"SELECT {cols} FROM patient p ORDER BY p.study_id LIMIT {PAGE}"))),
        ("filter study + status", replace(every, study_key="NCT03862768", status="enrolled"),
         "patient", False, both(
             bare("SELECT count(*) FROM patient p WHERE p.study_key = ? AND p.status = ?",
                  "NCT03862768", "enrolled"),
             bare(f"SELECT {cols} FROM patient p WHERE p.study_key = ? AND p.status = ? "
                  f"ORDER BY p.study_id LIMIT {PAGE}", "NCT03862768", "enrolled"))),
        ("filter arm, sort by enrolment date", replace(every, arm_code="B"), "enrolled_on",
         True, both(
             bare("SELECT count(*) FROM patient p WHERE p.arm_code = ?", "B"),
             bare(f"SELECT {cols} FROM patient p WHERE p.arm_code = ? "
                  f"ORDER BY p.enrolled_on DESC LIMIT {PAGE}", "B"))),
        ("filter status only", replace(every, status="screen_failed"), "patient", False, both(
            bare("SELECT count(*) FROM patient p WHERE p.status = ?", "screen_failed"),
            bare(f"SELECT {cols} FROM patient p WHERE p.status = ? ORDER BY p.study_id "
                 f"LIMIT {PAGE}", "screen_failed"))),
        ("search study id prefix", replace(every, text=f"{site}-0123"), "patient", False,
         bare_search(f"{site}-0123")),
        ("search name prefix", replace(every, text="Zhang W"), "patient", False,
         bare_search("Zhang W")),
        ("search record number prefix", replace(every, text="MRN1234"), "patient", False,
         bare_search("MRN1234")),
        ("scroll to row 50,000", every, "patient", False, bare(
            f"SELECT {cols} FROM patient p ORDER BY p.study_id LIMIT {PAGE} OFFSET 50000")),
    ]
    print(f"{'case':40} {'list ms':>9} {'bare SQL ms':>12} {'ratio':>6}  rows")
    worst = 0.0
    for name, flt, sort, desc, sql in cases:
        offset = 50_000 if "scroll" in name else 0
        if "scroll" in name:
            def listing(flt: PatientFilter = flt, offset: int = offset) -> None:
                service.page(flt, "patient", offset=offset, limit=PAGE)
            rows = PAGE
        else:
            def listing(flt: PatientFilter = flt, sort: str = sort, desc: bool = desc) -> None:
                service.count(flt)
                service.page(flt, sort, descending=desc, offset=0, limit=PAGE)
            rows = service.count(flt)
        ms, base = timed(listing), timed(sql)
        worst = max(worst, ms)
        print(f"{name:40} {ms:9.2f} {base:12.2f} {ms / base:6.2f}  {rows}")
    print(f"slowest list operation: {worst:.1f} ms (aim: < 100 ms)")
    session.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
