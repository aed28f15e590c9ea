"""Benchmark: the audit trail at 10,000 demo patients — file size and demo time before and
after the compact trail (issue 13), and ``audit verify`` next to reading the same rows.

Run by hand: ``.venv/bin/python tests/benchmarks/bench_audit.py [--patients N]
[--before REV]``.

* **Demo, now**: :func:`gisttracker.demo.generate` into a new file; seconds (wall and CPU)
  and the file's size after a checkpoint, split into the audit tables and everything else
  (SQLite's ``dbstat``).
* **Demo, before** (the baseline): the same demo with the code of ``--before`` (default: the
  commit this branch started from, schema 5: one audit row per field), exported with ``git
  archive`` into a temporary folder and run in a child process with the same Python.
* **audit verify**: :func:`gisttracker.services.audit.verify` on the demo file, next to the
  bare cost of what it must do anyway — SQLite reading every audit entry and every audited
  table row (no hashing, no comparing) — and to that plus SHA-256 over the same entries.

Aims (issue 13): the file at least 4× smaller; verify under 10 s at 10,000 patients.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gisttracker.demo import generate  # noqa: E402
from gisttracker.services.audit import verify  # noqa: E402
from gisttracker.session import open_session  # noqa: E402
from gisttracker.store.introspect import audited_models  # noqa: E402

TODAY = date(2026, 3, 14)
BASE = "a74cc3f"  # main when this branch started: schema 5, per-field audit rows

CHILD = """
import json, os, sys, time, resource
from datetime import date
from pathlib import Path
from gisttracker.session import open_session
from gisttracker.demo import generate
path = Path(sys.argv[1])
s = open_session(path, user="bench")
cpu, wall = time.process_time(), time.perf_counter()
generate(s, patients=int(sys.argv[2]), seed=1, today=date(2026, 3, 14))
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
s.db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
print(json.dumps({"wall": wall, "cpu": cpu}))
"""


def sizes(path: Path) -> tuple[int, int]:
    """(file bytes, bytes of the audit tables and their indexes)."""
    import sqlite3

    con = sqlite3.connect(path)
    try:
        audit = con.execute(
            "SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'audit%' OR name IN "
            "(SELECT name FROM sqlite_master WHERE tbl_name LIKE 'audit%')").fetchone()[0]
    finally:
        con.close()
    return path.stat().st_size, int(audit or 0)


def mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def demo_now(path: Path, patients: int) -> dict[str, float]:
    s = open_session(path, user="bench")
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        generate(s, patients=patients, seed=1, today=TODAY)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        s.db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        s.close()
    return {"wall": wall, "cpu": cpu}


def demo_before(rev: str, path: Path, patients: int, work: Path,
                repo: Path) -> dict[str, float] | None:
    code = work / "before"
    code.mkdir()
    try:
        archive = subprocess.run(["git", "-C", str(repo), "archive", rev], check=True,
                                 capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"  (no baseline: git archive {rev} failed: {exc})")
        return None
    subprocess.run(["tar", "-x", "-C", str(code)], input=archive, check=True)
    env = {**os.environ, "PYTHONPATH": str(code)}
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(patients)], env=env,
                         check=True, capture_output=True, text=True, cwd=code).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def bare_read(path: Path) -> tuple[float, float]:
    """Seconds SQLite takes to read every audit entry and every audited row; and that plus
    SHA-256 over each entry's text (what any verification must at least do)."""
    import sqlite3

    con = sqlite3.connect(path)
    try:
        started = time.perf_counter()
        entries = con.execute("SELECT * FROM audit_entry ORDER BY id").fetchall()
        con.execute("SELECT * FROM audit_record").fetchall()
        for table in audited_models():
            con.execute(f'SELECT * FROM "{table}"').fetchall()
        read = time.perf_counter() - started
        digest = b""
        for row in entries:
            digest = hashlib.sha256(digest + repr(row).encode()).digest()
        return read, time.perf_counter() - started
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--before", default=BASE, help="the baseline's git revision")
    parser.add_argument("--repo", type=Path, default=ROOT,
                        help="the git repository to take the baseline from")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gisttracker-bench-audit-") as tmp:
        work = Path(tmp)
        os.environ.setdefault("GISTTRACKER_STATE_DIR", str(work / "state"))
        now_path = work / "now.db"
        print(f"Demo of {args.patients:,} patients")
        now = demo_now(now_path, args.patients)
        size, audit = sizes(now_path)
        print(f"  now:     {now['wall']:6.1f} s wall, {now['cpu']:6.1f} s CPU; file "
              f"{mb(size)} (audit trail {mb(audit)}, the rest {mb(size - audit)})")
        before_path = work / "before.db"
        before = demo_before(args.before, before_path, args.patients, work, args.repo)
        if before is not None:
            bsize, baudit = sizes(before_path)
            print(f"  before:  {before['wall']:6.1f} s wall, {before['cpu']:6.1f} s CPU; file "
                  f"{mb(bsize)} (audit trail {mb(baudit)}, the rest {mb(bsize - baudit)})"
                  f"  [{args.before}]")
            print(f"  the file is {bsize / size:.2f}x smaller (aim: at least 4x); the audit "
                  f"trail {baudit / audit:.2f}x smaller; demo CPU time "
                  f"{now['cpu'] / before['cpu']:.2f}x the baseline's")
        s = open_session(now_path, user="bench")
        try:
            best = min((verify(s.db) for _run in range(2)), key=lambda r: r.seconds)
        finally:
            s.close()
        read, hashed = bare_read(now_path)
        print(f"audit verify: {best.seconds:.2f} s for {best.entries:,} entries and "
              f"{best.records:,} records in {best.tables} tables (aim: under 10 s); "
              f"{'all match' if best.ok else best.summary()}")
        print(f"  baseline: SQLite reading the same entries and rows {read:.2f} s; with "
              f"SHA-256 over each entry {hashed:.2f} s")


if __name__ == "__main__":
    main()
