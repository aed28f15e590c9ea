"""Build step that puts the repository's ``seeds/`` and ``resources/`` inside the package.

Everything else about the build is declared in ``pyproject.toml``; this file only adds the
one thing setuptools cannot declare there: two top-level data folders copied into the
wheel as ``gisttracker/_data/seeds`` and ``gisttracker/_data/resources``, where
``gisttracker.resources`` finds them with ``importlib.resources``. An editable install skips
the copy: a checkout reads its own folders, so an edited protocol needs no reinstall.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
DATA_FOLDERS = ("seeds", "resources")
# Caches and editor droppings are not data.
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".*", "*~")


class BuildPyWithData(build_py):
    """``build_py`` that also copies the data folders into ``gisttracker/_data``."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / "gisttracker" / "_data"
        for name in DATA_FOLDERS:
            source = ROOT / name
            if not source.is_dir():
                raise SystemExit(f"setup.py: {source} is missing; the wheel would know no study")
            destination = target / name
            if destination.exists():
                shutil.rmtree(destination)  # a stale copy from an earlier build
            shutil.copytree(source, destination, ignore=IGNORE)


setup(cmdclass={"build_py": BuildPyWithData})
