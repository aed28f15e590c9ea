"""Benchmark: the Linux bundle's size and start times, next to their baselines.

Run by hand: ``.venv/bin/python tests/benchmarks/bench_bundle.py [--bundle DIR] [--runs N]``.

Without ``--bundle`` it builds one with ``packaging/build.py bundle`` into a temporary folder
(and prints the build time). Then it prints:

- the unpacked size, against the aim (150 MB) and against the two things no trimming can
  remove: the ICU data Qt links and the CJK report font;
- the wall time of ``gisttracker --version`` and of ``gisttracker --startup-check``
  (median of N runs, warm disk cache, offscreen), each next to its baselines: the same
  command from the development virtual environment, and the bare minimum (``python -c
  pass``; a bare QApplication showing an empty QMainWindow and quitting).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
AIM_MB = 150.0

BARE_QT = ("import sys; from PySide6.QtCore import QTimer; "
           "from PySide6.QtWidgets import QApplication, QMainWindow; "
           "app = QApplication(sys.argv[:1]); w = QMainWindow(); w.show(); "
           "QTimer.singleShot(0, app.quit); app.exec()")


def megabytes(folder: Path, pattern: str = "*") -> float:
    return sum(p.lstat().st_size for p in folder.rglob(pattern)
               if p.is_file() or p.is_symlink()) / 1e6


def wall(command: list[str], runs: int, cwd: Path, env: dict[str, str]) -> float:
    """Median wall time of ``command`` over ``runs`` runs, after one warm-up run."""
    times = []
    for i in range(runs + 1):
        started = time.perf_counter()
        subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
        if i:  # the first run only warms the disk cache
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, help="a built bundle folder (default: build one)")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gisttracker-bench-bundle-") as tmp_name:
        tmp = Path(tmp_name)
        bundle = args.bundle
        if bundle is None:
            started = time.perf_counter()
            subprocess.run([sys.executable, str(ROOT / "packaging" / "build.py"), "bundle",
                            "--distpath", str(tmp / "dist"), "--workpath", str(tmp / "work")],
                           check=True, capture_output=True)
            print(f"build (PyInstaller, bundle only): {time.perf_counter() - started:.0f} s")
            bundle = tmp / "dist" / "gisttracker"
        internal = bundle / "_internal"
        size = megabytes(bundle)
        icu = megabytes(internal / "PySide6" / "Qt" / "lib", "libicu*")
        cjk = megabytes(internal / "gisttracker" / "_data" / "resources" / "fonts", "*.ttc")
        print(f"unpacked size: {size:.1f} MB   aim {AIM_MB:.0f} MB "
              f"({'met' if size < AIM_MB else f'missed by {size - AIM_MB:.1f} MB'}); "
              f"of which ICU data {icu:.1f} MB, WenQuanYi Zen Hei {cjk:.1f} MB")

        work = tmp / "work-dir"
        work.mkdir()
        env = {k: v for k, v in os.environ.items()
               if k not in {"DISPLAY", "WAYLAND_DISPLAY", "GISTTRACKER_DB"}}
        env["QT_QPA_PLATFORM"] = "offscreen"
        env["HOME"] = str(tmp / "home")
        db = str(work / "site.db")
        subprocess.run([str(bundle / "gisttracker"), "--db", db, "studies"], cwd=work, env=env,
                       check=True, capture_output=True)  # create and migrate it once
        python = str(VENV_BIN / "python")
        rows = [
            ("--version", [str(bundle / "gisttracker"), "--version"],
             [str(VENV_BIN / "gisttracker"), "--version"], [python, "-c", "pass"],
             "python -c pass"),
            ("--startup-check", [str(bundle / "gisttracker"), "--db", db, "--startup-check"],
             [str(VENV_BIN / "gisttracker"), "--db", db, "--startup-check"],
             [python, "-c", BARE_QT], "bare QApplication + QMainWindow"),
        ]
        for name, in_bundle, in_venv, bare, bare_name in rows:
            b = wall(in_bundle, args.runs, work, env)
            v = wall(in_venv, args.runs, work, env)
            z = wall(bare, args.runs, work, env)
            print(f"{name:16} bundle {b:.2f} s   venv {v:.2f} s   baseline ({bare_name}) "
                  f"{z:.2f} s   (median of {args.runs})")


if __name__ == "__main__":
    main()
