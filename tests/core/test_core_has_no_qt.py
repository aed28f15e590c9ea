"""The core must import, every module of it, without loading Qt or the front end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import importlib, pkgutil, sys
import gisttracker
names = [m.name for m in pkgutil.walk_packages(gisttracker.__path__, 'gisttracker.')
         if not m.name.endswith('__main__')]
for name in names:
    importlib.import_module(name)
loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'ui'))
print(len(names))
print(','.join(loaded))
"""


def test_every_core_module_imports_without_pyside6() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    count, loaded = result.stdout.strip().split("\n") + [""] * (2 - len(
        result.stdout.strip().split("\n")))
    assert int(count) >= 10  # the walk really found the package's modules
    assert loaded == ""
