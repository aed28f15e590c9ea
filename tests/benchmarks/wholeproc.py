"""Helpers shared by the hand-run benchmarks: the cached demo sites, and whole-process
timings next to a baseline.

Sites: :func:`site` gives a demo site of 1,000, 10,000 or 100,000 patients (seed 1, data up
to 2026-03-14), built once by ``gisttracker demo`` — the service layer's bulk path, so the
site is what a user would have, audit trail included — then migrated and analysed; cached
under ``$GISTTRACKER_BENCH_CACHE`` (default ``/tmp/gisttracker-bench``). The 100,000-patient
site takes about 17 minutes and 6 GB the first time.

Timings: :func:`compare` runs two commands as whole processes, alternately (A B A B …,
after one warm-up run of each, so a machine that speeds up or slows down during the run
affects both alike), and reports medians: wall time, CPU time (user + system, from the
operating system's accounting of the finished child), and the ratio A/B run pair by run
pair. If a command prints a number on its last line (``--startup-check`` does), its median
is reported too.
"""

from __future__ import annotations

import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("GISTTRACKER_BENCH_CACHE", "/tmp/gisttracker-bench"))
TODAY = "2026-03-14"
SIZES = (1_000, 10_000, 100_000)
PYTHON = sys.executable
GISTTRACKER = [PYTHON, "-m", "gisttracker"]


def site(patients: int) -> Path:
    """The cached demo site of ``patients`` patients, built on first use."""
    path = CACHE / f"site-{patients}.db"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        print(f"building {path} (once) …", flush=True)
        started = time.perf_counter()
        subprocess.run([*GISTTRACKER, "--db", str(path), "demo", "--patients", str(patients),
                        "--seed", "1", "--today", TODAY], check=True, cwd=ROOT)
        print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)
    # Bring a cache built by an earlier schema up to date (opening migrates), and give the
    # planner its statistics, as a site that has been in use would have them.
    subprocess.run([*GISTTRACKER, "--db", str(path), "studies"], check=True, cwd=ROOT,
                   capture_output=True)
    import sqlite3

    con = sqlite3.connect(path)
    analysed = con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"
                           ).fetchone()[0]
    if not analysed:
        con.execute("ANALYZE")
    con.close()
    return path


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float
    printed: float | None


@dataclass(frozen=True)
class Figures:
    """Medians of one command's runs (seconds)."""

    wall: float
    cpu: float
    printed: float | None
    runs: int


@dataclass(frozen=True)
class Pair:
    a: Figures
    b: Figures
    wall_ratio: float  # median of the run-by-run ratios A/B
    cpu_ratio: float
    printed_ratio: float | None


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(command: list[str], *, env: dict[str, str] | None = None,
             stdin: Path | None = None) -> Run:
    """One whole-process run: wall and CPU seconds, and the number it printed last (output
    is read only when it is short; a listing goes to /dev/null, as to a pipe that keeps
    up). ``stdin``: a file the command reads (a password for ``--password-fd 0``)."""
    cpu0 = _children_cpu()
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, open(stdin or os.devnull) as given:
        result = subprocess.run(command, cwd=ROOT, env=env, stdout=out, stdin=given,
                                stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - started
        cpu = _children_cpu() - cpu0
        size = out.tell()
        out.seek(max(0, size - 200))
        tail = out.read()
    if result.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed ({result.returncode}):\n"
                           f"{result.stderr[-2000:]}")
    printed = None
    lines = tail.strip().splitlines()
    if lines:
        try:
            printed = float(lines[-1])
        except ValueError:
            printed = None
    return Run(wall, cpu, printed)


def _median(runs: list[Run]) -> Figures:
    shown = [r.printed for r in runs if r.printed is not None]
    return Figures(statistics.median(r.wall for r in runs), statistics.median(r.cpu for r in runs),
                   statistics.median(shown) if len(shown) == len(runs) else None, len(runs))


def compare(a: list[str], b: list[str], *, runs: int = 9, env: dict[str, str] | None = None,
            a_stdin: Path | None = None) -> Pair:
    """``a`` and ``b`` as whole processes, alternately, after a warm-up run of each."""
    run_once(a, env=env, stdin=a_stdin)
    run_once(b, env=env)
    ra, rb = [], []
    for _i in range(runs):
        ra.append(run_once(a, env=env, stdin=a_stdin))
        rb.append(run_once(b, env=env))
    printed_ratio = None
    if all(x.printed for x in ra) and all(y.printed for y in rb):
        printed_ratio = statistics.median(
            x.printed / y.printed for x, y in zip(ra, rb, strict=True)  # type: ignore[operator]
        )
    return Pair(_median(ra), _median(rb),
                statistics.median(x.wall / y.wall for x, y in zip(ra, rb, strict=True)),
                statistics.median(x.cpu / y.cpu for x, y in zip(ra, rb, strict=True)),
                printed_ratio)


def row(label: str, pair: Pair, *, aim: float | None = None, printed: bool = False) -> str:
    """One line of a benchmark's table: ours, the baseline, the ratio, and the verdict."""
    if printed and pair.a.printed is not None and pair.b.printed is not None:
        ours, base, ratio = pair.a.printed, pair.b.printed, pair.printed_ratio or 0.0
    else:
        ours, base, ratio = pair.a.wall, pair.b.wall, pair.wall_ratio
    verdict = "" if aim is None else ("  met" if ratio <= aim else f"  MISSED (aim {aim}×)")
    return (f"{label:<44} {ours:8.3f} s  {base:8.3f} s  {ratio:5.2f}×"
            f"   cpu {pair.a.cpu:7.3f} / {pair.b.cpu:7.3f} s = {pair.cpu_ratio:4.2f}×{verdict}")


HEADER = (f"{'':<44} {'ours':>10}  {'baseline':>10}  {'ratio':>6}   (medians of alternating "
          "runs)")
