"""Benchmark: exports, the site package and the backup of a server site, next to the same
job on the same data in a site file (issue 16).

Run by hand, with a PostgreSQL superuser URL of a throw-away cluster (``scripts/pg-cluster``)::

    .venv/bin/python tests/benchmarks/bench_server_files.py \\
        --admin postgresql://postgres@127.0.0.1:PORT/postgres [--patients N] [--runs 3]

Builds (once, cached under ``/tmp/gisttracker-bench-server-files/``) a demo site file of N
patients (site code BENCH), moves a copy of it into a new database on the server
(``migrate-to``'s code), then times each job on the file and on the server, alternately,
``--runs`` times each, and prints the median wall clock and the median CPU time of this
process (the server's own CPU is not in it). A server site's job reads a snapshot of the
server first (:func:`gisttracker.store.transfer.snapshot`), so the file's figure is its
baseline and the difference is the snapshot's cost, also timed alone.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from gisttracker.backup import backup  # noqa: E402
from gisttracker.demo import generate  # noqa: E402
from gisttracker.exchange.csv_export import export_csv  # noqa: E402
from gisttracker.exchange.odm.export import export_odm  # noqa: E402
from gisttracker.services.exchange.packages import make_package  # noqa: E402
from gisttracker.services.settings import SettingsService  # noqa: E402
from gisttracker.session import Session, open_session  # noqa: E402
from gisttracker.store.db import open_database  # noqa: E402
from gisttracker.store.transfer import snapshot, transfer  # noqa: E402
from gisttracker.store.urls import ServerLocation  # noqa: E402

CACHE = Path("/tmp/gisttracker-bench-server-files")
TODAY = date(2026, 3, 14)
NOW = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)


def _open(db: Path) -> Session:
    return open_session(db, user="nurse", clock=lambda: NOW)


def site_file(patients: int) -> Path:
    path = CACHE / f"site-{patients}.db"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = CACHE / f"building-{patients}.db"
        for old in CACHE.glob(f"building-{patients}.db*"):
            old.unlink()
        session = _open(partial)
        try:
            SettingsService(session.tracker).set("site_code", "BENCH")
            generate(session, patients=patients, seed=17, today=TODAY)
        finally:
            session.close()
        partial.rename(path)
    return path


def on_server(admin: str, path: Path) -> ServerLocation:
    parts = urlsplit(admin)
    name = f"bench_server_files_{path.stem.replace('-', '_')}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]
        conn.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    location = ServerLocation(urlunsplit((parts.scheme, parts.netloc, "/" + name, "", "")))
    source = open_database(path)
    try:
        transfer(source, location)
    finally:
        source.close()
    return location


def timed(job: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    job()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin", required=True, help="superuser URL of a throw-away cluster")
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    path = site_file(args.patients)
    # The file's copy the jobs run on (a package is recorded as sent: each run makes a full
    # one, so every run does the same work).
    work = Path(tempfile.mkdtemp(prefix="bench-server-files-"))
    try:
        file_site = work / "file" / "site.db"
        file_site.parent.mkdir()
        shutil.copy(path, file_site)
        started = time.perf_counter()
        server = on_server(args.admin, path)
        print(f"{args.patients} patients; moved to the server in "
              f"{time.perf_counter() - started:.1f} s")
        jobs: dict[str, Callable[[Path, Path], object]] = {
            "CSV export": lambda db, out: _with(db, lambda s: export_csv(s, out)),
            "ODM snapshot, validated": lambda db, out: _with(
                db, lambda s: export_odm(s, out.with_suffix(".xml"))),
            "Site package, full": lambda db, out: _with(
                db, lambda s: make_package(s, out.with_suffix(".zip"), full=True)),
            "Backup": lambda db, out: backup(db, out.with_suffix(".db")),
        }
        n = 0
        print(f"{'job':28} {'file wall':>10} {'server wall':>12} {'ratio':>6} "
              f"{'file CPU':>9} {'server CPU':>11}")
        for name, job in jobs.items():
            figures: dict[str, list[tuple[float, float]]] = {"file": [], "server": []}
            for _run in range(args.runs):
                for kind, db in (("file", file_site), ("server", server)):
                    n += 1
                    out = work / f"out-{n}"
                    figures[kind].append(timed(lambda db=db, out=out, job=job: job(db, out)))
            fw = statistics.median(w for w, _c in figures["file"])
            sw = statistics.median(w for w, _c in figures["server"])
            fc = statistics.median(c for _w, c in figures["file"])
            sc = statistics.median(c for _w, c in figures["server"])
            print(f"{name:28} {fw:9.2f}s {sw:11.2f}s {sw / fw:5.1f}× {fc:8.2f}s {sc:10.2f}s")
        alone = [timed(lambda i=i: snapshot(server, work / f"snap-{i}.db", check_audit=False))
                 for i in range(args.runs)]
        checked = [timed(lambda i=i: snapshot(server, work / f"snapc-{i}.db"))
                   for i in range(args.runs)]
        for label, figures_ in (("snapshot, digest-checked", alone),
                                ("snapshot, digests + audit", checked)):
            wall = statistics.median(w for w, _c in figures_)
            cpu = statistics.median(c for _w, c in figures_)
            print(f"{label:28} {'':10} {wall:11.2f}s {'':6} {'':9} {cpu:10.2f}s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _with(db: Path, job: Callable[[Session], object]) -> object:
    session = _open(db)
    try:
        return job(session)
    finally:
        session.close()


if __name__ == "__main__":
    main()
