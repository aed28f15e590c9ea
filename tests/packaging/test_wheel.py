"""The wheel, installed as a user installs it: built from a source distribution, installed
into a fresh virtual environment, and run from a folder outside the source tree."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pypdf import PdfReader

from gisttracker import __version__
from tests.packaging.helpers import ROOT, STUDY_KEYS, run, user_environment

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Installed:
    wheel: Path
    bin: Path
    python: Path
    work: Path
    env: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run(self.bin / "gisttracker", args, self.work, self.env)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    # sdist first, then the wheel from the unpacked sdist: what a release upload holds.
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)],
                   check=True, capture_output=True, text=True)
    wheel = next(dist.glob("gisttracker-*.whl"))
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                    "--disable-pip-version-check", str(wheel)], check=True)
    work = base / "work"
    work.mkdir()
    yield Installed(wheel=wheel, bin=venv / "bin", python=venv / "bin" / "python", work=work,
                    env=user_environment(base / "home"))


def test_the_wheel_carries_protocols_icon_and_font_licences(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    assert {f"gisttracker/_data/seeds/{p.name}" for p in (ROOT / "seeds").glob("*.toml")} <= names
    assert "gisttracker/_data/resources/icons/gisttracker.svg" in names
    assert "gisttracker/_data/resources/fonts/WenQuanYi-Zen-Hei-LICENSE.txt" in names
    assert not any(name.startswith(("tests/", "seeds/", "resources/")) for name in names)


def test_the_installed_program_reads_its_own_copy_not_the_checkout(installed: Installed) -> None:
    result = run(installed.python, ["-c", "from gisttracker import resources as r; "
                                          "print(r.seeds_dir())"], installed.work, installed.env)
    seeds = Path(result.stdout.strip())
    assert seeds.is_relative_to(installed.python.parent.parent), seeds
    assert not seeds.is_relative_to(ROOT)


def test_version(installed: Installed) -> None:
    result = installed.run("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"gisttracker {__version__}"


def test_studies_lists_the_five_studies(installed: Installed) -> None:
    result = installed.run("--db", str(installed.work / "studies.db"), "studies", "--json")
    assert result.returncode == 0, result.stderr
    assert {s["key"] for s in json.loads(result.stdout)} == STUDY_KEYS


def test_demo_then_a_report(installed: Installed) -> None:
    db = installed.work / "demo" / "site.db"
    result = installed.run("--db", str(db), "demo", "--patients", "40", "--seed", "2",
                           "--today", "2026-03-01")
    assert result.returncode == 0, result.stderr
    assert "40 patients added" in result.stdout
    pdf = installed.work / "screening.pdf"
    result = installed.run("--db", str(db), "report", "screening", "--study", "NCT03862768",
                           "-o", str(pdf))
    assert result.returncode == 0, result.stderr
    text = "".join(page.extract_text() for page in PdfReader(pdf).pages)
    assert "NCT03862768" in text
    assert "SITE-" in text  # patients by study identifier


def test_startup_check_opens_the_window_offscreen(installed: Installed) -> None:
    result = installed.run("--db", str(installed.work / "window.db"), "--startup-check")
    assert result.returncode == 0, result.stderr
    assert 0 < float(result.stdout.strip()) < 60


def test_the_window_has_a_gui_entry_point(installed: Installed) -> None:
    # On Windows pip makes gui-scripts into programs that open no console.
    result = run(installed.python, ["-c", "from importlib.metadata import entry_points; "
                                          "print([e.value for e in entry_points("
                                          "group='gui_scripts', name='gisttracker-window')])"],
                 installed.work, installed.env)
    assert result.stdout.strip() == "['ui.launcher:main']"
    result = run(installed.bin / "gisttracker-window",
                 ["--db", str(installed.work / "gui.db"), "--startup-check"],
                 installed.work, installed.env)
    assert result.returncode == 0, result.stderr


def test_an_installation_without_its_protocols_refuses_loudly(installed: Installed) -> None:
    result = run(installed.python, ["-c", "from gisttracker import resources as r; "
                                          "print(r.seeds_dir())"], installed.work, installed.env)
    seeds = Path(result.stdout.strip())
    hidden = seeds.with_name("seeds-hidden")
    seeds.rename(hidden)
    try:
        db = installed.work / "broken" / "site.db"
        for args in (["studies"], ["--startup-check"]):
            result = installed.run("--db", str(db), *args)
            assert result.returncode == 1, (args, result.stdout)
            assert "no study protocol could be loaded" in result.stderr
        assert not db.exists()
    finally:
        hidden.rename(seeds)
