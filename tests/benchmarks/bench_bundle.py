"""Benchmark: the Linux bundle's size and start times, next to their baselines.

Run by hand: ``.venv/bin/python tests/benchmarks/bench_bundle.py [--bundle DIR] [--runs N]``.

Without ``--bundle`` it builds one with ``packaging/build.py bundle`` into a temporary folder
(and prints the build time). ``--table`` prints what the bundle is made of and stops: the
size of each top-level entry of ``_internal``, the 30 largest files, and the bundle in groups
(the statistics stack the team chose, Qt, Python, the program, everything else), with the
program archive (PYZ: every pure-Python module, compressed) shared out by package.
Otherwise it prints:

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


# Groups of the size table, by top-level name in ``_internal`` or in the program archive.
# The statistics stack is scipy and statsmodels (the team's fixed choice) and what they
# import: numpy, pandas and pandas' and statsmodels' own requirements (python-dateutil, six
# and packaging are not counted: the program needs them itself).
STATISTICS = {"scipy", "scipy.libs", "numpy", "numpy.libs", "pandas", "statsmodels", "patsy",
              "formulaic", "narwhals", "interface_meta", "wrapt", "pytz", "tzdata"}
QT = {"PySide6", "shiboken6"}
PROGRAM = {"gisttracker", "ui", "entry"}


def _group(name: str) -> str:
    top = name.split("/")[0].split(".dist-info")[0]
    base = top.split("-")[0].replace("python_", "").lower()
    if top in STATISTICS or base in {n.lower() for n in STATISTICS}:
        return "statistics (scipy, statsmodels, numpy, pandas and their requirements)"
    if top in QT or base in {"pyside6", "pyside6_essentials", "shiboken6"} \
            or top.startswith("libpyside6"):
        return "Qt and PySide6"
    if top in PROGRAM:
        return "the program (code, protocols, catalogues, report fonts)"
    if top.startswith(("libpython", "python3", "base_library", "struct", "pyimod", "pyi_rth",
                       "pyiboot")) or top.split(".")[0] in sys.stdlib_module_names:
        return "Python (interpreter, standard library)"
    if top.startswith("lib") and ".so" in top:
        return "system libraries (X11/xcb, fonts, D-Bus, glib, sqlite, C++ runtime…)"
    return "other libraries (cryptography, psycopg, lxml, reportlab, Pillow, …)"


def size_table(bundle: Path) -> None:
    """Print the bundle's size by top-level entry, its largest files, and by group."""
    from PyInstaller.archive.readers import CArchiveReader

    internal = bundle / "_internal"
    entries = sorted(((megabytes(p) if p.is_dir() else p.lstat().st_size / 1e6, p.name)
                      for p in internal.iterdir()), reverse=True)
    total = megabytes(bundle)
    print(f"bundle {bundle}: {total:.1f} MB unpacked\n\n_internal, by top-level entry (MB):")
    for size, name in entries:
        if size >= 0.1:
            print(f"  {size:7.2f}  {name}")
    small = [size for size, _name in entries if size < 0.1]
    print(f"  {sum(small):7.2f}  ({len(small)} entries under 0.1 MB each)")
    files = sorted(((p.lstat().st_size / 1e6, p.relative_to(bundle).as_posix())
                    for p in bundle.rglob("*") if p.is_file() and not p.is_symlink()),
                   reverse=True)
    print("\nthe 30 largest files (MB):")
    for size, name in files[:30]:
        print(f"  {size:7.2f}  {name}")

    groups: dict[str, float] = {}
    executable = bundle / "gisttracker"
    archive = CArchiveReader(str(executable))
    pyz = archive.open_embedded_archive("PYZ.pyz")
    pyz_total = 0.0
    for name, (_kind, _offset, length) in pyz.toc.items():
        group = _group(name.split(".")[0])
        groups[group] = groups.get(group, 0) + length / 1e6
        pyz_total += length / 1e6
    # The executable's own bytes that are not the archive: PyInstaller's boot loader.
    groups[_group("python3")] = groups.get(_group("python3"), 0) \
        + executable.stat().st_size / 1e6 - pyz_total
    for path in internal.rglob("*"):
        if path.is_file() or path.is_symlink():
            group = _group(path.relative_to(internal).as_posix())
            groups[group] = groups.get(group, 0) + path.lstat().st_size / 1e6
    fonts = megabytes(internal / "gisttracker" / "_data" / "resources" / "fonts")
    print(f"\nby group (MB; the program archive's {pyz_total:.1f} MB shared out by package):")
    for group, size in sorted(groups.items(), key=lambda item: -item[1]):
        print(f"  {size:7.1f}  {group}")
    print(f"  (the program's group holds the report fonts: {fonts:.1f} MB)")
    print(f"  {sum(groups.values()):7.1f}  total (the desktop entry, icon and install script "
          "make up the rest)")


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
    parser.add_argument("--table", action="store_true",
                        help="print what the bundle is made of (sizes) and stop")
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
        if args.table:
            size_table(bundle)
            return
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
