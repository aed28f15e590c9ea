"""Benchmark: command-line calls as whole processes, next to bare Python doing the same query.

    .venv/bin/python tests/benchmarks/bench_cli.py [--runs N] [--sizes 1000,10000]

At sites of 1,000, 10,000 and 100,000 patients, alternately with its baseline:

* ``gisttracker studies`` next to ``python -c "import sqlite3"`` opening the same file and
  reading its schema version (aim: under 2×), and next to the same plus parsing the five
  protocol files with ``tomllib`` (what listing the studies needs at the least);
* ``gisttracker patients --json`` next to one ``sqlite3`` query of the same columns in the
  same order, dumped as JSON — linear in rows if the ratio stays flat across sizes;
* ``gisttracker worklist --json`` for March 2026 next to the worklist's own SQL statements
  run bare and dumped as JSON.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from gisttracker.services.visits import REASONS, VisitService
from gisttracker.session import open_session
from tests.benchmarks.wholeproc import (
    CACHE,
    GISTTRACKER,
    HEADER,
    PYTHON,
    ROOT,
    SIZES,
    TODAY,
    compare,
    row,
    site,
)

START, END = "2026-03-01", "2026-03-31"

STUDIES_BARE = """
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
con.execute("PRAGMA application_id").fetchone()
print(con.execute("PRAGMA user_version").fetchone()[0])
"""

STUDIES_TOML = STUDIES_BARE + """
import glob, tomllib
for name in sorted(glob.glob(sys.argv[2] + "/*.toml")):
    with open(name, "rb") as f:
        print(tomllib.load(f)["key"])
"""

PATIENTS_BARE = """
import json, sqlite3, sys
con = sqlite3.connect(sys.argv[1])
rows = con.execute("SELECT study_id, study_key, arm_code, status, enrolled_on, "
                   "randomization_number FROM patient ORDER BY study_id")
sys.stdout.write(json.dumps([{"patient": r[0], "study": r[1], "arm": r[2], "status": r[3],
                              "enrolled_on": r[4], "randomization_number": r[5]}
                             for r in rows], ensure_ascii=False, indent=2))
"""

WORKLIST_BARE = """
import json, sqlite3, sys
con = sqlite3.connect(sys.argv[1])
out = []
for sql, params in json.load(open(sys.argv[2])):
    out += [list(r) for r in con.execute(sql, params)]
sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=2))
"""


def script(name: str, text: str) -> Path:
    path = CACHE / "cli" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def main() -> int:
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    args = parser.parse_args()
    studies_bare = script("studies_bare.py", STUDIES_BARE)
    studies_toml = script("studies_toml.py", STUDIES_TOML)
    patients_bare = script("patients_bare.py", PATIENTS_BARE)
    worklist_bare = script("worklist_bare.py", WORKLIST_BARE)
    print(HEADER)
    for size in (int(s) for s in args.sizes.split(",")):
        path = site(size)
        session = open_session(path, user="bench")
        query = VisitService(session).worklist_query(
            date.fromisoformat(START), date.fromisoformat(END), today=date.fromisoformat(TODAY))
        statements = CACHE / "cli" / f"worklist-{size}.json"
        statements.write_text(json.dumps([query.rows(r) for r in REASONS]))
        session.close()
        db = str(path)
        studies = [*GISTTRACKER, "--db", db, "studies"]
        print(row(f"{size:>7,} studies vs bare sqlite3", compare(
            studies, [PYTHON, str(studies_bare), db], runs=args.runs), aim=2.0))
        print(row(f"{size:>7,} studies vs bare sqlite3 + tomllib", compare(
            studies, [PYTHON, str(studies_toml), db, str(ROOT / "seeds")], runs=args.runs)))
        print(row(f"{size:>7,} patients --json vs one query", compare(
            [*GISTTRACKER, "--db", db, "patients", "--json"],
            [PYTHON, str(patients_bare), db], runs=args.runs)))
        print(row(f"{size:>7,} worklist --json (March) vs its SQL", compare(
            [*GISTTRACKER, "--db", db, "worklist", "--from", START, "--to", END, "--today",
             TODAY, "--json"], [PYTHON, str(worklist_bare), db, str(statements)],
            runs=args.runs)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
