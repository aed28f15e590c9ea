"""Benchmark: exports and the centre's import on a 10,000-patient site, each next to the
bare library doing the same job.

Run by hand: ``.venv/bin/python tests/benchmarks/bench_exchange.py [--patients N]
[--rebuild] [--only csv odm package centre] [--server postgresql://USER@HOST:PORT/DB]``
(``GISTTRACKER_BENCH_CACHE`` names another cache folder).

Builds (once, cached under ``/tmp/gisttracker-bench-exchange/``) a site with the demo
generator (site code BENCH), then times, best of 2:

- **CSV export** (every table and form file, wide files, dictionary, scripts) — next to two
  baselines: ``csv.writer`` writing the very rows of those files, held in memory beforehand
  (writing alone), and ``csv.writer`` writing every stored row of every record table as a
  bare ``SELECT *`` gives it (reading and writing the data, none of the form or wide files);
- **ODM export** (snapshot, validated against the schema, and without the validation) —
  next to lxml's ``xmlfile`` writing one ``ItemGroupData`` per row and one ``ItemData`` per
  non-empty value of every record table, with no lookups;
- **package export** (everything, signed) — next to a raw ``sqlite3`` copy of the same rows
  (``INSERT … SELECT *`` of every record table and the audit trail into a new file);
- **centre import** of that package into an empty centre — next to a raw ``sqlite3`` copy of
  the payload's rows into an empty database of the same schema;
- **centre import of a trail saved one transaction at a time** (a tenth of the patients, then
  3,000 corrections each saved on its own, as a site's daily work writes its trail; the demo
  writes its whole trail in a few transactions) — next to the raw copy of its payload;
- with ``--server``, the same **centre import into a PostgreSQL database** (a new one on that
  server per run, made and dropped with the URL's account), next to the SQLite figures (no
  aim of its own).

Aim: each within 3× of its baseline and under 30 s (wall clock). Each line also gives the
least CPU time of this process, ours and the baseline's: on a machine others share, the
wall clock of both swells with their load.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from lxml import etree  # noqa: E402

from gisttracker.demo import generate  # noqa: E402
from gisttracker.exchange.csv_export import export_csv  # noqa: E402
from gisttracker.exchange.keys import public_key_path  # noqa: E402
from gisttracker.exchange.odm import NS  # noqa: E402
from gisttracker.exchange.odm.export import export_odm  # noqa: E402
from gisttracker.exchange.tables import record_tables  # noqa: E402
from gisttracker.services.exchange.centre import import_package, trust_site  # noqa: E402
from gisttracker.services.exchange.packages import make_package  # noqa: E402
from gisttracker.services.settings import SettingsService  # noqa: E402
from gisttracker.session import Session, open_session  # noqa: E402

# Several engineers share the machine: GISTTRACKER_BENCH_CACHE names a cache of one's own.
CACHE = Path(os.environ.get("GISTTRACKER_BENCH_CACHE", "/tmp/gisttracker-bench-exchange"))
TODAY = date(2026, 3, 14)
MADE = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)


def busy_site(patients: int) -> Path:
    """A site whose trail has thousands of transactions: the demo, then 3,000 visits
    corrected one save each (the clock moving on between them)."""
    import itertools
    from datetime import timedelta

    from gisttracker.store.models_visits import Visit

    path = CACHE / f"busy-{patients}.db"
    if not path.exists():
        tick = itertools.count()
        session = open_session(path, user="bench",
                               clock=lambda: MADE + timedelta(seconds=next(tick)))
        try:
            SettingsService(session.tracker).set("site_code", "BUSY")
            generate(session, patients=patients, seed=7, today=TODAY)
            done = Visit.select().where(Visit.state == "done").limit(3000)
            for k, visit in enumerate(done):
                with session.tracker.transaction(f"correction {k}") as w:
                    w.update(visit, {"reason": f"checked {k}"}, patient_uid=visit.patient.uid)
        finally:
            session.close()
    return path


def site(patients: int, rebuild: bool) -> Path:
    path = CACHE / f"site-{patients}.db"
    if rebuild and CACHE.exists():
        shutil.rmtree(CACHE)
    CACHE.mkdir(exist_ok=True)
    if not path.exists():
        session = open_session(path, user="bench", clock=lambda: MADE)
        try:
            SettingsService(session.tracker).set("site_code", "BENCH")
            started = time.perf_counter()
            generate(session, patients=patients, seed=2026, today=TODAY)
            print(f"built {path} in {time.perf_counter() - started:.1f} s")
        finally:
            session.close()
    return path


class Timing(NamedTuple):
    """The least wall-clock time and the least CPU time (this process) of some runs, in
    seconds: on a shared machine the CPU time says more about the code than the wall."""

    wall: float
    cpu: float


def best(fn: Callable[[Path], object], runs: int = 2) -> Timing:
    walls, cpus = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(dir=CACHE) as work:
            started, cpu = time.perf_counter(), time.process_time()
            fn(Path(work))
            walls.append(time.perf_counter() - started)
            cpus.append(time.process_time() - cpu)
    return Timing(min(walls), min(cpus))


def tables(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [t.name for t in record_tables(conn)]
    finally:
        conn.close()


def csv_select_baseline(db: Path) -> Callable[[Path], object]:
    def run(work: Path) -> None:
        conn = sqlite3.connect(db)
        for name in tables(db):
            cursor = conn.execute(f'SELECT * FROM "{name}"')
            with open(work / f"{name}.csv", "w", encoding="utf-8-sig", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow([d[0] for d in cursor.description])
                writer.writerows(cursor)
        conn.close()
    return run


def csv_baseline(folder: Path) -> Callable[[Path], object]:
    """``csv.writer`` writing the rows of every CSV file in ``folder`` (read beforehand)."""
    files = {}
    for path in sorted(folder.glob("*.csv")):
        with open(path, encoding="utf-8-sig", newline="") as handle:
            files[path.name] = list(csv.reader(handle))

    def run(work: Path) -> None:
        for name, rows in files.items():
            with open(work / name, "w", encoding="utf-8-sig", newline="") as handle:
                csv.writer(handle).writerows(rows)
    return run


def xml_baseline(db: Path) -> Callable[[Path], object]:
    def run(work: Path) -> None:
        conn = sqlite3.connect(db)
        q = f"{{{NS}}}"
        with etree.xmlfile(str(work / "bare.xml"), encoding="utf-8") as xf, \
                xf.element(f"{q}ODM"), xf.element(f"{q}ClinicalData"):
            for name in tables(db):
                cursor = conn.execute(f'SELECT * FROM "{name}"')
                columns = [d[0] for d in cursor.description]
                for row in cursor:
                    group = etree.Element(f"{q}ItemGroupData", ItemGroupOID=name)
                    for column, value in zip(columns, row, strict=True):
                        if value is not None:
                            etree.SubElement(group, f"{q}ItemData", ItemOID=column,
                                             Value=str(value))
                    xf.write(group)
        conn.close()
    return run


def copy_baseline(db: Path, include_audit: bool = True) -> Callable[[Path], object]:
    def run(work: Path) -> None:
        conn = sqlite3.connect(work / "copy.db", isolation_level=None)
        conn.execute("ATTACH DATABASE ? AS site", (str(db),))
        conn.execute("BEGIN")
        for name in [*tables(db), *(["audit_log"] if include_audit else [])]:
            conn.execute(f'CREATE TABLE main."{name}" AS SELECT * FROM site."{name}"')
        conn.execute("COMMIT")
        conn.close()
    return run


def centre_baseline(db: Path, package_payload: Path) -> Callable[[Path], object]:
    """Copy the payload's rows into an empty database of the real schema, as fast as SQLite
    copies rows (no lookups, no checks, no merging)."""
    def run(work: Path) -> None:
        target = work / "centre.db"
        open_session(target, user="bench").close()
        conn = sqlite3.connect(target, isolation_level=None)
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("ATTACH DATABASE ? AS pkg", (str(package_payload),))
        conn.execute("BEGIN")
        for name in tables(db):
            columns = [r[1] for r in conn.execute(f'PRAGMA pkg.table_info("{name}")')]
            if not columns:
                continue  # not in the package (personal identifiers)
            cols = ", ".join(f'"{c}"' for c in columns)
            # (OR IGNORE: the centre has its own rows of the same protocol and form versions.)
            conn.execute(f'INSERT OR IGNORE INTO main."{name}" ({cols}) '
                         f'SELECT {cols} FROM pkg."{name}"')
        # The audit rows copied as they are (schema 9 keeps the trail chained in tables of
        # its own behind the read-only audit_log view: a plain table of the same columns).
        conn.execute("CREATE TABLE main.audit_copy AS SELECT at, user, action, table_name, "
                     "record_uid, field, old_value, new_value, reason, patient_uid "
                     "FROM pkg.audit")
        conn.execute("COMMIT")
        conn.close()
    return run


def centre_import(site_code: str, key: str, package: Path) -> Callable[[Path], object]:
    """Our whole centre import of ``package`` (from site ``site_code``, trusted with its
    public ``key``) into a new centre file in the folder it is given."""
    def run(into: Path) -> None:
        c = open_session(into / "centre.db", user="coordinator")
        try:
            SettingsService(c.tracker).set("site_code", "CENTRE")
            trust_site(c, site_code, key)
            import_package(c, package)
        finally:
            c.close()
    return run


def report(name: str, ours: Timing, base: Timing, note: str = "") -> None:
    ratio = ours.wall / base.wall if base.wall else float("inf")
    cpu_ratio = ours.cpu / base.cpu if base.cpu else float("inf")
    verdict = "ok" if ratio <= 3 and ours.wall <= 30 else "MISSED"
    print(f"{name:<34} {ours.wall:7.2f} s   baseline {base.wall:7.2f} s   {ratio:4.1f}×   "
          f"{verdict}   (CPU {ours.cpu:.2f} s / {base.cpu:.2f} s, {cpu_ratio:.1f}×)"
          f"{'   ' + note if note else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--only", nargs="*", choices=["csv", "odm", "package", "centre"],
                        help="time only these (default: all)")
    parser.add_argument("--server", help="also import the package into a new database on "
                        "this PostgreSQL server (a URL whose account may create databases)")
    args = parser.parse_args()
    wanted = set(args.only or ["csv", "odm", "package", "centre"])
    db = site(args.patients, args.rebuild)
    conn = sqlite3.connect(db)
    rows = sum(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables(db))
    audit = conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]
    conn.close()
    print(f"site: {args.patients} patients, {rows} records, {audit} audit rows, "
          f"{db.stat().st_size / 1e6:.0f} MB")

    def session() -> Session:
        return open_session(db, user="bench", clock=lambda: MADE)

    def csv_ours(work: Path) -> None:
        s = session()
        try:
            export_csv(s, work / "csv")
        finally:
            s.close()

    def odm_ours(validate: bool) -> Callable[[Path], object]:
        def run(work: Path) -> None:
            s = session()
            try:
                export_odm(s, work / "s.xml", validate=validate)
            finally:
                s.close()
        return run

    def package_ours(work: Path) -> None:
        s = session()
        try:
            make_package(s, work / "p.zip", full=True)
        finally:
            s.close()

    if "csv" in wanted:
        with tempfile.TemporaryDirectory(dir=CACHE) as work_dir:
            csv_ours(Path(work_dir))
            rows = csv_baseline(Path(work_dir) / "csv")
            ours = best(csv_ours)
            report("CSV export (vs the same rows)", ours, best(rows))
            report("CSV export (vs SELECT * per table)", ours, best(csv_select_baseline(db)))
    if "odm" in wanted:
        xml = best(xml_baseline(db))
        report("ODM snapshot export (validated)", best(odm_ours(True)), xml)
        report("ODM snapshot export (no validation)", best(odm_ours(False)), xml)
    if "package" in wanted:
        report("package export (full, signed)", best(package_ours), best(copy_baseline(db)))
    if "centre" not in wanted:
        return

    busy = busy_site(max(args.patients // 10, 100))
    with tempfile.TemporaryDirectory(dir=CACHE) as work_dir:
        work = Path(work_dir)
        s = open_session(busy, user="bench", clock=lambda: MADE)
        try:
            busy_package = make_package(s, work / "busy.zip", full=True).path
        finally:
            s.close()
        with zipfile.ZipFile(busy_package) as archive:
            archive.extract("payload.sqlite", work)
        busy_key = public_key_path(busy, "BUSY").read_text()
        conn = sqlite3.connect(busy)
        txns, entries = (conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                         for t in ("audit_txn", "audit_entry"))
        conn.close()

        report("centre import (busy trail)", best(centre_import("BUSY", busy_key, busy_package)),
               best(centre_baseline(busy, work / "payload.sqlite")),
               f"{txns} transactions, {entries} entries")

    with tempfile.TemporaryDirectory(dir=CACHE) as work_dir:
        work = Path(work_dir)
        s = session()
        try:
            package = make_package(s, work / "full.zip", full=True).path
        finally:
            s.close()
        with zipfile.ZipFile(package) as archive:
            archive.extract("payload.sqlite", work)
        key = public_key_path(db, "BENCH").read_text()

        ours = best(centre_import("BENCH", key, package))
        base = best(centre_baseline(db, work / "payload.sqlite"))
        report("centre import (full package)", ours, base,
               f"package {package.stat().st_size / 1e6:.0f} MB")
        if args.server:
            on_server = best(centre_on_server(args.server, package, key), runs=1)
            print(f"{'centre import into PostgreSQL':<34} {on_server.wall:7.2f} s   "
                  f"(CPU of this process {on_server.cpu:.2f} s; the server's own CPU not "
                  f"counted)   {on_server.wall / ours.wall:.1f}× the SQLite import, "
                  f"{on_server.wall / base.wall:.1f}× the SQLite raw copy")


def centre_on_server(url: str, package: Path, key: str) -> Callable[[Path], object]:
    """The centre import into a new, migrated database on the server ``url``."""
    import psycopg

    from gisttracker.store.urls import ServerLocation

    def run(_work: Path) -> None:
        name = f"bench_centre_{os.getpid()}"
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name}")  # type: ignore[arg-type]
            admin.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
        try:
            target = ServerLocation(url.rsplit("/", 1)[0] + "/" + name)
            c = open_session(target, user="coordinator")
            try:
                SettingsService(c.tracker).set("site_code", "CENTRE")
                trust_site(c, "BENCH", key)
                import_package(c, package)
            finally:
                c.close()
        finally:
            with psycopg.connect(url, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]
    return run


if __name__ == "__main__":
    main()
