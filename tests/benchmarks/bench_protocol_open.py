"""Benchmark: what keeping protocol versions and refusing orphaning files costs at start-up.

Run by hand: ``.venv/bin/python tests/benchmarks/bench_protocol_open.py [--db PATH]
[--patients N]``. Without ``--db`` it builds (once, cached in
``/tmp/gisttracker-bench-protocols/site.db``) a demo site of ``--patients`` patients
(default 100,000, about a million visits).

Prints, each next to its baseline:

* opening the site when every protocol file is the version in force (every start): the
  session against the bare database open plus protocol loading it adds to;
* the orphan check a changed protocol file gets (once, when a site installs it), per study:
  :func:`gisttracker.services.versions.orphans` against the bare SQL of its largest query
  (visits per visit key of the study).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gisttracker.demo import generate  # noqa: E402
from gisttracker.protocols.loader import parse_study  # noqa: E402
from gisttracker.services.versions import orphans  # noqa: E402
from gisttracker.session import load_protocols, open_session  # noqa: E402
from gisttracker.store.db import open_database  # noqa: E402

CACHE = Path("/tmp/gisttracker-bench-protocols/site.db")


def _median_ms(fn: Callable[[], object], runs: int = 5) -> float:
    times = []
    for _run in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--patients", type=int, default=100_000)
    args = parser.parse_args()
    path: Path = args.db or CACHE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"building {args.patients} patients in {path} …", flush=True)
        session = open_session(path, user="bench")
        generate(session, patients=args.patients, seed=1, today=date(2026, 3, 14))
        session.close()

    started = time.perf_counter()
    first = open_session(path, user="bench")
    first.close()
    print(f"first open of this file (versions recorded, older patients given theirs): "
          f"{(time.perf_counter() - started) * 1000:8.1f} ms")

    def bare() -> None:
        db = open_database(path)
        load_protocols(path)
        db.close()

    def session_open() -> None:
        open_session(path, user="bench").close()

    print(f"open, versions in force      {_median_ms(session_open):8.1f} ms   "
          f"(bare open + protocol loading {_median_ms(bare):8.1f} ms)")

    session = open_session(path, user="bench")
    try:
        visits = int(session.db.execute_sql("SELECT count(*) FROM visit").fetchone()[0])
        patients = int(session.db.execute_sql("SELECT count(*) FROM patient").fetchone()[0])
        print(f"{patients} patients, {visits} visits")
        sql = ("SELECT v.visit_key, count(*) FROM visit v JOIN patient p ON p.id = "
               "v.patient_id WHERE p.study_key = ? AND v.visit_key IS NOT NULL "
               "GROUP BY v.visit_key")
        for key, study in sorted(session.studies.items()):
            # A changed file (one comment more): the check runs against the one in force.
            changed = parse_study(study.text + "\n# changed at the site\n", study.path)
            check = _median_ms(lambda c=changed, s=study: orphans(c, session.db, s), runs=3)
            base = _median_ms(lambda k=key: session.db.execute_sql(sql, [k]).fetchall(),
                              runs=3)
            print(f"orphan check {key:15s}  {check:8.1f} ms   "
                  f"(bare visit-key query {base:8.1f} ms)")
    finally:
        session.close()


if __name__ == "__main__":
    main()
