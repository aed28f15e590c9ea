"""Benchmark: start-up to the first screen with its data, next to a bare PySide6 window.

    .venv/bin/python tests/benchmarks/bench_startup.py [--runs N] [--sizes 1000,10000]

For sites of 1,000, 10,000 and 100,000 patients, alternately: ``gisttracker --db SITE
--startup-check`` (the real program: it prints the seconds from the start of its process
until the patient list has painted its first rows) and ``startup_baseline.py SITE`` (a bare
PySide6 window with a QTableView over the first 200 patients of the same file, printing the
same figure). Shows the medians of that printed figure — what a user waits for — and of
the whole processes (wall and CPU), with their ratios. Aim: within 1.5× of the baseline.
Runs offscreen unless a display is set.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.wholeproc import (
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
    args = parser.parse_args()
    env = dict(os.environ)
    if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        env["QT_QPA_PLATFORM"] = "offscreen"
    # Preferences of a first start (geometry, last area): the patient list comes first.
    env["XDG_CONFIG_HOME"] = str(Path("/tmp/gisttracker-bench-config"))
    print(HEADER)
    for size in (int(s) for s in args.sizes.split(",")):
        path = site(size)
        pair = compare([*GISTTRACKER, "--db", str(path), "--startup-check"],
                       [PYTHON, str(BASELINE), str(path)], runs=args.runs, env=env)
        print(row(f"{size:>7,} patients: to first rows painted", pair, aim=1.5, printed=True))
        print(row(f"{size:>7,} patients: whole process", pair), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
