"""Benchmark: start-up to the first screen with its data, next to a bare PySide6 window.

    .venv/bin/python tests/benchmarks/bench_startup.py [--runs N] [--sizes 1000,10000]

For sites of 1,000, 10,000 and 100,000 patients, alternately: ``gisttracker --db SITE
--startup-check`` (the real program: it prints the seconds from the start of its process
until the patient list has painted its first rows) and ``startup_baseline.py SITE`` (a bare
PySide6 window with a QTableView over the first 200 patients of the same file, printing the
same figure). Shows the medians of that printed figure — what a user waits for — and of
the whole processes (wall and CPU), with their ratios. Aim: within 1.5× of the baseline.
Runs offscreen unless a display is set.

The figure is the path of a site without accounts (the program acts as its bootstrap
administrator, as the command line does). ``--signed-in`` adds the path of a site with an
account: a copy of the 1,000-patient site with one administrator, signed in with
``--user`` and ``--password-fd`` (the password check — argon2, deliberately slow — is part of
what a person waits for there).

Then ``gisttracker studies`` as a whole process next to ``python -c "import sqlite3"`` reading
the same file's schema version (aim: under 2×), and next to that plus parsing the five
protocol files with ``tomllib``. Every start but the first after an installation or an
upgrade (or an edit of a protocol file) reads the protocols from the cache of validated
files (:mod:`gisttracker.protocols.cache`; the benchmark's own, under its cache folder,
filled by the warm-up run); the first start checks them: the line "cold" (cache off).

Last, the parser the protocol loader uses (tomli's compiled build) next to the standard
library's ``tomllib`` on the five shipped protocol files, in this process (CPU time,
median of alternating runs).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.bench_cli import STUDIES_BARE, STUDIES_TOML, script
from tests.benchmarks.wholeproc import (
    CACHE,
    GISTTRACKER,
    HEADER,
    PYTHON,
    ROOT,
    SIZES,
    compare,
    row,
    site,
)

BASELINE = ROOT / "tests" / "benchmarks" / "startup_baseline.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--signed-in", action="store_true",
                        help="also the start of a site with an account, signed in")
    args = parser.parse_args()
    env = dict(os.environ)
    if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        env["QT_QPA_PLATFORM"] = "offscreen"
    # Preferences of a first start (geometry, last area): the patient list comes first.
    env["XDG_CONFIG_HOME"] = str(Path("/tmp/gisttracker-bench-config"))
    # The cache of validated protocol files: the benchmark's own, not the user's.
    env["GISTTRACKER_CACHE_DIR"] = str(CACHE / "protocol-cache")
    print(HEADER)
    for size in (int(s) for s in args.sizes.split(",")):
        path = site(size)
        pair = compare([*GISTTRACKER, "--db", str(path), "--startup-check"],
                       [PYTHON, str(BASELINE), str(path)], runs=args.runs, env=env)
        print(row(f"{size:>7,} patients: to first rows painted", pair, aim=1.5, printed=True))
        print(row(f"{size:>7,} patients: whole process", pair), flush=True)
    if args.signed_in:
        path, password = signed_in_site(site(1_000))
        command = [*GISTTRACKER, "--db", str(path), "--user", "admin", "--password-fd", "0",
                   "--startup-check"]
        pair = compare(command, [PYTHON, str(BASELINE), str(path)], runs=args.runs, env=env,
                       a_stdin=password)
        print(row("  1,000 patients, signed in: to first rows", pair, aim=1.5, printed=True))
        print(row("  1,000 patients, signed in: whole process", pair), flush=True)
    bare = script("studies_bare.py", STUDIES_BARE)
    toml = script("studies_toml.py", STUDIES_TOML)
    for size in (int(s) for s in args.sizes.split(",")):
        db = str(site(size))
        studies = [*GISTTRACKER, "--db", db, "studies"]
        print(row(f"{size:>7,} patients: studies vs bare sqlite3", compare(
            studies, [PYTHON, str(bare), db], runs=args.runs, env=env), aim=2.0))
        print(row(f"{size:>7,} patients: studies vs sqlite3 + tomllib", compare(
            studies, [PYTHON, str(toml), db, str(ROOT / "seeds")], runs=args.runs, env=env)),
            flush=True)
        print(row(f"{size:>7,} patients: studies, cold vs bare sqlite3", compare(
            studies, [PYTHON, str(bare), db], runs=args.runs,
            env={**env, "GISTTRACKER_CACHE_DIR": ""})), flush=True)
    print(parsers(), flush=True)
    return 0


def parsers(runs: int = 21) -> str:
    """The five shipped protocol files parsed by the loader's TOML reader and by tomllib,
    alternately: medians of the CPU time per pass over all five."""
    import statistics
    import time
    import tomllib

    from gisttracker.protocols import loader

    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "seeds").glob("*.toml"))]
    ours, base = [], []
    for _i in range(runs):
        for parse, out in ((loader.tomllib.loads, ours), (tomllib.loads, base)):
            started = time.process_time()
            for text in texts:
                parse(text)
            out.append(time.process_time() - started)
    a, b = statistics.median(ours), statistics.median(base)
    return (f"{'five protocol files: ' + loader.tomllib.__name__ + ' vs tomllib':<44} "
            f"{a * 1000:8.2f} ms {b * 1000:8.2f} ms  {a / b:5.2f}×   (cpu, in process)")


def signed_in_site(source: Path) -> tuple[Path, Path]:
    """A copy of ``source`` with one administrator account (built once), and a file holding
    its password."""
    import shutil

    path = CACHE / "site-1000-accounts.db"
    password = CACHE / "admin-password.txt"
    if not path.exists():
        shutil.copy(source, path)
        password.write_text("correct horse battery staple\n")
        with open(password) as answer:
            subprocess.run([*GISTTRACKER, "--db", str(path), "--password-fd", "0", "users",
                            "init", "--name", "admin", "--full-name", "Site Administrator"],
                           stdin=answer, check=True, cwd=ROOT)
    return path, password


if __name__ == "__main__":
    sys.exit(main())
